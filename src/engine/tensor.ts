import { readProcText } from "../util/proc.js";
import { type AllocatorStats, native, type NativeTensor } from "./native.js";

/** Element types the engine supports. bfloat16 data crosses to JS as raw bits in a Uint16Array. */
export type DType = "float32" | "float64" | "bfloat16" | "float16" | "int64" | "int32" | "uint8" | "bool";

/** `cpu`, or `cuda` / `cuda:N` when libtorch was built with CUDA (see `cudaAvailable()`). */
export type Device = string;

/** Memory layout of a 4-D tensor: NCHW (`contiguous`) or NHWC (`channels_last`, faster for convs on CPU). */
export type MemoryFormat = "contiguous" | "channels_last";

export type TypedArrayFor<D extends DType> = D extends "float32"
  ? Float32Array
  : D extends "float64"
    ? Float64Array
    : D extends "int64"
      ? BigInt64Array
      : D extends "int32"
        ? Int32Array
        : D extends "bfloat16" | "float16"
          ? Uint16Array
          : Uint8Array;

export type AnyTypedArray =
  Float32Array | Float64Array | BigInt64Array | Int32Array | Uint16Array | Uint8Array;

// ---------------------------------------------------------------- scopes

/**
 * Scopes free intermediate tensors deterministically (not by the garbage collector): every tensor
 * created while a scope is open belongs to it and is disposed when the scope closes, unless it is
 * returned from the scope (then it moves to the enclosing scope) or marked with `keep()`.
 */
const scopes: Set<Tensor>[] = [];

function track(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Collects the tensors inside a (possibly nested) result value of a scope. */
function collectTensors(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (value instanceof Tensor) {
    out.add(value);
  } else if (depth < 4 && Array.isArray(value)) {
    for (const v of value) collectTensors(v, out, depth + 1);
  } else if (depth < 4 && value !== null && typeof value === "object" && !ArrayBuffer.isView(value)) {
    if (value instanceof Map) {
      for (const v of value.values()) collectTensors(v, out, depth + 1);
    } else if (Object.getPrototypeOf(value) === Object.prototype) {
      for (const v of Object.values(value)) collectTensors(v, out, depth + 1);
    }
  }
}

/**
 * Runs `fn` in a new scope and disposes every tensor it created, except those in its result
 * (a tensor, or arrays / plain objects / Maps of tensors), which move to the enclosing scope.
 * `fn` must be synchronous: an async function would let other work's tensors into this scope.
 */
export function tidy<R>(fn: () => R): R {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: R;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new Error("tidy() was given an async function; tensor scopes must be synchronous");
  }
  const kept = new Set<Tensor>();
  collectTensors(result, kept);
  for (const t of scope) {
    if (kept.has(t)) track(t);
    else t.dispose();
  }
  return result;
}

/** Takes `t` out of every open scope, so it lives until `dispose()` is called on it. */
export function keep<T extends Tensor>(t: T): T {
  for (const scope of scopes) scope.delete(t);
  return t;
}

/** Disposes every tensor in `values` (tensors, arrays or objects of tensors). */
export function dispose(...values: unknown[]): void {
  const found = new Set<Tensor>();
  for (const v of values) collectTensors(v, found);
  for (const t of found) t.dispose();
}

/** Number of native tensors alive (created and not yet disposed or garbage collected). */
export function liveTensorCount(): number {
  return native.liveCount();
}

// ---------------------------------------------------------------- the tensor

function handleOf(value: Tensor | number): NativeTensor | number {
  return typeof value === "number" ? value : value.native;
}

function normaliseDim(dim: number, rank: number): number {
  return dim < 0 ? dim + rank : dim;
}

/**
 * An n-dimensional array held by libtorch, with autograd. Every op returns a new tensor; free
 * intermediates with `tidy()` or `dispose()`. Shapes are listed outermost first, e.g. `[batch, 1, 128, 128]`.
 */
export class Tensor {
  readonly native: NativeTensor;
  #shape: number[] | undefined;

  /** Wraps a native tensor (engine-internal; use the factory functions to create tensors). */
  constructor(handle: NativeTensor) {
    this.native = handle;
    track(this);
  }

