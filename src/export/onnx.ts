/**
 * ONNX export of a joint model, built from our own engine's modules (no PyTorch): each layer of
 * src/engine/nn.ts maps to ONNX operators, and the U-Net, ResNet and joint forwards of src/model/
 * are mirrored here step by step. The graph is the model in eval mode: dropout is the identity and
 * every BatchNorm that follows a convolution is folded into that convolution's weights
 * (w' = w·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β, computed in float64).
 *
 * Graph: input `features` [batch, 1, nMels, size] float32 (batch dynamic) → outputs `separated`
 * [batch, K, nMels, size] and `logits` [batch, K, classes]. The classifier runs once on all
 * batch·K sources (the same numbers as the engine's per-source calls, since batch norm uses its
 * running statistics in eval mode).
 */
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  ConvTranspose2d,
  Dropout,
  Dropout2d,
  Flatten,
  Identity,
  Linear,
  MaxPool2d,
  type Module,
  noGrad,
  type Pair,
  ReLU,
  Sequential,
  type Tensor,
  tidy,
} from "../engine/index.js";
import { ParameterError, StemscopeError } from "../errors.js";
import type { FeatureConfig } from "../features/config.js";
import type { JointModel, ResNet, UNet } from "../model/index.js";
import { GraphBuilder } from "./graph.js";
import { metadataEntries, ONNX_NAMES } from "./metadata.js";

/** The model cannot be written as ONNX with these settings; the message says what and why. */
export class OnnxExportError extends StemscopeError {}

/** Opsets the exporter writes (every operator it uses has the same semantics across them). */
export const OPSET_RANGE = { min: 13, max: 21, default: 17 } as const;

/** Options of {@link exportJointModel}. */
export interface OnnxExportOptions {
  /** Class names; logit i is classes[i]. */
  classes: string[];
  /** The feature settings the model was trained on (stored in the file, and they fix the input size). */
  features: FeatureConfig;
  /** ONNX opset, {@link OPSET_RANGE}. Default 17. */
  opset?: number;
  /** Written as the model's producer_version. Default "unknown". */
  producerVersion?: string;
  /** The fingerprint of the model folder it comes from (see OnnxModelInfo.source). Default none. */
  source?: string;
}

/**
 * The joint model as ONNX protobuf bytes (see the module comment for the graph).
 * @throws ParameterError for an `opset` outside {@link OPSET_RANGE} or `classes` that do not match the
 *   model; OnnxExportError for a layer with no ONNX mapping
 */
export function exportJointModel(model: JointModel, options: OnnxExportOptions): Uint8Array {
  const opset = options.opset ?? OPSET_RANGE.default;
  if (!(Number.isInteger(opset) && opset >= OPSET_RANGE.min && opset <= OPSET_RANGE.max)) {
    throw new ParameterError(
      "opset",
      `\`opset\` must be an integer from ${OPSET_RANGE.min} to ${OPSET_RANGE.max}, got ${opset}`,
    );
  }
  const { config } = model;
  if (options.classes.length !== config.numClasses) {
    throw new ParameterError(
      "classes",
      `\`classes\`: ${options.classes.length} names for a model with ${config.numClasses} outputs`,
    );
  }
  const { nMels, size } = options.features;
  const k = config.sources;
  const g = new GraphBuilder();
  const emit = new Emitter(g);
  const input = g.uniqueName(ONNX_NAMES.input);
  noGrad(() => {
    const separated = emit.unet(model.unet, input, "unet", ONNX_NAMES.separated);
    const logits = emit.classifierOnSources(model, separated, input, { k, nMels, size });
    g.node(
      "Reshape",
      [logits, g.int64("logits_shape", [-1, k, config.numClasses])],
      {},
      {
        name: "logits_reshape",
        outputNames: [ONNX_NAMES.logits],
      },
    );
  });
  return g.encode({
    graphName: "stemscope_joint",
    opset,
    producerVersion: options.producerVersion ?? "unknown",
    docString:
      "stemscope joint model: U-Net separation of a mel spectrogram into K sources, ResNet classification of each",
    inputs: [{ name: input, elementType: "float32", dims: ["batch", 1, nMels, size] }],
    outputs: [
      { name: ONNX_NAMES.separated, elementType: "float32", dims: ["batch", k, nMels, size] },
      { name: ONNX_NAMES.logits, elementType: "float32", dims: ["batch", k, config.numClasses] },
    ],
    metadata: metadataEntries({
      classes: options.classes,
      features: options.features,
      sources: k,
      model: { ...config },
      source: options.source ?? null,
    }),
  });
}

/** Row-major float32 values of a parameter or buffer (any memory format). */
function values(t: Tensor): Float32Array {
  return tidy(() => t.contiguous().toFloat32Array());
}

