import { z } from "zod";
import {
  BatchNorm2d,
  cat,
  Conv2d,
  ConvTranspose2d,
  Dropout2d,
  F,
  Layer,
  MaxPool2d,
  Module,
  ModuleList,
  ReLU,
  Sequential,
  type Tensor,
} from "../engine/index.js";

/** U-Net architecture arguments; the defaults are the seed's EnhancedUNet. */
export const UNetConfigSchema = z
  .object({
    /** Encoder blocks; each halves the spectrogram (128 → 128 / 2^depth). */
    depth: z.number().int().min(1).max(7).default(5),
    /** Channels of the first encoder block; block i has base·2^i (seed: 64 … 1024). */
    baseChannels: z.number().int().min(1).default(64),
    /** Dropout2d probability after each transposed convolution (seed: 0.2). */
    dropout: z.number().min(0).max(1).default(0.2),
    /**
     * `direct`: the last convolution's output is the separated spectrogram (the seed);
     * `mask`: its sigmoid is a mask multiplied with the mixture spectrogram;
     * `ratio`: its softmax over the K sources is a ratio mask on the mixture's mel *power* (the masks
     * sum to 1), written in the `native` feature domain (see {@link ratioOutput}; needs `topDb`).
     */
    output: z.enum(["direct", "mask", "ratio"]).default("direct"),
    /**
     * `ratio` only: the dynamic range (dB) of the native features the model reads and writes — the
     * feature config's `topDb` — which turns a power ratio into a feature-value offset.
     */
    topDb: z.number().positive().optional(),
    /**
     * `pooled` (the seed): the decoder concatenates the *pooled* encoder outputs and its last
     * transposed convolution goes straight to one channel per source, so the output is built from
     * half-resolution features. `full`: a standard U-Net — skips are the encoder features before
     * pooling, a bottleneck block at the lowest resolution, [Conv3×3 + BN + ReLU] × 2 after each
     * concatenation, and a 1×1 convolution to the sources from full-resolution features.
     */
    skips: z.enum(["pooled", "full"]).default("pooled"),
  })
  .refine((c) => c.output !== "ratio" || c.topDb !== undefined, {
    message: "output `ratio` needs `topDb`, the native features' dynamic range in dB (e.g. 80)",
    path: ["topDb"],
  })
  .refine((c) => c.output === "ratio" || c.topDb === undefined, {
    message: "`topDb` is used only by output `ratio`; leave it out for `direct` and `mask`",
    path: ["topDb"],
  });
export type UNetConfig = z.infer<typeof UNetConfigSchema>;

/**
 * The `ratio` output: masks m_k = softmax_k(x) on the mixture's mel power P, written as native
 * feature values. Native values are v = (dB + topDb) / topDb relative to the mixture's peak, so the
 * source power m_k·P has v_k = v_mix + 10·log10(m_k) / topDb = v_mix + ln(m_k)·10 / (ln 10 · topDb);
 * ln m_k is log-softmax (stable where a mask underflows), and relu keeps the features' floor at 0.
 * Converting v_k back to power (src/separator/masks.ts) gives exactly m_k·P wherever v_k > 0.
 * @param logits the last layer's output [batch, K, H, W]
 * @param mixture the native mixture features [batch, 1, H, W] in [0, 1]
 * @param topDb the features' dynamic range, dB
 * @returns source features [batch, K, H, W] in [0, 1], float32 (float64 for float64 inputs)
 */
export function ratioOutput(logits: Tensor, mixture: Tensor, topDb: number): Tensor {
  const perLogMask = 10 / (Math.LN10 * topDb);
  const x = logits.dtype === "float64" ? logits : logits.float();
  return F.logSoftmax(x, 1).mul(perLogMask).add(mixture).relu();
}

/** [Conv3×3(pad 1) + BN + ReLU] × 2, as a list of layers (the start of every encoder block). */
function doubleConv(inChannels: number, outChannels: number): Layer[] {
  return [
    new Conv2d(inChannels, outChannels, 3, { padding: 1 }),
    new BatchNorm2d(outChannels),
    new ReLU(),
    new Conv2d(outChannels, outChannels, 3, { padding: 1 }),
    new BatchNorm2d(outChannels),
    new ReLU(),
  ];
}

/** [Conv3×3(pad 1) + BN + ReLU] × 2, then MaxPool 2×2 (the seed's encoder block). */
function encoderBlock(inChannels: number, outChannels: number): Sequential {
  return new Sequential(...doubleConv(inChannels, outChannels), new MaxPool2d(2));
}

/** [Conv3×3(pad 1) + BN + ReLU] × 2, no pooling (the `full` U-Net's block). */
function convBlock(inChannels: number, outChannels: number): Sequential {
  return new Sequential(...doubleConv(inChannels, outChannels));
}

