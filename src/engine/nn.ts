import * as F from "./functional.js";
import type { Pair } from "./functional.js";
import { type Device, keep, noGrad, ones, rand, randn, type Tensor, tidy, zeros } from "./tensor.js";

/**
 * Base class of layers and models. A module owns named parameters (trainable tensors), buffers
 * (state such as batch-norm running statistics) and child modules; names join with dots like
 * PyTorch's state_dict keys (`enc.0.weight`), so weights map one to one onto PyTorch models.
 * Parameters and buffers are kept out of tensor scopes; `dispose()` frees them.
 */
export class Module {
  training = true;
  readonly #parameters = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  protected registerParameter(name: string, value: Tensor): Tensor {
    keep(value);
    value.setRequiresGrad(true);
    this.#parameters.set(name, value);
    return value;
  }
  protected registerBuffer(name: string, value: Tensor): Tensor {
    keep(value);
    this.#buffers.set(name, value);
    return value;
  }
  protected registerModule<M extends Module>(name: string, module: M): M {
    this.#children.set(name, module);
    return module;
  }

  /** Child modules in registration order. */
  children(): [string, Module][] {
    return [...this.#children];
  }
  /** Every parameter with its dotted name, depth first in registration order. */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, p] of this.#parameters) out.push([prefix + name, p]);
    for (const [name, child] of this.#children) out.push(...child.namedParameters(`${prefix}${name}.`));
    return out;
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }
  namedBuffers(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, b] of this.#buffers) out.push([prefix + name, b]);
    for (const [name, child] of this.#children) out.push(...child.namedBuffers(`${prefix}${name}.`));
    return out;
  }
  /** Parameters and buffers by name (the tensors themselves, not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }
  /** Total number of parameter elements. */
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /**
   * Copies values from `state` into this module's tensors (shapes must match; dtypes convert).
   * With `strict` (default) a missing or unexpected key is an error that names it.
   */
  loadStateDict(state: Map<string, Tensor>, options: { strict?: boolean } = {}): void {
    const own = this.stateDict();
    const strict = options.strict ?? true;
    if (strict) {
      const missing = [...own.keys()].filter((k) => !state.has(k));
      const unexpected = [...state.keys()].filter((k) => !own.has(k));
      if (missing.length || unexpected.length) {
        throw new Error(
          `loadStateDict: ${missing.length ? `missing keys: ${missing.slice(0, 8).join(", ")}${missing.length > 8 ? ", …" : ""}` : ""}` +
            `${missing.length && unexpected.length ? "; " : ""}` +
            `${unexpected.length ? `unexpected keys: ${unexpected.slice(0, 8).join(", ")}${unexpected.length > 8 ? ", …" : ""}` : ""}`,
        );
      }
    }
    noGrad(() => {
      for (const [name, target] of own) {
        const source = state.get(name);
        if (source === undefined) continue;
        const a = target.shape.join(","),
          b = source.shape.join(",");
        if (a !== b) throw new Error(`loadStateDict: '${name}' has shape [${b}], expected [${a}]`);
        target.copyFrom(source);
      }
    });
  }

  /** Sets training mode (dropout active, batch norm uses batch statistics) on this module and its children. */
  train(flag = true): this {
    this.training = flag;
    for (const child of this.#children.values()) child.train(flag);
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Replaces every 4-D parameter with a channels-last copy (faster convolutions on CPU). */
  toChannelsLast(): this {
    return this.#mapTensors((t) => (t.rank === 4 ? t.contiguous("channels_last") : null));
  }
  /** Moves every parameter and buffer to `device`. */
  toDevice(device: Device): this {
    return this.#mapTensors((t) => (t.device === device ? null : t.toDevice(device)));
  }

  #mapTensors(convert: (t: Tensor) => Tensor | null): this {
    noGrad(() => {
      for (const table of [this.#parameters, this.#buffers]) {
        for (const [name, t] of table) {
          const converted = convert(t);
          if (converted === null) continue;
          keep(converted);
          if (table === this.#parameters) converted.setRequiresGrad(true);
          table.set(name, converted);
          t.dispose();
        }
      }
    });
    for (const child of this.#children.values()) child.#mapTensors(convert);
    this.onTensorsReplaced();
    return this;
  }

  /** Called after parameters/buffers were replaced (subclasses that cache tensor fields refresh them). */
  protected onTensorsReplaced(): void {}

  protected parameter(name: string): Tensor {
    const p = this.#parameters.get(name);
    if (p === undefined) throw new Error(`no parameter '${name}'`);
    return p;
  }
  protected optionalParameter(name: string): Tensor | null {
    return this.#parameters.get(name) ?? null;
  }
  protected buffer(name: string): Tensor {
    const b = this.#buffers.get(name);
    if (b === undefined) throw new Error(`no buffer '${name}'`);
    return b;
  }

  /** Frees every parameter and buffer of this module and its children. */
  dispose(): void {
    for (const t of this.#parameters.values()) t.dispose();
    for (const t of this.#buffers.values()) t.dispose();
    for (const child of this.#children.values()) child.dispose();
  }
}

/** A module with one tensor in and one tensor out. */
export abstract class Layer extends Module {
  abstract forward(x: Tensor): Tensor;
}

// ---------------------------------------------------------------- initialisation

/** U(−bound, bound) samples of the given shape, from libtorch's seeded generator. */
export function uniform(shape: number[], bound: number): Tensor {
  return tidy(() =>
    rand(shape)
      .mul(2 * bound)
      .sub(bound),
  );
}

/** N(0, std²) samples. */
export function normal(shape: number[], std: number): Tensor {
  return tidy(() => randn(shape).mul(std));
}

/** He (Kaiming) normal init for a ReLU network: std = √2 / √fan, as torch.nn.init.kaiming_normal_. */
export function kaimingNormal(shape: number[], fan: number): Tensor {
  return normal(shape, Math.sqrt(2 / fan));
}

// ---------------------------------------------------------------- layers

/** Options shared by {@link Conv2d} and {@link ConvTranspose2d}. */
interface ConvOptions {
  stride?: Pair;
  padding?: Pair;
  groups?: number;
  bias?: boolean;
}

/**
 * What Conv2d and ConvTranspose2d share: stride/padding/groups and PyTorch's default init,
 * kaiming_uniform(a=√5) → U(±1/√fanIn) for the weight and the same bound for the bias.
 */
abstract class ConvLayer extends Layer {
  readonly stride: Pair;
  readonly padding: Pair;
  readonly groups: number;
  protected readonly kernel: [number, number];

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number | [number, number],
    options: ConvOptions,
  ) {
    super();
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.groups = options.groups ?? 1;
    this.kernel = typeof kernelSize === "number" ? [kernelSize, kernelSize] : kernelSize;
  }

  /** Registers `weight` of `shape` (and `bias` unless disabled), fan_in = shape[1] · kH · kW as PyTorch. */
  protected initParameters(shape: number[], bias: boolean): void {
    const bound = 1 / Math.sqrt(shape[1]! * this.kernel[0] * this.kernel[1]);
    this.registerParameter("weight", uniform(shape, bound));
    if (bias) this.registerParameter("bias", uniform([this.outChannels], bound));
  }

  get weight(): Tensor {
    return this.parameter("weight");
  }
  get bias(): Tensor | null {
    return this.optionalParameter("bias");
  }

  /** Sets the bias to a copy of `value` [outChannels], adding one to a layer built without. */
  setBias(value: Tensor): void {
    noGrad(() => {
      const bias = this.bias;
      if (bias !== null) bias.copyFrom(value);
      else this.registerParameter("bias", value.float().clone());
    });
  }
}

/** torch.nn.Conv2d (weight [out, in/groups, kH, kW]) with PyTorch's default init. */
export class Conv2d extends ConvLayer {
  readonly dilation: Pair;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number | [number, number],
    options: ConvOptions & { dilation?: Pair } = {},
  ) {
    super(inChannels, outChannels, kernelSize, options);
    this.dilation = options.dilation ?? 1;
    this.initParameters([outChannels, inChannels / this.groups, ...this.kernel], options.bias ?? true);
  }

  /** [batch, inChannels, H, W] → [batch, outChannels, H', W'] */
  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }
}

/** torch.nn.ConvTranspose2d (weight [in, out/groups, kH, kW]) with PyTorch's default init. */
export class ConvTranspose2d extends ConvLayer {
  readonly outputPadding: Pair;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number | [number, number],
    options: ConvOptions & { outputPadding?: Pair } = {},
  ) {
    super(inChannels, outChannels, kernelSize, options);
    this.outputPadding = options.outputPadding ?? 0;
    // PyTorch's fan_in is weight.size(1) · kH · kW, i.e. outChannels/groups · kH · kW.
    this.initParameters([inChannels, outChannels / this.groups, ...this.kernel], options.bias ?? true);
  }

  /** [batch, inChannels, H, W] → [batch, outChannels, H', W'] */
  forward(x: Tensor): Tensor {
    return F.convTranspose2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      outputPadding: this.outputPadding,
      groups: this.groups,
    });
  }
}

