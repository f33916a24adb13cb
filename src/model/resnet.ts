import { z } from "zod";
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  F,
  Identity,
  kaimingNormal,
  Layer,
  Linear,
  MaxPool2d,
  Module,
  noGrad,
  ReLU,
  Sequential,
  type Tensor,
  tidy,
} from "../engine/index.js";

/** ResNet architecture arguments; the defaults are the seed's ResNet-50 with a 1-channel stem. */
export const ResNetConfigSchema = z.object({
  /** 18 and 34 use BasicBlock, 50 uses Bottleneck (torchvision's layouts). */
  depth: z.union([z.literal(18), z.literal(34), z.literal(50)]).default(50),
  /** Channels after the stem and of layer1 (torchvision: 64); layer i has width·2^(i−1). */
  width: z.number().int().min(1).default(64),
  /** Stride of the 7×7 stem convolution (torchvision: 2). */
  stemStride: z.number().int().min(1).max(4).default(2),
  /** The 3×3 stride-2 max-pool after the stem (torchvision: on). */
  stemPool: z.boolean().default(true),
  /** Input channels of the stem (the seed: 1, a spectrogram). */
  inChannels: z.number().int().min(1).default(1),
  /** Dropout before the classification head (the seed: none). */
  dropout: z.number().min(0).max(1).default(0),
});
export type ResNetConfig = z.infer<typeof ResNetConfigSchema>;

const BLOCKS: Record<18 | 34 | 50, [number, number, number, number]> = {
  18: [2, 2, 2, 2],
  34: [3, 4, 6, 3],
  50: [3, 4, 6, 3],
};

/** torchvision's init: conv weights He-normal with fan_out (kaiming_normal_, mode fan_out, relu). */
function heConv(
  inChannels: number,
  outChannels: number,
  kernel: number,
  stride: number,
  padding: number,
): Conv2d {
  const conv = new Conv2d(inChannels, outChannels, kernel, { stride, padding, bias: false });
  noGrad(() =>
    tidy(() => conv.weight.copyFrom(kaimingNormal(conv.weight.shape, outChannels * kernel * kernel))),
  );
  return conv;
}

/** conv3×3 → BN → ReLU → conv3×3 → BN, plus the (projected) input, then ReLU. Expansion 1. */
class BasicBlock extends Layer {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Layer;

  constructor(inChannels: number, planes: number, stride: number) {
    super();
    this.conv1 = this.registerModule("conv1", heConv(inChannels, planes, 3, stride, 1));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(planes));
    this.conv2 = this.registerModule("conv2", heConv(planes, planes, 3, 1, 1));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes));
    this.downsample =
      stride !== 1 || inChannels !== planes
        ? this.registerModule(
            "downsample",
            new Sequential(heConv(inChannels, planes, 1, stride, 0), new BatchNorm2d(planes)),
          )
        : new Identity();
  }

  forward(x: Tensor): Tensor {
    const out = this.bn2.forward(this.conv2.forward(this.bn1.forward(this.conv1.forward(x)).relu()));
    return out.add(this.downsample.forward(x)).relu();
  }
}

/** conv1×1 → BN → ReLU → conv3×3 (stride) → BN → ReLU → conv1×1 (×4) → BN, plus the input, then ReLU. */
class Bottleneck extends Layer {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample: Layer;

  constructor(inChannels: number, planes: number, stride: number) {
    super();
    const out = planes * Bottleneck.expansion;
    this.conv1 = this.registerModule("conv1", heConv(inChannels, planes, 1, 1, 0));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(planes));
    this.conv2 = this.registerModule("conv2", heConv(planes, planes, 3, stride, 1));
    this.bn2 = this.registerModule("bn2", new BatchNorm2d(planes));
    this.conv3 = this.registerModule("conv3", heConv(planes, out, 1, 1, 0));
    this.bn3 = this.registerModule("bn3", new BatchNorm2d(out));
    this.downsample =
      stride !== 1 || inChannels !== out
        ? this.registerModule(
            "downsample",
            new Sequential(heConv(inChannels, out, 1, stride, 0), new BatchNorm2d(out)),
          )
        : new Identity();
  }

  forward(x: Tensor): Tensor {
    let out = this.bn1.forward(this.conv1.forward(x)).relu();
    out = this.bn2.forward(this.conv2.forward(out)).relu();
    out = this.bn3.forward(this.conv3.forward(out));
    return out.add(this.downsample.forward(x)).relu();
  }
}

/**
 * torchvision's ResNet with a 1-channel stem, used as the classifier of separated spectrograms.
 * Parameter names match torchvision (`conv1.weight`, `layer1.0.bn1.running_mean`, `fc.bias`).
 */
export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly maxpool: Layer;
  readonly layers: Sequential[];
  readonly avgpool = new AdaptiveAvgPool2d(1);
  readonly fc: Linear;
  readonly #dropout: number;

  constructor(
    readonly config: ResNetConfig,
    readonly numClasses: number,
  ) {
    super();
    const { depth, width } = config;
    const Block = depth === 50 ? Bottleneck : BasicBlock;
    this.conv1 = this.registerModule("conv1", heConv(config.inChannels, width, 7, config.stemStride, 3));
    this.bn1 = this.registerModule("bn1", new BatchNorm2d(width));
    this.maxpool = config.stemPool ? new MaxPool2d(3, { stride: 2, padding: 1 }) : new Identity();
    let inChannels = width;
    this.layers = BLOCKS[depth].map((count, i) => {
      const planes = width * 2 ** i;
      const blocks: Layer[] = [];
      for (let b = 0; b < count; b++) {
        blocks.push(new Block(inChannels, planes, b === 0 && i > 0 ? 2 : 1));
        inChannels = planes * Block.expansion;
      }
      return this.registerModule(`layer${i + 1}`, new Sequential(...blocks));
    });
    this.fc = this.registerModule("fc", new Linear(inChannels, numClasses));
    this.#dropout = config.dropout;
  }

  /** Features before the head: [batch, 1, H, W] → [batch, channels]. */
  embed(x: Tensor): Tensor {
    let out = this.maxpool.forward(this.bn1.forward(this.conv1.forward(x)).relu());
    for (const layer of this.layers) out = layer.forward(out);
    return this.avgpool.forward(out).flatten(1);
  }

  /** [batch, 1, H, W] → logits [batch, numClasses]. */
  forward(x: Tensor): Tensor {
    const features = this.embed(x);
    return this.fc.forward(this.#dropout > 0 ? F.dropout(features, this.#dropout, this.training) : features);
  }
}