function pair(p: Pair): [number, number] {
  return typeof p === "number" ? [p, p] : p;
}

/** ONNX `pads` [top, left, bottom, right] for symmetric PyTorch padding. */
function pads(p: Pair): number[] {
  const [h, w] = pair(p);
  return [h, w, h, w];
}

/** Writes ONNX nodes for engine layers; every method takes an input name and returns the output name. */
class Emitter {
  constructor(private readonly g: GraphBuilder) {}

  /** Any engine layer (Sequential folds Conv2d → BatchNorm2d pairs). */
  layer(layer: Module, x: string, path: string): string {
    if (layer instanceof Sequential) return this.sequential(layer, x, path);
    if (layer instanceof Conv2d) return this.conv(layer, null, x, path);
    if (layer instanceof ConvTranspose2d) return this.convTranspose(layer, x, path);
    if (layer instanceof BatchNorm2d) return this.batchNorm(layer, x, path);
    if (layer instanceof ReLU) return this.g.op("Relu", [x], {}, path);
    if (layer instanceof MaxPool2d) return this.maxPool(layer, x, path);
    if (layer instanceof Linear) return this.linear(layer, x, path);
    if (layer instanceof Flatten) return this.g.op("Flatten", [x], { axis: 1 }, path);
    if (layer instanceof AdaptiveAvgPool2d) {
      const [h, w] = pair(layer.outputSize);
      if (h !== 1 || w !== 1)
        throw new OnnxExportError(`${path}: AdaptiveAvgPool2d to ${h}×${w} has no ONNX mapping (only 1×1)`);
      return this.g.op("GlobalAveragePool", [x], {}, path);
    }
    // Eval mode: dropout passes its input through.
    if (layer instanceof Identity || layer instanceof Dropout || layer instanceof Dropout2d) return x;
    throw new OnnxExportError(`${path}: ${layer.constructor.name} has no ONNX mapping`);
  }

  sequential(seq: Sequential, x: string, path: string): string {
    const layers = seq.layers
      .map((layer, i) => ({ layer, path: `${path}.${i}` }))
      .filter(
        ({ layer }) => !(layer instanceof Dropout || layer instanceof Dropout2d || layer instanceof Identity),
      );
    let out = x;
    for (let i = 0; i < layers.length; i++) {
      const { layer, path: p } = layers[i]!;
      const next = layers[i + 1]?.layer;
      if (layer instanceof Conv2d && next instanceof BatchNorm2d) {
        out = this.conv(layer, next, out, p);
        i++;
      } else {
        out = this.layer(layer, out, p);
      }
    }
    return out;
  }

  /** Conv2d, with the following BatchNorm2d folded in when given. */
  conv(conv: Conv2d, bn: BatchNorm2d | null, x: string, path: string): string {
    const weight = values(conv.weight);
    const [out, inPerGroup, kh, kw] = conv.weight.shape as [number, number, number, number];
    const bias = conv.bias === null ? new Float32Array(out) : values(conv.bias);
    if (bn !== null) foldBatchNorm(bn, weight, bias, out);
    const [dh, dw] = pair(conv.dilation);
    const [sh, sw] = pair(conv.stride);
    return this.g.op(
      "Conv",
      [
        x,
        this.g.float32(`${path}.weight`, weight, [out, inPerGroup, kh, kw]),
        this.g.float32(`${path}.bias`, bias, [out]),
      ],
      {
        kernel_shape: [kh, kw],
        strides: [sh, sw],
        pads: pads(conv.padding),
        dilations: [dh, dw],
        group: conv.groups,
      },
      path,
    );
  }

  convTranspose(conv: ConvTranspose2d, x: string, path: string): string {
    const [inChannels, outPerGroup, kh, kw] = conv.weight.shape as [number, number, number, number];
    const inputs = [
      x,
      this.g.float32(`${path}.weight`, values(conv.weight), [inChannels, outPerGroup, kh, kw]),
    ];
    if (conv.bias !== null)
      inputs.push(this.g.float32(`${path}.bias`, values(conv.bias), [outPerGroup * conv.groups]));
    const [sh, sw] = pair(conv.stride);
    return this.g.op(
      "ConvTranspose",
      inputs,
      {
        kernel_shape: [kh, kw],
        strides: [sh, sw],
        pads: pads(conv.padding),
        output_padding: pair(conv.outputPadding),
        group: conv.groups,
      },
      path,
    );
  }