  // ---- metadata
  get shape(): number[] {
    this.#shape ??= native.shape(this.native);
    return this.#shape.slice();
  }
  get rank(): number {
    return this.shape.length;
  }
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get dtype(): DType {
    return native.dtype(this.native) as DType;
  }
  get device(): Device {
    return native.device(this.native);
  }
  get isDisposed(): boolean {
    return this.native.disposed;
  }
  dim(index: number): number {
    const shape = this.shape;
    const d = shape[normaliseDim(index, shape.length)];
    if (d === undefined) throw new RangeError(`dim(${index}) out of range for shape [${shape.join(", ")}]`);
    return d;
  }
  isContiguous(format: MemoryFormat = "contiguous"): boolean {
    return native.isContiguous(this.native, format);
  }
  toString(): string {
    return `Tensor(${this.dtype}[${this.shape.join(", ")}]${this.device === "cpu" ? "" : ` @${this.device}`})`;
  }

  /** Frees the native memory now. Safe to call twice. */
  dispose(): void {
    this.native.dispose();
  }

  // ---- data out
  /** A copy of the elements in row-major order, as the typed array matching the dtype. */
  data(): AnyTypedArray {
    const buffer = native.toBuffer(this.native);
    switch (this.dtype) {
      case "float32":
        return new Float32Array(buffer);
      case "float64":
        return new Float64Array(buffer);
      case "int64":
        return new BigInt64Array(buffer);
      case "int32":
        return new Int32Array(buffer);
      case "bfloat16":
      case "float16":
        return new Uint16Array(buffer);
      default:
        return new Uint8Array(buffer);
    }
  }
  /** The elements converted to float32 (any dtype), row-major. */
  toFloat32Array(): Float32Array {
    if (this.dtype === "float32") return new Float32Array(native.toBuffer(this.native));
    const converted = native.to(this.native, "float32");
    try {
      return new Float32Array(native.toBuffer(converted));
    } finally {
      converted.dispose();
    }
  }
  /** The elements as plain JS numbers, row-major (int64 converted exactly up to 2^53). */
  toArray(): number[] {
    const d = this.data();
    return d instanceof BigInt64Array ? Array.from(d, Number) : Array.from(d);
  }
  /** The raw bytes, row-major, without copying when the tensor is a contiguous CPU tensor; the view
   * keeps the memory alive and sees later in-place changes. */
  bytesView(): Uint8Array {
    return new Uint8Array(native.viewBuffer(this.native));
  }
  /** The single value of a one-element tensor. */
  item(): number {
    return native.item(this.native);
  }

  // ---- autograd
  get requiresGrad(): boolean {
    return native.requiresGrad(this.native);
  }
  /** Marks this tensor as a leaf whose gradient autograd accumulates. Returns `this`. */
  setRequiresGrad(flag = true): this {
    native.setRequiresGrad(this.native, flag);
    return this;
  }
  /** The accumulated gradient (a new tensor handle sharing memory), or null. */
  get grad(): Tensor | null {
    const g = native.grad(this.native);
    return g === null ? null : new Tensor(g);
  }
  /** Replaces (or, with null, clears) the accumulated gradient. */
  setGrad(grad: Tensor | null): void {
    native.setGrad(this.native, grad === null ? null : grad.native);
  }
  /** Back-propagates from this tensor (a scalar, or pass `grad` of the same shape). */
  backward(grad?: Tensor, options: { retainGraph?: boolean } = {}): void {
    native.backward(this.native, grad === undefined ? null : grad.native, options.retainGraph ?? false);
  }
  detach(): Tensor {
    return new Tensor(native.detach(this.native));
  }

  // ---- conversion
  to(dtype: DType): Tensor {
    return new Tensor(native.to(this.native, dtype));
  }
  float(): Tensor {
    return this.to("float32");
  }
  toDevice(device: Device): Tensor {
    return new Tensor(native.toDevice(this.native, device));
  }
  contiguous(format: MemoryFormat = "contiguous"): Tensor {
    return new Tensor(native.contiguous(this.native, format));
  }
  clone(): Tensor {
    return new Tensor(native.clone(this.native));
  }

