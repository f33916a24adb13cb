import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { errorMessage, StemscopeError } from "../errors.js";
import { addonCandidates, findAddon } from "./addon-path.js";

/** An opaque libtorch tensor owned by the native addon. Use the `Tensor` class, not this. */
export interface NativeTensor {
  dispose(): void;
  readonly disposed: boolean;
}

type T = NativeTensor;
type Maybe = NativeTensor | null;
type Dims = number[];
type Reduction = "mean" | "sum" | "none";

/** The functions exported by build/Release/stemscope_native.node (see native/src/ops.cc). */
/** The caching CPU allocator's counters, and glibc malloc's (mallinfo2, glibc ≥ 2.33 only). */
export interface AllocatorStats {
  /** False when STEMSCOPE_ALLOCATOR=default kept libtorch's own allocator (for heap checking). */
  caching: boolean;
  cachedBytes: number;
  limitBytes: number;
  hits: number;
  misses: number;
  mallocInUseBytes?: number;
  mallocFreeBytes?: number;
}

export interface NativeBinding {
  fromBuffer(data: ArrayBufferView, shape: Dims, dtype: string, device?: string): T;
  toBuffer(t: T): ArrayBuffer;
  viewBuffer(t: T): ArrayBuffer;
  zeros(shape: Dims, dtype?: string, device?: string): T;
  ones(shape: Dims, dtype?: string, device?: string): T;
  full(shape: Dims, value: number, dtype?: string, device?: string): T;
  randn(shape: Dims, dtype?: string, device?: string): T;
  rand(shape: Dims, dtype?: string, device?: string): T;
  randint(low: number, high: number, shape: Dims, device?: string): T;
  arange(start: number, end: number, step: number, dtype?: string): T;
  manualSeed(seed: number): void;
  shape(t: T): number[];
  dtype(t: T): string;
  device(t: T): string;
  item(t: T): number;
  requiresGrad(t: T): boolean;
  setRequiresGrad(t: T, flag: boolean): void;
  isContiguous(t: T, format?: string): boolean;
  liveCount(): number;
  dispose(t: T): void;
  to(t: T, dtype: string): T;
  toDevice(t: T, device: string): T;
  contiguous(t: T, format?: string): T;
  clone(t: T): T;
  detach(t: T): T;
  reshape(t: T, shape: Dims): T;
  permute(t: T, dims: Dims): T;
  transpose(t: T, a: number, b: number): T;
  slice(t: T, dim: number, start: number, end: number, step?: number): T;
  select(t: T, dim: number, index: number): T;
  cat(list: T[], dim: number): T;
  stack(list: T[], dim: number): T;
  squeeze(t: T, dim?: number): T;
  unsqueeze(t: T, dim: number): T;
  expand(t: T, shape: Dims): T;
  flatten(t: T, start?: number, end?: number): T;
  gather(t: T, dim: number, index: T): T;
  indexSelect(t: T, dim: number, index: T): T;
  where(condition: T, a: T, b: T): T;
  add(a: T, b: T | number): T;
  sub(a: T, b: T | number): T;
  mul(a: T, b: T | number): T;
  div(a: T, b: T | number): T;
  pow(a: T, b: T | number): T;
  maximum(a: T, b: T | number): T;
  minimum(a: T, b: T | number): T;
  eq(a: T, b: T | number): T;
  ne(a: T, b: T | number): T;
  lt(a: T, b: T | number): T;
  le(a: T, b: T | number): T;
  gt(a: T, b: T | number): T;
  ge(a: T, b: T | number): T;
  neg(t: T): T;
  abs(t: T): T;
  exp(t: T): T;
  log(t: T): T;
  log1p(t: T): T;
  sqrt(t: T): T;
  square(t: T): T;
  sign(t: T): T;
  relu(t: T): T;
  sigmoid(t: T): T;
  tanh(t: T): T;
  isfinite(t: T): T;
  logicalNot(t: T): T;
  clamp(t: T, min: number | null, max: number | null): T;
  matmul(a: T, b: T): T;
  sum(t: T, dims: Dims | null, keepdim: boolean): T;
  mean(t: T, dims: Dims | null, keepdim: boolean): T;
  amax(t: T, dims: Dims | null, keepdim: boolean): T;
  amin(t: T, dims: Dims | null, keepdim: boolean): T;
  argmax(t: T, dim: number | null, keepdim: boolean): T;
  var(t: T, dims: Dims | null, unbiased: boolean, keepdim: boolean): T;
  logsumexp(t: T, dims: Dims, keepdim: boolean): T;
  conv2d(x: T, w: T, b: Maybe, stride: Dims, padding: Dims, dilation: Dims, groups: number): T;
  convTranspose2d(
    x: T,
    w: T,
    b: Maybe,
    stride: Dims,
    padding: Dims,
    outputPadding: Dims,
    groups: number,
    dilation: Dims,
  ): T;
  batchNorm(
    x: T,
    weight: Maybe,
    bias: Maybe,
    runningMean: Maybe,
    runningVar: Maybe,
    training: boolean,
    momentum: number,
    eps: number,
  ): T;
  maxPool2d(x: T, kernel: Dims, stride: Dims, padding: Dims, dilation: Dims, ceilMode: boolean): T;
  avgPool2d(x: T, kernel: Dims, stride: Dims, padding: Dims, ceilMode: boolean, countIncludePad: boolean): T;
  adaptiveAvgPool2d(x: T, size: Dims): T;
  upsampleBilinear2d(x: T, size: Dims, alignCorners: boolean): T;
  linear(x: T, w: T, b: Maybe): T;
  dropout(x: T, p: number, training: boolean): T;
  dropout2d(x: T, p: number, training: boolean): T;
  softmax(x: T, dim: number): T;
  logSoftmax(x: T, dim: number): T;
  mseLoss(x: T, target: T, reduction: Reduction): T;
  crossEntropy(logits: T, target: T, reduction: Reduction, labelSmoothing: number, weight: Maybe): T;
  bceWithLogits(x: T, target: T, reduction: Reduction, posWeight: Maybe): T;
  copy_(dst: T, src: T): void;
  fill_(dst: T, value: number): void;
  backward(t: T, grad: Maybe, retainGraph: boolean): void;
  grad(t: T): Maybe;
  setGrad(t: T, grad: Maybe): void;
  setGradEnabled(flag: boolean): boolean;
  setAutocast(enabled: boolean, dtype?: string): boolean;
  setNumThreads(n: number): void;
  releaseFreeMemory(): number;
  allocatorStats(): AllocatorStats;
  setAllocatorCacheLimit(bytes: number): void;
  getNumThreads(): number;
  cudaAvailable(): boolean;
  buildInfo(): {
    torchVersion: string;
    mkldnn: boolean;
    openmp: boolean;
    cuda: boolean;
    parallelInfo: string;
  };
  adamStep(
    params: T[],
    expAvg: T[],
    expAvgSq: T[],
    steps: T,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    decoupled: boolean,
  ): void;
  gradNorm(params: T[]): number;
  scaleGrads(params: T[], factor: number): void;
}

