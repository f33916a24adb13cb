// The engine stress sweep's configurations and the code that runs one of them (in a child process of
// scripts/stress-engine.ts, or of test/engine-stress.test.ts). Each case runs one op our models or
// trainer use, forward and backward, in the memory format, dtype and thread count under test, and
// compares its output and gradients with the same op in float64 and NCHW: libtorch's float64 CPU
// kernels are its own reference implementations (no oneDNN), so a wrong oneDNN result shows up as a
// difference, and a heap corruption as a dead child.
import {
  Adam,
  cat,
  F,
  manualSeed,
  noGrad,
  rand,
  randint,
  randn,
  setNumThreads,
  type Tensor,
  tensor,
  tidy,
  withAutocast,
} from "../../src/engine/index.js";

export const STRESS_OPS = [
  "conv2d",
  "convTranspose2d",
  "batchNormTrain",
  "batchNormEval",
  "maxPool2d",
  "adaptiveAvgPool2d",
  "linear",
  "catSlice",
  "activations",
  "mseLoss",
  "crossEntropy",
  "adam",
] as const;
export type StressOp = (typeof STRESS_OPS)[number];

/** One configuration. Spatial ops read [batch, inChannels, height, width]. */
export interface StressCase {
  op: StressOp;
  batch: number;
  inChannels: number;
  outChannels: number;
  height: number;
  width: number;
  kernel: number;
  stride: number;
  padding: number;
  format: "contiguous" | "channels_last";
  dtype: "float32" | "bf16";
  threads: number;
}

/** A readable, unique name: `conv2d k1 s2 p0 [3,8,10,10]→5 channels_last float32 t2`. */
export function caseName(c: StressCase): string {
  const spatial = `[${c.batch},${c.inChannels},${c.height},${c.width}]→${c.outChannels}`;
  return `${c.op} k${c.kernel} s${c.stride} p${c.padding} ${spatial} ${c.format} ${c.dtype} t${c.threads}`;
}

/** Input channel counts swept for convolutions: odd and even, 1–64, around SIMD widths. */
export const CONV_CHANNELS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64];
const OTHER_CHANNELS = [1, 2, 3, 4, 7, 8, 9, 16, 17, 33, 64];
const OUT_CHANNELS = [5, 16, 64, 1, 33, 8];
const BATCHES = [3, 1, 2, 4];
const SIZES: [number, number][] = [
  [10, 10],
  [7, 7],
  [16, 16],
  [9, 12],
];
const FORMATS = ["channels_last", "contiguous"] as const;
const DTYPES = ["float32", "bf16"] as const;

/**
 * The full sweep: every op × channel counts × kernel/stride pairs × both memory formats × float32 and
 * bf16 autocast on 2 threads; the remaining axes (output channels, batch, size, padding) rotate with
 * the case index so each value meets many others; and every third case again on 1 thread.
 */
export function fullSweep(): StressCase[] {
  const cases: StressCase[] = [];
  let i = 0;
  const base = (op: StressOp, inChannels: number): StressCase => {
    const [height, width] = SIZES[i % SIZES.length]!;
    const c: StressCase = {
      op,
      batch: BATCHES[i % BATCHES.length]!,
      inChannels,
      outChannels: OUT_CHANNELS[i % OUT_CHANNELS.length]!,
      height,
      width,
      kernel: 1,
      stride: 1,
      padding: 0,
      format: "channels_last",
      dtype: "float32",
      threads: 2,
    };
    i++;
    return c;
  };
  const variants = (c: StressCase, formats: readonly StressCase["format"][] = FORMATS): StressCase[] =>
    formats.flatMap((format) => DTYPES.map((dtype) => ({ ...c, format, dtype })));

  for (const inChannels of CONV_CHANNELS) {
    for (const [kernel, stride] of [
      [1, 1],
      [1, 2],
      [3, 1],
      [3, 2],
      [7, 2],
    ] as const) {
      const c = base("conv2d", inChannels);
      cases.push(
        ...variants({
          ...c,
          kernel,
          stride,
          padding: kernel === 1 ? (i % 5 === 0 ? 1 : 0) : (kernel - 1) / 2,
        }),
      );
    }
    for (const [kernel, stride] of [
      [2, 2],
      [3, 1],
      [1, 2],
      [3, 2],
    ] as const) {
      const c = base("convTranspose2d", inChannels);
      cases.push(...variants({ ...c, kernel, stride, padding: kernel === 3 ? i % 2 : 0 }));
    }
  }
  for (const channels of OTHER_CHANNELS) {
    cases.push(...variants({ ...base("batchNormTrain", channels), batch: 3 }));
    cases.push(...variants(base("batchNormEval", channels)));
    cases.push(...variants({ ...base("maxPool2d", channels), kernel: 3, stride: 2, padding: 1 }));
    cases.push(...variants({ ...base("maxPool2d", channels), kernel: 2, stride: 2, padding: 0 }));
    cases.push(...variants(base("adaptiveAvgPool2d", channels)));
    cases.push(...variants(base("catSlice", channels)));
    cases.push(...variants(base("activations", channels)));
    cases.push(...variants(base("linear", channels), ["contiguous"]));
    cases.push(...variants(base("mseLoss", channels)));
    cases.push(...variants(base("crossEntropy", channels), ["contiguous"]));
  }
  for (const channels of [1, 5, 16, 64]) {
    cases.push({ ...base("adam", channels), format: "contiguous" });
    cases.push({ ...base("adam", channels), format: "channels_last" });
  }
  const oneThread = cases.filter((_, index) => index % 3 === 0).map((c) => ({ ...c, threads: 1 }));
  return [...cases, ...oneThread];
}