  // ---- shape
  reshape(shape: number[]): Tensor {
    return new Tensor(native.reshape(this.native, shape));
  }
  permute(dims: number[]): Tensor {
    return new Tensor(native.permute(this.native, dims));
  }
  transpose(a: number, b: number): Tensor {
    return new Tensor(native.transpose(this.native, a, b));
  }
  /** Elements `start` ≤ i < `end` (step `step`) along `dim`; negative indices count from the end. */
  slice(dim: number, start: number, end: number, step = 1): Tensor {
    return new Tensor(native.slice(this.native, dim, start, end, step));
  }
  /** Index `index` along `dim`, removing that dimension. */
  select(dim: number, index: number): Tensor {
    return new Tensor(native.select(this.native, dim, index));
  }
  squeeze(dim?: number): Tensor {
    return new Tensor(native.squeeze(this.native, dim));
  }
  unsqueeze(dim: number): Tensor {
    return new Tensor(native.unsqueeze(this.native, dim));
  }
  expand(shape: number[]): Tensor {
    return new Tensor(native.expand(this.native, shape));
  }
  flatten(start = 0, end = -1): Tensor {
    return new Tensor(native.flatten(this.native, start, end));
  }
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(native.gather(this.native, dim, index.native));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(native.indexSelect(this.native, dim, index.native));
  }

  // ---- elementwise (the other operand broadcasts; numbers are scalars)
  add(other: Tensor | number): Tensor {
    return new Tensor(native.add(this.native, handleOf(other)));
  }
  sub(other: Tensor | number): Tensor {
    return new Tensor(native.sub(this.native, handleOf(other)));
  }
  mul(other: Tensor | number): Tensor {
    return new Tensor(native.mul(this.native, handleOf(other)));
  }
  div(other: Tensor | number): Tensor {
    return new Tensor(native.div(this.native, handleOf(other)));
  }
  pow(other: Tensor | number): Tensor {
    return new Tensor(native.pow(this.native, handleOf(other)));
  }
  maximum(other: Tensor | number): Tensor {
    return new Tensor(native.maximum(this.native, handleOf(other)));
  }
  minimum(other: Tensor | number): Tensor {
    return new Tensor(native.minimum(this.native, handleOf(other)));
  }
  eq(other: Tensor | number): Tensor {
    return new Tensor(native.eq(this.native, handleOf(other)));
  }
  ne(other: Tensor | number): Tensor {
    return new Tensor(native.ne(this.native, handleOf(other)));
  }
  lt(other: Tensor | number): Tensor {
    return new Tensor(native.lt(this.native, handleOf(other)));
  }
  le(other: Tensor | number): Tensor {
    return new Tensor(native.le(this.native, handleOf(other)));
  }
  gt(other: Tensor | number): Tensor {
    return new Tensor(native.gt(this.native, handleOf(other)));
  }
  ge(other: Tensor | number): Tensor {
    return new Tensor(native.ge(this.native, handleOf(other)));
  }
  neg(): Tensor {
    return new Tensor(native.neg(this.native));
  }
  abs(): Tensor {
    return new Tensor(native.abs(this.native));
  }
  exp(): Tensor {
    return new Tensor(native.exp(this.native));
  }
  log(): Tensor {
    return new Tensor(native.log(this.native));
  }
  log1p(): Tensor {
    return new Tensor(native.log1p(this.native));
  }
  sqrt(): Tensor {
    return new Tensor(native.sqrt(this.native));
  }
  square(): Tensor {
    return new Tensor(native.square(this.native));
  }
  sign(): Tensor {
    return new Tensor(native.sign(this.native));
  }
  relu(): Tensor {
    return new Tensor(native.relu(this.native));
  }
  sigmoid(): Tensor {
    return new Tensor(native.sigmoid(this.native));
  }
  tanh(): Tensor {
    return new Tensor(native.tanh(this.native));
  }
  isFinite(): Tensor {
    return new Tensor(native.isfinite(this.native));
  }
  logicalNot(): Tensor {
    return new Tensor(native.logicalNot(this.native));
  }
  clamp(min: number | null, max: number | null): Tensor {
    return new Tensor(native.clamp(this.native, min, max));
  }
  matmul(other: Tensor): Tensor {
    return new Tensor(native.matmul(this.native, other.native));
  }

  // ---- reductions (dims omitted = over all elements)
  sum(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.sum(this.native, dimsOf(dims), keepdim));
  }
  mean(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.mean(this.native, dimsOf(dims), keepdim));
  }
  max(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.amax(this.native, dimsOf(dims), keepdim));
  }
  min(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.amin(this.native, dimsOf(dims), keepdim));
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.argmax(this.native, dim ?? null, keepdim));
  }
  /** Variance (unbiased by default, as torch.var). */
  variance(dims?: number | number[], options: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return new Tensor(
      native.var(this.native, dimsOf(dims), options.unbiased ?? true, options.keepdim ?? false),
    );
  }
  logsumexp(dims: number | number[], keepdim = false): Tensor {
    return new Tensor(native.logsumexp(this.native, dimsOf(dims) ?? [], keepdim));
  }

  // ---- in place, outside autograd (optimizers, running statistics, loading weights)
  /** Overwrites this tensor's values with `source` (broadcast, converted). */
  copyFrom(source: Tensor): this {
    native.copy_(this.native, source.native);
    return this;
  }
  fill(value: number): this {
    native.fill_(this.native, value);
    return this;
  }
}