  /** A BatchNorm2d that follows no convolution: ONNX BatchNormalization with the running statistics. */
  batchNorm(bn: BatchNorm2d, x: string, path: string): string {
    const state = bn.stateDict();
    const n = bn.numFeatures;
    const input = (name: string): string => this.g.float32(`${path}.${name}`, values(state.get(name)!), [n]);
    return this.g.op(
      "BatchNormalization",
      [x, input("weight"), input("bias"), input("running_mean"), input("running_var")],
      { epsilon: { float: bn.options.eps ?? 1e-5 } },
      path,
    );
  }

  maxPool(pool: MaxPool2d, x: string, path: string): string {
    const kernel = pair(pool.kernelSize);
    return this.g.op(
      "MaxPool",
      [x],
      {
        kernel_shape: kernel,
        strides: pair(pool.options.stride ?? pool.kernelSize),
        pads: pads(pool.options.padding ?? 0),
      },
      path,
    );
  }

  linear(linear: Linear, x: string, path: string): string {
    const inputs = [
      x,
      this.g.float32(`${path}.weight`, values(linear.weight), [linear.outFeatures, linear.inFeatures]),
    ];
    if (linear.bias !== null)
      inputs.push(this.g.float32(`${path}.bias`, values(linear.bias), [linear.outFeatures]));
    return this.g.op("Gemm", inputs, { transB: 1 }, path);
  }

  /** src/model/unet.ts UNet.forward: mixture [batch, 1, H, W] → [batch, sources, H, W]. */
  unet(unet: UNet, x: string, path: string, outputName: string): string {
    const out = unet.config.skips === "full" ? this.unetFull(unet, x, path) : this.unetPooled(unet, x, path);
    if (unet.config.output === "mask") {
      const mask = this.g.op("Sigmoid", [out], {}, `${path}.mask`);
      return this.g.node("Mul", [mask, x], {}, { name: `${path}.masked`, outputNames: [outputName] })[0]!;
    }
    if (unet.config.output === "ratio") {
      // ratioOutput: relu(mixture + logSoftmax_k(x) · 10 / (ln 10 · topDb)).
      const logMask = this.g.op("LogSoftmax", [out], { axis: 1 }, `${path}.log_mask`);
      const perLogMask = this.g.float32(
        `${path}.per_log_mask`,
        Float32Array.of(10 / (Math.LN10 * unet.config.topDb!)),
        [],
      );
      const offset = this.g.op("Mul", [logMask, perLogMask], {}, `${path}.offset`);
      const shifted = this.g.op("Add", [offset, x], {}, `${path}.shifted`);
      return this.g.node("Relu", [shifted], {}, { name: `${path}.ratio`, outputNames: [outputName] })[0]!;
    }
    return this.g.node("Identity", [out], {}, { name: `${path}.output`, outputNames: [outputName] })[0]!;
  }

  private unetPooled(unet: UNet, x: string, path: string): string {
    const skips: string[] = [];
    let out = x;
    unet.enc.items.forEach((block, i) => {
      out = this.sequential(block, out, `${path}.enc.${i}`);
      skips.push(out);
    });
    const depth = unet.enc.length;
    out = this.sequential(unet.dec.at(0), skips[depth - 1]!, `${path}.dec.0`);
    for (let j = 1; j < depth; j++) {
      const joined = this.g.op("Concat", [out, skips[depth - 1 - j]!], { axis: 1 }, `${path}.cat.${j}`);
      out = this.sequential(unet.dec.at(j), joined, `${path}.dec.${j}`);
    }
    return out;
  }

  private unetFull(unet: UNet, x: string, path: string): string {
    const skips: string[] = [];
    let out = x;
    unet.enc.items.forEach((block, i) => {
      out = this.sequential(block, out, `${path}.enc.${i}`);
      skips.push(out);
      out = this.g.op("MaxPool", [out], { kernel_shape: [2, 2], strides: [2, 2] }, `${path}.pool.${i}`);
    });
    out = this.sequential(unet.mid!, out, `${path}.mid`);
    const depth = unet.enc.length;
    for (let j = 0; j < depth; j++) {
      out = this.convTranspose(unet.up!.at(j), out, `${path}.up.${j}`);
      const joined = this.g.op("Concat", [out, skips[depth - 1 - j]!], { axis: 1 }, `${path}.cat.${j}`);
      out = this.sequential(unet.dec.at(j), joined, `${path}.dec.${j}`);
    }
    return this.conv(unet.head!, null, out, `${path}.head`);
  }

