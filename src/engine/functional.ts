import { native } from "./native.js";
import { Tensor } from "./tensor.js";

/** A pair like `[height, width]`; a single number means the same for both. */
export type Pair = number | [number, number];

function pair(value: Pair): [number, number] {
  return typeof value === "number" ? [value, value] : value;
}

export type Reduction = "mean" | "sum" | "none";

/**
 * 2-D convolution. x: [batch, inChannels, H, W]; weight: [outChannels, inChannels/groups, kH, kW];
 * bias: [outChannels] or null. Returns [batch, outChannels, H', W'].
 */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number } = {},
): Tensor {
  return new Tensor(
    native.conv2d(
      x.native,
      weight.native,
      bias?.native ?? null,
      pair(options.stride ?? 1),
      pair(options.padding ?? 0),
      pair(options.dilation ?? 1),
      options.groups ?? 1,
    ),
  );
}

/**
 * Transposed 2-D convolution. x: [batch, inChannels, H, W]; weight: [inChannels, outChannels/groups, kH, kW].
 * Output size = (H − 1)·stride − 2·padding + dilation·(k − 1) + outputPadding + 1.
 */
export function convTranspose2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: { stride?: Pair; padding?: Pair; outputPadding?: Pair; groups?: number; dilation?: Pair } = {},
): Tensor {
  return new Tensor(
    native.convTranspose2d(
      x.native,
      weight.native,
      bias?.native ?? null,
      pair(options.stride ?? 1),
      pair(options.padding ?? 0),
      pair(options.outputPadding ?? 0),
      options.groups ?? 1,
      pair(options.dilation ?? 1),
    ),
  );
}

/**
 * Batch normalisation over [batch, C, H, W] (or [batch, C]). In training mode it normalises with the
 * batch statistics and updates runningMean/runningVar in place (momentum as torch: new = (1−m)·old + m·batch,
 * unbiased variance); in eval mode it uses the running statistics.
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  options: { training: boolean; momentum?: number; eps?: number },
): Tensor {
  return new Tensor(
    native.batchNorm(
      x.native,
      weight?.native ?? null,
      bias?.native ?? null,
      runningMean?.native ?? null,
      runningVar?.native ?? null,
      options.training,
      options.momentum ?? 0.1,
      options.eps ?? 1e-5,
    ),
  );
}

export function relu(x: Tensor): Tensor {
  return x.relu();
}
export function sigmoid(x: Tensor): Tensor {
  return x.sigmoid();
}
export function softmax(x: Tensor, dim: number): Tensor {
  return new Tensor(native.softmax(x.native, dim));
}
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return new Tensor(native.logSoftmax(x.native, dim));
}

/** Max pooling of [batch, C, H, W]; stride defaults to the kernel size, as in PyTorch. */
export function maxPool2d(
  x: Tensor,
  kernel: Pair,
  options: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean } = {},
): Tensor {
  return new Tensor(
    native.maxPool2d(
      x.native,
      pair(kernel),
      pair(options.stride ?? kernel),
      pair(options.padding ?? 0),
      pair(options.dilation ?? 1),
      options.ceilMode ?? false,
    ),
  );
}

export function avgPool2d(
  x: Tensor,
  kernel: Pair,
  options: { stride?: Pair; padding?: Pair; ceilMode?: boolean; countIncludePad?: boolean } = {},
): Tensor {
  return new Tensor(
    native.avgPool2d(
      x.native,
      pair(kernel),
      pair(options.stride ?? kernel),
      pair(options.padding ?? 0),
      options.ceilMode ?? false,
      options.countIncludePad ?? true,
    ),
  );
}

/** Average-pools [batch, C, H, W] to [batch, C, size[0], size[1]]. */
export function adaptiveAvgPool2d(x: Tensor, size: Pair): Tensor {
  return new Tensor(native.adaptiveAvgPool2d(x.native, pair(size)));
}

/** Bilinear resize of [batch, C, H, W] to [batch, C, size[0], size[1]] (half-pixel centres unless alignCorners). */
export function interpolateBilinear(x: Tensor, size: [number, number], alignCorners = false): Tensor {
  return new Tensor(native.upsampleBilinear2d(x.native, size, alignCorners));
}

/** x: [..., inFeatures]; weight: [outFeatures, inFeatures]; bias: [outFeatures]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  return new Tensor(native.linear(x.native, weight.native, bias?.native ?? null));
}

/** Zeroes elements with probability p and scales the rest by 1/(1−p) when training. */
export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  return new Tensor(native.dropout(x.native, p, training));
}

/** Zeroes whole channels of [batch, C, H, W] with probability p (torch.nn.Dropout2d). */
export function dropout2d(x: Tensor, p: number, training: boolean): Tensor {
  return new Tensor(native.dropout2d(x.native, p, training));
}

/** Mean (or summed) squared error between tensors of the same shape. */
export function mseLoss(x: Tensor, target: Tensor, reduction: Reduction = "mean"): Tensor {
  return new Tensor(native.mseLoss(x.native, target.native, reduction));
}

/**
 * Cross entropy of logits [N, C] against class indices (int64 [N]) or class probabilities ([N, C]),
 * as torch.nn.functional.cross_entropy.
 */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  options: { reduction?: Reduction; labelSmoothing?: number; weight?: Tensor } = {},
): Tensor {
  return new Tensor(
    native.crossEntropy(
      logits.native,
      target.native,
      options.reduction ?? "mean",
      options.labelSmoothing ?? 0,
      options.weight?.native ?? null,
    ),
  );
}

/** Binary cross entropy on logits (numerically stable), targets in [0, 1] of the same shape. */
export function binaryCrossEntropyWithLogits(
  logits: Tensor,
  target: Tensor,
  options: { reduction?: Reduction; posWeight?: Tensor } = {},
): Tensor {
  return new Tensor(
    native.bceWithLogits(
      logits.native,
      target.native,
      options.reduction ?? "mean",
      options.posWeight?.native ?? null,
    ),
  );
}