function dimsOf(dims: number | number[] | undefined): number[] | null {
  if (dims === undefined) return null;
  return typeof dims === "number" ? [dims] : dims;
}

// ---------------------------------------------------------------- creation

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
}

function inferDtype(data: AnyTypedArray | number[]): DType {
  if (data instanceof Float64Array) return "float64";
  if (data instanceof BigInt64Array) return "int64";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof Uint8Array) return "uint8";
  if (data instanceof Uint16Array) {
    throw new TypeError("a Uint16Array is ambiguous: pass dtype 'bfloat16' or 'float16'");
  }
  return "float32";
}

function toTypedArray(data: number[], dtype: DType): AnyTypedArray {
  switch (dtype) {
    case "float32":
      return Float32Array.from(data);
    case "float64":
      return Float64Array.from(data);
    case "int64":
      return BigInt64Array.from(data, (v) => BigInt(Math.trunc(v)));
    case "int32":
      return Int32Array.from(data);
    case "uint8":
    case "bool":
      return Uint8Array.from(data);
    default:
      throw new TypeError(
        `tensor(): numbers cannot be converted to ${dtype} in JS; create float32 and use .to()`,
      );
  }
}

/**
 * A tensor with a copy of `data` (row-major). `shape` defaults to `[data.length]`. The dtype follows
 * the typed array (number[] → float32) unless given; bfloat16/float16 data is passed as raw bits.
 */
export function tensor(
  data: AnyTypedArray | number[],
  shape?: number[],
  options: CreateOptions = {},
): Tensor {
  const dtype = options.dtype ?? inferDtype(data);
  const array = Array.isArray(data) ? toTypedArray(data, dtype) : data;
  return new Tensor(native.fromBuffer(array, shape ?? [array.length], dtype, options.device));
}

export function zeros(shape: number[], options: CreateOptions = {}): Tensor {
  return new Tensor(native.zeros(shape, options.dtype, options.device));
}
export function ones(shape: number[], options: CreateOptions = {}): Tensor {
  return new Tensor(native.ones(shape, options.dtype, options.device));
}
export function full(shape: number[], value: number, options: CreateOptions = {}): Tensor {
  return new Tensor(native.full(shape, value, options.dtype, options.device));
}
/** Standard normal samples from libtorch's generator (seed it with `manualSeed`). */
export function randn(shape: number[], options: CreateOptions = {}): Tensor {
  return new Tensor(native.randn(shape, options.dtype, options.device));
}
/** Uniform samples in [0, 1). */
export function rand(shape: number[], options: CreateOptions = {}): Tensor {
  return new Tensor(native.rand(shape, options.dtype, options.device));
}
/** Uniform int64 samples in [low, high). */
export function randint(
  low: number,
  high: number,
  shape: number[],
  options: { device?: Device } = {},
): Tensor {
  return new Tensor(native.randint(low, high, shape, options.device));
}
export function arange(start: number, end: number, step = 1, options: { dtype?: DType } = {}): Tensor {
  return new Tensor(native.arange(start, end, step, options.dtype));
}
export function cat(tensors: Tensor[], dim = 0): Tensor {
  return new Tensor(
    native.cat(
      tensors.map((t) => t.native),
      dim,
    ),
  );
}
export function stack(tensors: Tensor[], dim = 0): Tensor {
  return new Tensor(
    native.stack(
      tensors.map((t) => t.native),
      dim,
    ),
  );
}
/** Elementwise `condition ? a : b`. */
export function where(condition: Tensor, a: Tensor, b: Tensor): Tensor {
  return new Tensor(native.where(condition.native, a.native, b.native));
}