  /**
   * src/model/joint.ts: the classifier on every separated source at once. separated
   * [batch, K, H, W] (and the mixture [batch, 1, H, W] when the classifier also sees it) →
   * logits [batch·K, classes], row b·K + k for source k of sample b.
   */
  classifierOnSources(
    model: JointModel,
    separated: string,
    mixture: string,
    dims: { k: number; nMels: number; size: number },
  ): string {
    const { nMels, size } = dims;
    let input: string;
    if (model.config.classifierInput === "source") {
      input = this.g.op(
        "Reshape",
        [separated, this.g.int64("sources_shape", [-1, 1, nMels, size])],
        {},
        "sources",
      );
    } else {
      // [batch, K, 1, H, W] sources beside [batch, K, 1, H, W] copies of the mixture → [batch·K, 2, H, W].
      const axes2 = this.g.int64("axis_2", [2]);
      const sources = this.g.op("Unsqueeze", [separated, axes2], {}, "sources_5d");
      const mix = this.g.op("Unsqueeze", [mixture, axes2], {}, "mixture_5d");
      const shape = this.g.op("Shape", [sources], {}, "sources_5d_shape");
      const mixes = this.g.op("Expand", [mix, shape], {}, "mixture_per_source");
      const pairs = this.g.op("Concat", [sources, mixes], { axis: 2 }, "source_and_mixture");
      input = this.g.op("Reshape", [pairs, this.g.int64("pairs_shape", [-1, 2, nMels, size])], {}, "sources");
    }
    return this.resnet(model.classifier, input, "classifier");
  }

  /** src/model/resnet.ts ResNet.forward in eval mode: [n, C, H, W] → logits [n, classes]. */
  resnet(resnet: ResNet, x: string, path: string): string {
    let out = this.g.op(
      "Relu",
      [this.conv(resnet.conv1, resnet.bn1, x, `${path}.conv1`)],
      {},
      `${path}.relu`,
    );
    out = this.layer(resnet.maxpool, out, `${path}.maxpool`);
    resnet.layers.forEach((layer, i) => {
      layer.layers.forEach((block, b) => {
        out = this.residualBlock(block, out, `${path}.layer${i + 1}.${b}`);
      });
    });
    out = this.layer(resnet.avgpool, out, `${path}.avgpool`);
    out = this.g.op("Flatten", [out], { axis: 1 }, `${path}.flatten`);
    return this.linear(resnet.fc, out, `${path}.fc`);
  }

  /** BasicBlock (conv1, bn1, conv2, bn2) or Bottleneck (… conv3, bn3), optional `downsample`. */
  private residualBlock(block: Module, x: string, path: string): string {
    const children = new Map(block.children());
    const conv = (name: string): Conv2d => {
      const c = children.get(name);
      if (!(c instanceof Conv2d))
        throw new OnnxExportError(`${path}.${name}: expected a Conv2d in a residual block`);
      return c;
    };
    const bn = (name: string): BatchNorm2d => {
      const b = children.get(name);
      if (!(b instanceof BatchNorm2d))
        throw new OnnxExportError(`${path}.${name}: expected a BatchNorm2d in a residual block`);
      return b;
    };
    const relu = (v: string, name: string): string => this.g.op("Relu", [v], {}, `${path}.${name}`);
    let out = relu(this.conv(conv("conv1"), bn("bn1"), x, `${path}.conv1`), "relu1");
    if (children.has("conv3")) {
      out = relu(this.conv(conv("conv2"), bn("bn2"), out, `${path}.conv2`), "relu2");
      out = this.conv(conv("conv3"), bn("bn3"), out, `${path}.conv3`);
    } else {
      out = this.conv(conv("conv2"), bn("bn2"), out, `${path}.conv2`);
    }
    const downsample = children.get("downsample");
    const shortcut = downsample === undefined ? x : this.layer(downsample, x, `${path}.downsample`);
    return relu(this.g.op("Add", [out, shortcut], {}, `${path}.add`), "relu");
  }
}

/** Folds eval-mode batch norm into a convolution's weight [out, …] and bias [out], in place. */
function foldBatchNorm(bn: BatchNorm2d, weight: Float32Array, bias: Float32Array, out: number): void {
  if (bn.numFeatures !== out)
    throw new OnnxExportError(`BatchNorm2d of ${bn.numFeatures} channels after a conv with ${out}`);
  const state = bn.stateDict();
  const gamma = values(state.get("weight")!);
  const beta = values(state.get("bias")!);
  const mean = values(state.get("running_mean")!);
  const variance = values(state.get("running_var")!);
  const eps = bn.options.eps ?? 1e-5;
  const per = weight.length / out;
  for (let o = 0; o < out; o++) {
    const scale = (gamma[o] as number) / Math.sqrt((variance[o] as number) + eps);
    for (let i = o * per; i < (o + 1) * per; i++) weight[i] = (weight[i] as number) * scale;
    bias[o] = ((bias[o] as number) - (mean[o] as number)) * scale + (beta[o] as number);
  }
}
