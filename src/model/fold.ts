/**
 * Batch-norm folding for inference: every BatchNorm2d that directly follows a Conv2d (the next layer
 * of a Sequential, or `bnX` after `convX` in a block such as the ResNet's) is folded into that
 * convolution's weight and bias (BatchNorm2d.foldInto) and becomes the identity. The outputs are the
 * same up to float rounding, with one op (and one pass over the activations) fewer per pair.
 */
import { BatchNorm2d, Conv2d, type Module, Sequential } from "../engine/index.js";

/**
 * Folds the batch norms of `module` and its children into their convolutions, in place. The module
 * must be in eval mode; it is for inference only afterwards (no training, no saving).
 * @returns how many batch norms were folded
 */
export function foldBatchNorm(module: Module): number {
  let folded = 0;
  const fold = (conv: Module | undefined, bn: Module | undefined): void => {
    if (conv instanceof Conv2d && bn instanceof BatchNorm2d && !bn.folded) {
      bn.foldInto(conv);
      folded++;
    }
  };
  if (module instanceof Sequential) {
    for (let i = 1; i < module.layers.length; i++) fold(module.layers[i - 1], module.layers[i]);
  } else {
    const children = new Map(module.children());
    for (const [name, child] of children) {
      if (name.startsWith("bn")) fold(children.get(`conv${name.slice(2)}`), child);
    }
  }
  for (const [, child] of module.children()) folded += foldBatchNorm(child);
  return folded;
}