/** Seeds libtorch's global generator (randn, rand, randint, dropout). */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}

// ---------------------------------------------------------------- global modes

/** Runs `fn` without recording autograd history (inference, parameter updates). */
export function noGrad<R>(fn: () => R): R {
  const previous = native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}

/** How many withAutocast regions are open (only the outermost one touches native state). */
let autocastDepth = 0;

/**
 * Runs `fn` under CPU autocast: convolutions and matmuls compute in `dtype` (bfloat16 by default)
 * while reductions and losses stay float32, as `torch.autocast("cpu")` does. Parameters stay float32.
 */
export function withAutocast<R>(fn: () => R, dtype: "bfloat16" = "bfloat16"): R {
  // Only the outermost region enters and leaves native autocast: each native enter increments
  // libtorch's nesting count, and the cache of bf16 weight copies is cleared only when it returns
  // to 0, so an unbalanced nested enter would keep stale copies of weights updated in place.
  if (autocastDepth > 0) {
    autocastDepth += 1;
    try {
      return fn();
    } finally {
      autocastDepth -= 1;
    }
  }
  native.setAutocast(true, dtype);
  autocastDepth = 1;
  try {
    return fn();
  } finally {
    autocastDepth = 0;
    native.setAutocast(false);
  }
}

/** Sets libtorch's intra-op thread count (defaults to the machine's cores, or $STEMSCOPE_THREADS). */
export function setNumThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1)
    throw new RangeError(`thread count must be an integer ≥ 1, got ${threads}`);
  native.setNumThreads(threads);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}
/**
 * Returns cached tensor memory to the OS. The addon installs a caching CPU allocator: freed tensor
 * buffers of 64 KiB or more are kept by size class and reused, so a training loop stops asking the OS
 * for memory after its first step (glibc alone mmapped and page-faulted large buffers anew each time,
 * and fragmented its heap until a run's RSS was six times its working set). This frees the cached
 * blocks and trims glibc's heap; the trainer calls it between epochs.
 * @returns bytes of cached blocks released
 */
export function releaseFreeMemory(): number {
  return native.releaseFreeMemory();
}

/**
 * The caching allocator's state: free bytes held, their cap, and allocations served from / past it;
 * with glibc ≥ 2.33 also glibc malloc's bytes in use and free inside its heap (mallinfo2), which tell a
 * leak (in-use bytes climb) from fragmentation (RSS climbs, in-use bytes flat).
 */
export function allocatorStats(): AllocatorStats {
  return native.allocatorStats();
}

/** Caps the free bytes the caching allocator keeps (default 8 GiB; 0 turns caching off). */
export function setAllocatorCacheLimit(bytes: number): void {
  native.setAllocatorCacheLimit(bytes);
}
/** True when libtorch was built with CUDA and a GPU is visible. */
export function cudaAvailable(): boolean {
  return native.cudaAvailable();
}
/**
 * Whether this CPU computes bfloat16 natively (x86 `avx512_bf16` or `amx_bf16` in /proc/cpuinfo);
 * null where that cannot be read (not Linux). Without it oneDNN emulates bf16 and `--bf16` training
 * is far slower than float32 (measured here on an AVX2-only AMD EPYC: 1.2 vs 14.9 samples/s).
 * @param cpuinfo the text of /proc/cpuinfo (read from the system when omitted; for tests)
 */
export function cpuHasNativeBf16(cpuinfo?: string): boolean | null {
  const text = cpuinfo ?? readProcText("/proc/cpuinfo");
  if (text === null) return null;
  const flags = /^(?:flags|Features)\s*:(.*)$/m.exec(text);
  if (flags === null) return null;
  const set = new Set((flags[1] ?? "").trim().split(/\s+/));
  return set.has("avx512_bf16") || set.has("amx_bf16") || set.has("bf16");
}
/** libtorch's version and build features (oneDNN, OpenMP, CUDA). */
export function engineInfo(): {
  torchVersion: string;
  mkldnn: boolean;
  openmp: boolean;
  cuda: boolean;
  threads: number;
} {
  const info = native.buildInfo();
  return {
    torchVersion: info.torchVersion,
    mkldnn: info.mkldnn,
    openmp: info.openmp,
    cuda: info.cuda,
    threads: native.getNumThreads(),
  };
}