/**
 * A fast subset for the test suite: the shapes that corrupted the heap on some CPU (strided 1×1
 * convolutions, channels-last, 2 threads, 1–64 channels, float32 and bf16) and one case of every other
 * op.
 */
export function quickSweep(): StressCase[] {
  const cases: StressCase[] = [];
  const conv = (inChannels: number, dtype: StressCase["dtype"], padding = 0): StressCase => ({
    op: "conv2d",
    batch: 3,
    inChannels,
    outChannels: 5,
    height: 10,
    width: 10,
    kernel: 1,
    stride: 2,
    padding,
    format: "channels_last",
    dtype,
    threads: 2,
  });
  for (const channels of [2, 3, 4, 7, 8, 9, 12, 16, 33]) cases.push(conv(channels, "float32"));
  cases.push(conv(8, "bf16"), conv(5, "float32", 1), { ...conv(64, "float32"), outChannels: 16 });
  const sweep = fullSweep();
  for (const op of STRESS_OPS) {
    if (op === "conv2d") continue;
    const first = sweep.find((c) => c.op === op && c.inChannels >= 3 && c.threads === 2);
    if (first) cases.push(first);
  }
  return cases;
}

/** What one case measured: the largest difference to the reference, relative to its largest value. */
export interface CaseResult {
  name: string;
  worstRelativeError: number;
  worstOutput: string;
  tolerance: number;
  ok: boolean;
}

interface Run {
  outputs: Map<string, Float64Array>;
}

/** float32 values of a fixed random tensor (so the tested run and the reference see the same numbers). */
function sample(shape: number[], kind: "normal" | "positive" = "normal"): Float32Array {
  return tidy(() => (kind === "normal" ? randn(shape) : rand(shape).add(0.5)).toFloat32Array());
}

function asFloat64(t: Tensor): Float64Array {
  return Float64Array.from(tidy(() => t.detach().to("float32").contiguous().toFloat32Array()));
}

/**
 * Runs the case once: reference=true in float64 NCHW on the same thread count, else as configured.
 * Returns the output and the gradient of every differentiable input.
 */
