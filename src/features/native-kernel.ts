/**
 * The native batch feature kernel (native/src/features.cc in the stemscope addon): the maths of
 * {@link FeatureExtractor} — centred STFT power, sparse mel, power_to_db, then min-max + bilinear
 * resize (`seed`) or the reference-relative dB map (`native`) — in C++ for many clips at once, split
 * across threads, with the extractor's own tables (window, mel weights, resize taps) passed in so the
 * definitions live in one place. Results match the TypeScript path to ~1e-7.
 *
 * The addon is loaded lazily, on the main thread only (its module state belongs to one JS
 * environment; feature workers and data workers keep the TypeScript path), and only when
 * `STEMSCOPE_NATIVE_FEATURES` is not `0`. Without it every caller falls back to TypeScript.
 */
import { loadOptionalKernel, type OptionalKernel } from "../engine/addon-path.js";
import { FeatureError } from "./errors.js";
import type { FeatureExtractor } from "./pipeline.js";

/** What `new FeaturePlan(spec)` takes: one feature config's tables (see FeatureExtractor.kernelSpec). */
export interface FeaturePlanSpec {
  mode: "seed" | "native";
  nFft: number;
  hop: number;
  /** Centred STFT frames of `length` samples: 1 + floor(length / hop). */
  frames: number;
  /** Samples per clip (fix_length target). */
  length: number;
  nMels: number;
  /** Output columns: the resize target (`seed`), or `frames` (`native`). */
  size: number;
  topDb: number;
  amin: number;
  /** Analysis window, nFft values. */
  window: Float64Array;
  /** Sparse mel filterbank: band m has weights melWeights[melOffset[m] + i] on bins melStart[m] + i, i < melLength[m]. */
  melStart: Int32Array;
  melLength: Int32Array;
  melOffset: Int32Array;
  melWeights: Float64Array;
  /** `seed` only: out[:, j] = resizeW0[j] · in[:, resizeI0[j]] + resizeW1[j] · in[:, resizeI1[j]]. */
  resizeI0?: Int32Array;
  resizeI1?: Int32Array;
  resizeW0?: Float64Array;
  resizeW1?: Float64Array;
}

/** An opaque, immutable native copy of a {@link FeaturePlanSpec}. */
export interface NativeFeaturePlan {
  readonly mode: "seed" | "native";
  /** Values per output clip: nMels · size. */
  readonly outputSize: number;
  /** Samples per clip. */
  readonly length: number;
}

/** Which SIMD build of the kernel ran: 4 frames per AVX2 register, or 2 per SSE2 register. */
export type KernelIsa = "avx2" | "baseline";

export interface KernelBatchOptions {
  /** Threads the batch is split across (default: the machine's hardware threads). */
  threads?: number;
  /** With one packed Float32Array of B × length samples: the valid samples of each clip (rest ignored). */
  lengths?: Int32Array;
  /** `native` mode: each clip's reference power (default: its own peak mel power). */
  refPower?: Float64Array;
  /** Receives each clip's peak mel power. */
  peaks?: Float64Array;
  /** Force the SIMD build (tests); default "auto". */
  isa?: "auto" | KernelIsa;
}

/** The kernel's functions on the addon. Arguments are checked in C++; errors name the function and argument. */
export interface FeatureKernelBinding {
  FeaturePlan: new (spec: FeaturePlanSpec) => NativeFeaturePlan;
  /**
   * Fills `output` [B, nMels, size] with the features of B clips (each fix_length'ed to plan.length)
   * on this thread plus `threads − 1` others; blocks until done.
   */
  featuresBatch(
    plan: NativeFeaturePlan,
    clips: Float32Array[] | Float32Array,
    output: Float32Array,
    options?: KernelBatchOptions,
  ): KernelIsa;
  /** Same work off the JS thread; the arrays must stay untouched until the promise settles. */
  featuresBatchAsync(
    plan: NativeFeaturePlan,
    clips: Float32Array[] | Float32Array,
    output: Float32Array,
    options?: KernelBatchOptions,
  ): Promise<KernelIsa>;
  /** What "auto" picks on this CPU. */
  featureKernelIsa: KernelIsa;
}

let loaded: OptionalKernel<FeatureKernelBinding> | undefined;

/** The kernel, or null when it cannot be used here (see {@link featureKernelStatus}). */
export function featureKernel(): FeatureKernelBinding | null {
  loaded ??= loadOptionalKernel("feature kernel", "STEMSCOPE_NATIVE_FEATURES", [
    "featuresBatch",
    "FeaturePlan",
  ]);
  return loaded.binding;
}

/** Whether batched extraction runs natively here, and if not, why. */
export function featureKernelStatus(): { available: boolean; isa?: KernelIsa; reason?: string } {
  const k = featureKernel();
  return k === null
    ? { available: false, reason: loaded!.reason }
    : { available: true, isa: k.featureKernelIsa };
}

const plans = new WeakMap<FeatureExtractor, NativeFeaturePlan>();

function planFor(kernel: FeatureKernelBinding, extractor: FeatureExtractor): NativeFeaturePlan {
  let plan = plans.get(extractor);
  if (plan === undefined) {
    plan = new kernel.FeaturePlan(extractor.kernelSpec());
    plans.set(extractor, plan);
  }
  return plan;
}

function asFeatureError(error: unknown): unknown {
  if (error instanceof Error && !(error instanceof FeatureError))
    return new FeatureError(error.message, { cause: error });
  return error;
}

/** Options of {@link kernelFeaturesBatch}. */
export interface KernelFeaturesOptions {
  /** Threads (default 1). */
  threads?: number;
  /** `native` mode: each clip's reference power (default: its own peak). */
  refPower?: Float64Array;
  /** Receives each clip's peak mel power. */
  peaks?: Float64Array;
}

/**
 * Features of `clips` by the native kernel, with `extractor`'s config: the same values as
 * `extractor.compute` per clip (to ~1e-7), laid out [B, nMels, size]. Returns null (and does nothing)
 * when the kernel is unavailable.
 */
export function kernelFeaturesBatch(
  extractor: FeatureExtractor,
  clips: Float32Array[],
  options: KernelFeaturesOptions = {},
): Float32Array | null {
  const kernel = featureKernel();
  if (kernel === null) return null;
  const out = new Float32Array(clips.length * extractor.outputSize);
  try {
    kernel.featuresBatch(planFor(kernel, extractor), clips, out, {
      ...options,
      threads: options.threads ?? 1,
    });
  } catch (error) {
    throw asFeatureError(error);
  }
  return out;
}

/** {@link kernelFeaturesBatch} off the JS thread (threads default 1). */
export async function kernelFeaturesBatchAsync(
  extractor: FeatureExtractor,
  clips: Float32Array[],
  options: KernelFeaturesOptions = {},
): Promise<Float32Array | null> {
  const kernel = featureKernel();
  if (kernel === null) return null;
  const out = new Float32Array(clips.length * extractor.outputSize);
  try {
    await kernel.featuresBatchAsync(planFor(kernel, extractor), clips, out, {
      ...options,
      threads: options.threads ?? 1,
    });
  } catch (error) {
    throw asFeatureError(error);
  }
  return out;
}