/** torch.nn.BatchNorm2d: weight 1, bias 0, running_mean 0, running_var 1, num_batches_tracked. */
export class BatchNorm2d extends Layer {
  #folded = false;

  constructor(
    readonly numFeatures: number,
    readonly options: { eps?: number; momentum?: number } = {},
  ) {
    super();
    this.registerParameter("weight", ones([numFeatures]));
    this.registerParameter("bias", zeros([numFeatures]));
    this.registerBuffer("running_mean", zeros([numFeatures]));
    this.registerBuffer("running_var", ones([numFeatures]));
    this.registerBuffer("num_batches_tracked", zeros([], { dtype: "int64" }));
  }

  /** Whether {@link foldInto} has made this layer the identity. */
  get folded(): boolean {
    return this.#folded;
  }

  /**
   * Inference only: folds this layer into the convolution whose output it normalises — the
   * convolution's weight is scaled by γ / √(var + ε) per output channel and its bias becomes
   * (bias − mean) · γ / √(var + ε) + β (computed in float64) — and becomes the identity, so
   * conv → BN costs one convolution. Exact up to float rounding. The running statistics are used, so
   * the layer must be in eval mode; neither layer can be trained or saved afterwards.
   */
  foldInto(conv: Conv2d): void {
    if (this.training)
      throw new Error("BatchNorm2d.foldInto: the layer is in training mode; call eval() first");
    if (this.#folded) throw new Error("BatchNorm2d.foldInto: already folded");
    const c = this.numFeatures;
    if (conv.outChannels !== c)
      throw new Error(
        `BatchNorm2d.foldInto: ${c} features, but the convolution has ${conv.outChannels} outputs`,
      );
    noGrad(() =>
      tidy(() => {
        const wide = (t: Tensor): Tensor => t.to("float64");
        const scale = wide(this.parameter("weight")).div(
          wide(this.buffer("running_var"))
            .add(this.options.eps ?? 1e-5)
            .sqrt(),
        );
        conv.weight.copyFrom(wide(conv.weight).mul(scale.reshape([c, 1, 1, 1])));
        const bias = conv.bias === null ? zeros([c], { dtype: "float64" }) : wide(conv.bias);
        conv.setBias(
          bias
            .sub(wide(this.buffer("running_mean")))
            .mul(scale)
            .add(wide(this.parameter("bias"))),
        );
      }),
    );
    this.#folded = true;
  }

  /** [batch, C, H, W] → same shape. */
  forward(x: Tensor): Tensor {
    if (this.#folded) return x;
    if (this.training) {
      noGrad(() => {
        const tracked = this.buffer("num_batches_tracked");
        tidy(() => tracked.copyFrom(tracked.add(1)));
      });
    }
    return F.batchNorm(
      x,
      this.buffer("running_mean"),
      this.buffer("running_var"),
      this.parameter("weight"),
      this.parameter("bias"),
      { training: this.training, momentum: this.options.momentum ?? 0.1, eps: this.options.eps ?? 1e-5 },
    );
  }
}

/** torch.nn.Linear with PyTorch's default init. x: [..., inFeatures] → [..., outFeatures]. */
export class Linear extends Layer {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean } = {},
  ) {
    super();
    const bound = 1 / Math.sqrt(inFeatures);
    this.registerParameter("weight", uniform([outFeatures, inFeatures], bound));
    if (options.bias ?? true) this.registerParameter("bias", uniform([outFeatures], bound));
  }
  get weight(): Tensor {
    return this.parameter("weight");
  }
  get bias(): Tensor | null {
    return this.optionalParameter("bias");
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

export class ReLU extends Layer {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}

export class Identity extends Layer {
  forward(x: Tensor): Tensor {
    return x;
  }
}

export class Dropout extends Layer {
  constructor(readonly p = 0.5) {
    super();
  }
  forward(x: Tensor): Tensor {
    return this.p === 0 ? x : F.dropout(x, this.p, this.training);
  }
}

/** Zeroes whole channels with probability p while training (torch.nn.Dropout2d). */
export class Dropout2d extends Layer {
  constructor(readonly p = 0.5) {
    super();
  }
  forward(x: Tensor): Tensor {
    return this.p === 0 ? x : F.dropout2d(x, this.p, this.training);
  }
}

export class MaxPool2d extends Layer {
  constructor(
    readonly kernelSize: Pair,
    readonly options: { stride?: Pair; padding?: Pair } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.options);
  }
}

export class AdaptiveAvgPool2d extends Layer {
  constructor(readonly outputSize: Pair) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
}

/** [batch, ...] → [batch, product of the rest]. */
export class Flatten extends Layer {
  forward(x: Tensor): Tensor {
    return x.flatten(1);
  }
}

/** Applies its layers in order; children are named "0", "1", … as in torch.nn.Sequential. */
export class Sequential extends Layer {
  readonly layers: Layer[];
  constructor(...layers: Layer[]) {
    super();
    this.layers = layers;
    layers.forEach((layer, i) => this.registerModule(String(i), layer));
  }
  forward(x: Tensor): Tensor {
    let out = x;
    for (const layer of this.layers) out = layer.forward(out);
    return out;
  }
}

/** A list of modules named "0", "1", … (torch.nn.ModuleList). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[];
  constructor(items: M[] = []) {
    super();
    this.items = [];
    for (const item of items) this.push(item);
  }
  push(item: M): void {
    this.registerModule(String(this.items.length), item);
    this.items.push(item);
  }
  get length(): number {
    return this.items.length;
  }
  at(index: number): M {
    const item = this.items[index < 0 ? index + this.items.length : index];
    if (item === undefined)
      throw new RangeError(`ModuleList index ${index} out of range (length ${this.items.length})`);
    return item;
  }
}