function runOnce(
  c: StressCase,
  inputs: Map<string, { data: Float32Array; shape: number[] }>,
  reference: boolean,
): Run {
  return tidy(() => {
    const outputs = new Map<string, Float64Array>();
    const leaf = (name: string, requiresGrad = true): Tensor => {
      const { data, shape } = inputs.get(name)!;
      let t = tensor(data, shape);
      // A bf16 case's reference sees the bf16-rounded inputs: rounding can reorder or tie nearly equal
      // values (max-pooling then routes the gradient elsewhere), which is bf16, not a faulty kernel.
      if (reference) t = (c.dtype === "bf16" ? t.to("bfloat16") : t).to("float64");
      else if (shape.length === 4) t = t.contiguous(c.format);
      return requiresGrad ? t.setRequiresGrad(true) : t;
    };
    const lowPrecision = !reference && c.dtype === "bf16";
    // Ops that autocast does not cast get bf16 activations, as they would from a bf16 convolution.
    const activation = (t: Tensor): Tensor => (lowPrecision ? t.to("bfloat16") : t);
    const leaves = new Map<string, Tensor>();
    const take = (name: string, requiresGrad = true): Tensor => {
      const t = leaf(name, requiresGrad);
      if (requiresGrad) leaves.set(name, t);
      return t;
    };

    if (c.op === "adam") {
      const param = take("param", false);
      const optimizer = new Adam([param], { lr: 0.01, weightDecay: 1e-4 });
      const { data, shape } = inputs.get("grad")!;
      for (let step = 0; step < 3; step++) {
        param.setGrad(
          tidy(() =>
            tensor(data, shape)
              .mul(step + 1)
              .contiguous(c.format),
          ),
        );
        optimizer.step();
      }
      outputs.set("param after 3 steps", asFloat64(param));
      optimizer.dispose();
      return { outputs };
    }

    const forward = (): Tensor => {
      switch (c.op) {
        case "conv2d":
          return F.conv2d(take("x"), take("weight"), take("bias"), { stride: c.stride, padding: c.padding });
        case "convTranspose2d":
          return F.convTranspose2d(take("x"), take("weight"), take("bias"), {
            stride: c.stride,
            padding: c.padding,
          });
        case "batchNormTrain":
        case "batchNormEval": {
          const training = c.op === "batchNormTrain";
          const mean = take("runningMean", false);
          const variance = take("runningVar", false);
          const y = F.batchNorm(activation(take("x")), mean, variance, take("weight"), take("bias"), {
            training,
          });
          if (training) {
            outputs.set("runningMean", asFloat64(mean));
            outputs.set("runningVar", asFloat64(variance));
          }
          return y;
        }
        case "maxPool2d":
          return F.maxPool2d(activation(take("x")), c.kernel, { stride: c.stride, padding: c.padding });
        case "adaptiveAvgPool2d":
          return F.adaptiveAvgPool2d(activation(take("x")), 1);
        case "linear":
          return F.linear(take("x"), take("weight"), take("bias"));
        case "catSlice": {
          // The U-Net's skip connections: cat keeps the first input's memory format; then slices.
          const both = cat([F.relu(activation(take("a"))), F.relu(activation(take("b")))], 1);
          return both.slice(1, 0, both.dim(1) - 1).slice(2, 1, c.height, 2);
        }
        case "activations": {
          const x = activation(take("x"));
          return F.relu(x).add(F.sigmoid(x).mul(x)).sub(F.softmax(x, 1).mul(2));
        }
        case "mseLoss":
          return F.mseLoss(activation(take("x")), activation(take("target", false)));
        case "crossEntropy": {
          const labels = tidy(() =>
            tensor(inputs.get("labels")!.data, inputs.get("labels")!.shape).to("int64"),
          );
          return F.crossEntropy(activation(take("x")), labels);
        }
        default:
          throw new Error(`unknown op ${c.op}`);
      }
    };
    const y = lowPrecision ? withAutocast(forward) : forward();
    const yFloat = reference ? y : y.to("float32");
    const g = inputs.get("outputGrad");
    (g ? yFloat.mul(leafOf(g, reference)).sum() : yFloat).backward();
    outputs.set("output", asFloat64(yFloat));
    for (const [name, t] of leaves) {
      const grad = t.grad;
      if (grad === null) throw new Error(`${caseName(c)}: no gradient for ${name}`);
      outputs.set(`grad ${name}`, asFloat64(grad));
    }
    return { outputs };
  });
}

function leafOf(input: { data: Float32Array; shape: number[] }, reference: boolean): Tensor {
  const t = tensor(input.data, input.shape);
  return reference ? t.to("float64") : t;
}

/** The op's input shapes; the output shape is learned from a dry run. */
function inputShapes(c: StressCase): Map<string, { shape: number[]; kind?: "positive" }> {
  const x = [c.batch, c.inChannels, c.height, c.width];
  const m = new Map<string, { shape: number[]; kind?: "positive" }>();
  switch (c.op) {
    case "conv2d":
      m.set("x", { shape: x });
      m.set("weight", { shape: [c.outChannels, c.inChannels, c.kernel, c.kernel] });
      m.set("bias", { shape: [c.outChannels] });
      break;
    case "convTranspose2d":
      m.set("x", { shape: x });
      m.set("weight", { shape: [c.inChannels, c.outChannels, c.kernel, c.kernel] });
      m.set("bias", { shape: [c.outChannels] });
      break;
    case "batchNormTrain":
    case "batchNormEval":
      m.set("x", { shape: x });
      m.set("weight", { shape: [c.inChannels] });
      m.set("bias", { shape: [c.inChannels] });
      m.set("runningMean", { shape: [c.inChannels] });
      m.set("runningVar", { shape: [c.inChannels], kind: "positive" });
      break;
    case "linear":
      m.set("x", { shape: [c.batch, c.inChannels] });
      m.set("weight", { shape: [c.outChannels, c.inChannels] });
      m.set("bias", { shape: [c.outChannels] });
      break;
    case "catSlice":
      m.set("a", { shape: x });
      m.set("b", { shape: [c.batch, c.outChannels, c.height, c.width] });
      break;
    case "mseLoss":
      m.set("x", { shape: x });
      m.set("target", { shape: x });
      break;
    case "crossEntropy":
      m.set("x", { shape: [c.batch, c.inChannels] });
      break;
    case "adam":
      m.set("param", { shape: [c.outChannels, c.inChannels, 3, 3] });
      m.set("grad", { shape: [c.outChannels, c.inChannels, 3, 3] });
      break;
    default:
      m.set("x", { shape: x });
  }
  return m;
}