/** The addon could not be loaded: usually libtorch is missing or the addon was never built. */
export class EngineLoadError extends StemscopeError {}

function loadBinding(): NativeBinding {
  const candidates = addonCandidates();
  const path = findAddon();
  if (path === undefined) {
    throw new EngineLoadError(
      `the native engine is not built (looked for ${candidates[0]}).\n` +
        "  Build it with: npm rebuild stemscope   (or, in a checkout: npm run build)\n" +
        "  It needs libtorch: on Debian/Ubuntu `sudo apt-get install libtorch-dev` (or `sudo bash scripts/setup.sh`),\n" +
        "  elsewhere download libtorch from pytorch.org and set LIBTORCH=/path/to/libtorch before building.",
    );
  }
  try {
    return createRequire(import.meta.url)(path) as NativeBinding;
  } catch (error) {
    const reason = errorMessage(error);
    // The addon's own start-up checks (e.g. STEMSCOPE_ALLOCATOR) say what is wrong themselves.
    if (reason.startsWith("stemscope: ")) throw new EngineLoadError(reason, { cause: error });
    throw new EngineLoadError(
      `the native engine at ${path} could not be loaded: ${reason}\n` +
        "  libtorch's shared libraries (libtorch.so, libtorch_cpu.so, libc10.so) must be findable:\n" +
        "  on Debian/Ubuntu install libtorch-dev; for a pytorch.org build rebuild with LIBTORCH=/path/to/libtorch\n" +
        "  (the path is baked in as an rpath) or add its lib/ folder to LD_LIBRARY_PATH.",
      { cause: error },
    );
  }
}

/** The loaded addon. libtorch starts with one intra-op thread here; we use every core by default. */
export const native: NativeBinding = loadBinding();

const envThreads = Number.parseInt(process.env.STEMSCOPE_THREADS ?? "", 10);
native.setNumThreads(Number.isFinite(envThreads) && envThreads > 0 ? envThreads : availableParallelism());