/** ConvTranspose 2×2 stride 2 → Dropout2d → Conv3×3 (+ BN + ReLU unless it is the output block). */
function decoderBlock(inChannels: number, outChannels: number, dropout: number, last: boolean): Sequential {
  const layers: Layer[] = [
    new ConvTranspose2d(inChannels, outChannels, 2, { stride: 2 }),
    new Dropout2d(dropout),
    new Conv2d(outChannels, outChannels, 3, { padding: 1 }),
  ];
  if (!last) layers.push(new BatchNorm2d(outChannels), new ReLU());
  return new Sequential(...layers);
}

/**
 * The seed's U-Net, generalised in depth and width: encoder blocks with channels base·2^i, each
 * pooled; decoder blocks that upsample and concatenate the pooled encoder output of the same
 * resolution (skip connections); the last block outputs one channel per source.
 * Parameter names match the seed's PyTorch module (`enc.0.0.weight`, `dec.4.2.bias`, …).
 */
export class UNet extends Module {
  readonly enc: ModuleList<Sequential>;
  readonly dec: ModuleList<Sequential>;
  /** `full` skips only: the bottleneck block, the upsampling layers and the 1×1 output convolution. */
  readonly mid: Sequential | null = null;
  readonly up: ModuleList<ConvTranspose2d> | null = null;
  readonly head: Conv2d | null = null;
  readonly #pool = new MaxPool2d(2);

  constructor(
    readonly config: UNetConfig,
    readonly sources: number,
  ) {
    super();
    const { depth, baseChannels, dropout } = config;
    const channels = Array.from({ length: depth }, (_, i) => baseChannels * 2 ** i);
    const ch = (i: number): number => channels[i]!;
    if (config.skips === "full") {
      this.enc = this.registerModule(
        "enc",
        new ModuleList(channels.map((c, i) => convBlock(i === 0 ? 1 : ch(i - 1), c))),
      );
      this.mid = this.registerModule("mid", convBlock(ch(depth - 1), 2 * ch(depth - 1)));
      const levels = channels.map((_, j) => depth - 1 - j); // decoder j works at encoder level i
      this.up = this.registerModule(
        "up",
        new ModuleList(levels.map((i) => new ConvTranspose2d(2 * ch(i), ch(i), 2, { stride: 2 }))),
      );
      this.dec = this.registerModule(
        "dec",
        new ModuleList(
          levels.map((i) =>
            dropout > 0
              ? new Sequential(new Dropout2d(dropout), convBlock(2 * ch(i), ch(i)))
              : new Sequential(convBlock(2 * ch(i), ch(i))),
          ),
        ),
      );
      this.head = this.registerModule("head", new Conv2d(ch(0), sources, 1));
      return;
    }
    this.enc = this.registerModule(
      "enc",
      new ModuleList(channels.map((c, i) => encoderBlock(i === 0 ? 1 : ch(i - 1), c))),
    );
    const decoders: Sequential[] = [];
    for (let j = 0; j < depth; j++) {
      const inChannels = j === 0 ? ch(depth - 1) : 2 * ch(depth - 1 - j);
      const last = j === depth - 1;
      const outChannels = last ? sources : ch(depth - 2 - j);
      decoders.push(decoderBlock(inChannels, outChannels, dropout, last));
    }
    this.dec = this.registerModule("dec", new ModuleList(decoders));
  }

  /**
   * mixture: [batch, 1, H, W] (H, W divisible by 2^depth) → separated sources [batch, sources, H, W]
   * (`ratio`: float32 even under bf16 autocast).
   */
  forward(mixture: Tensor): Tensor {
    const x = this.config.skips === "full" ? this.#forwardFull(mixture) : this.#forwardPooled(mixture);
    switch (this.config.output) {
      case "mask":
        return x.sigmoid().mul(mixture);
      case "ratio":
        return ratioOutput(x, mixture, this.config.topDb!);
      default:
        return x;
    }
  }

  #forwardPooled(mixture: Tensor): Tensor {
    const skips: Tensor[] = [];
    let x = mixture;
    for (const block of this.enc.items) {
      x = block.forward(x);
      skips.push(x);
    }
    const depth = this.enc.length;
    x = this.dec.at(0).forward(skips[depth - 1]!);
    for (let j = 1; j < depth; j++) {
      x = this.dec.at(j).forward(cat([x, skips[depth - 1 - j]!], 1));
    }
    return x;
  }

  #forwardFull(mixture: Tensor): Tensor {
    const skips: Tensor[] = [];
    let x = mixture;
    for (const block of this.enc.items) {
      x = block.forward(x);
      skips.push(x);
      x = this.#pool.forward(x);
    }
    x = this.mid!.forward(x);
    const depth = this.enc.length;
    for (let j = 0; j < depth; j++) {
      x = this.up!.at(j).forward(x);
      x = this.dec.at(j).forward(cat([x, skips[depth - 1 - j]!], 1));
    }
    return this.head!.forward(x);
  }
}