/**
 * Tolerance on max|test − reference| / max|reference| (bf16: / (max|reference| + 1)): float32 sums in
 * another order; bf16 keeps 8 significant bits.
 */
export function toleranceOf(c: StressCase): number {
  return c.dtype === "bf16" ? 0.05 : 1e-4;
}

/**
 * Runs case `c` `repetitions` times with fresh random inputs (seeded), each against its float64 NCHW
 * reference, on `c.threads` threads. Throws only on a programming error; a heap corruption kills the
 * process (which is why the sweep runs every case in a child process).
 */
export function runCase(c: StressCase, repetitions: number, seed = 0): CaseResult {
  setNumThreads(c.threads);
  let worst = 0;
  let worstOutput = "";
  for (let rep = 0; rep < repetitions; rep++) {
    manualSeed(seed * 1000 + rep);
    const inputs = new Map<string, { data: Float32Array; shape: number[] }>();
    for (const [name, { shape, kind }] of inputShapes(c))
      inputs.set(name, { data: sample(shape, kind), shape });
    if (c.op === "crossEntropy") {
      const labels = tidy(() => randint(0, c.inChannels, [c.batch]).to("float32").toFloat32Array());
      inputs.set("labels", { data: labels, shape: [c.batch] });
    }
    if (c.op !== "adam" && c.op !== "mseLoss" && c.op !== "crossEntropy") {
      // The gradient flowing into the output: a fixed random tensor of its shape.
      const shape = noGrad(() => tidy(() => outputShape(c, inputs)));
      inputs.set("outputGrad", { data: sample(shape), shape });
    }
    const reference = runOnce(c, inputs, true);
    const tested = runOnce(c, inputs, false);
    for (const [name, ref] of reference.outputs) {
      const got = tested.outputs.get(name)!;
      let scale = 1e-12;
      for (const v of ref) scale = Math.max(scale, Math.abs(v));
      // Inputs are N(0, 1): a bf16 rounding error is a fraction of the terms that were summed (of order
      // 1), not of their sum, which may cancel to near 0 (a bias gradient sums hundreds of them).
      if (c.dtype === "bf16") scale += 1;
      let diff = 0;
      for (let i = 0; i < ref.length; i++) {
        const d = Math.abs(ref[i]! - got[i]!);
        diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
      }
      if (ref.length !== got.length) diff = Infinity;
      if (diff / scale > worst || worstOutput === "") {
        worst = Math.max(worst, diff / scale);
        worstOutput = name;
      }
    }
  }
  const tolerance = toleranceOf(c);
  return { name: caseName(c), worstRelativeError: worst, worstOutput, tolerance, ok: worst <= tolerance };
}

/** The op's output shape (computed by running it once in float32 NCHW). */
function outputShape(c: StressCase, inputs: Map<string, { data: Float32Array; shape: number[] }>): number[] {
  const t = (name: string): Tensor => tensor(inputs.get(name)!.data, inputs.get(name)!.shape);
  switch (c.op) {
    case "conv2d":
      return F.conv2d(t("x"), t("weight"), t("bias"), { stride: c.stride, padding: c.padding }).shape;
    case "convTranspose2d":
      return F.convTranspose2d(t("x"), t("weight"), t("bias"), { stride: c.stride, padding: c.padding })
        .shape;
    case "maxPool2d":
      return F.maxPool2d(t("x"), c.kernel, { stride: c.stride, padding: c.padding }).shape;
    case "adaptiveAvgPool2d":
      return [c.batch, c.inChannels, 1, 1];
    case "linear":
      return [c.batch, c.outChannels];
    case "catSlice":
      return [c.batch, c.inChannels + c.outChannels - 1, Math.ceil((c.height - 1) / 2), c.width];
    default:
      return inputs.get("x")!.shape;
  }
}
