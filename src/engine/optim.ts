import { native } from "./native.js";
import { keep, noGrad, type Tensor, tidy, zeros } from "./tensor.js";

export interface AdamOptions {
  /** Learning rate (default 0.001). */
  lr?: number;
  /** Exponential decay rates of the first and second moment estimates (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Added to the denominator for stability (default 1e-8). */
  eps?: number;
  /** Adam: L2 penalty added to the gradient, as torch.optim.Adam; AdamW: decoupled decay. */
  weightDecay?: number;
}

/** Hyper-parameters and per-parameter moments of an Adam/AdamW optimizer, for checkpoints. */
export interface OptimizerState {
  kind: "adam" | "adamw";
  hyper: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number };
  /** `steps` (float64 [P]), `exp_avg.<i>`, `exp_avg_sq.<i>` for parameter i. */
  tensors: Map<string, Tensor>;
}

/**
 * torch.optim.Adam: the moments and the update run in one native call per step (see adamStep in
 * native/src/ops.cc), numerically as PyTorch 1.13's implementation. Create it after moving the model
 * to its device and memory format: it keeps references to the parameter tensors.
 */
export class Adam {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly params: Tensor[];
  protected readonly decoupled: boolean = false;
  readonly #expAvg: Tensor[];
  readonly #expAvgSq: Tensor[];
  readonly #steps: Tensor;

  constructor(params: Tensor[], options: AdamOptions = {}) {
    this.params = params;
    this.lr = options.lr ?? 0.001;
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? this.defaultWeightDecay();
    for (const [name, v] of [
      ["lr", this.lr],
      ["eps", this.eps],
      ["weightDecay", this.weightDecay],
    ] as const) {
      if (!(v >= 0)) throw new RangeError(`Adam: ${name} must be ≥ 0, got ${v}`);
    }
    if (!(this.beta1 >= 0 && this.beta1 < 1 && this.beta2 >= 0 && this.beta2 < 1)) {
      throw new RangeError(`Adam: betas must be in [0, 1), got [${this.beta1}, ${this.beta2}]`);
    }
    // Moments keep the parameter's memory format (channels-last stays channels-last).
    const zerosLike = (p: Tensor) => keep(tidy(() => noGrad(() => p.clone().fill(0))));
    this.#expAvg = params.map(zerosLike);
    this.#expAvgSq = params.map(zerosLike);
    this.#steps = keep(zeros([params.length], { dtype: "float64" }));
  }

  protected defaultWeightDecay(): number {
    return 0;
  }

  /** Applies one update using the gradients currently stored on the parameters. */
  step(): void {
    native.adamStep(
      this.params.map((p) => p.native),
      this.#expAvg.map((t) => t.native),
      this.#expAvgSq.map((t) => t.native),
      this.#steps.native,
      this.lr,
      this.beta1,
      this.beta2,
      this.eps,
      this.weightDecay,
      this.decoupled,
    );
  }

  /** Clears every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.params) p.setGrad(null);
  }

  /** The L2 norm of all gradients together. */
  gradNorm(): number {
    return native.gradNorm(this.params.map((p) => p.native));
  }

  /** Scales the gradients so their total L2 norm is at most `maxNorm`; returns the norm before. */
  clipGradNorm(maxNorm: number): number {
    const norm = this.gradNorm();
    if (norm > maxNorm) {
      native.scaleGrads(
        this.params.map((p) => p.native),
        maxNorm / (norm + 1e-6),
      );
    }
    return norm;
  }

  /** The optimizer's state (tensors are the live ones: save them before the next step). */
  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>([["steps", this.#steps]]);
    this.#expAvg.forEach((t, i) => tensors.set(`exp_avg.${i}`, t));
    this.#expAvgSq.forEach((t, i) => tensors.set(`exp_avg_sq.${i}`, t));
    return {
      kind: this.decoupled ? "adamw" : "adam",
      hyper: {
        lr: this.lr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: this.weightDecay,
      },
      tensors,
    };
  }

  /** Restores moments, step counts and the learning rate saved by {@link stateDict}. */
  loadStateDict(state: OptimizerState): void {
    const expected = this.decoupled ? "adamw" : "adam";
    if (state.kind !== expected) throw new Error(`optimizer state is for ${state.kind}, not ${expected}`);
    const get = (name: string): Tensor => {
      const t = state.tensors.get(name);
      if (t === undefined) throw new Error(`optimizer state has no '${name}'`);
      return t;
    };
    noGrad(() => {
      this.#steps.copyFrom(get("steps"));
      this.#expAvg.forEach((t, i) => t.copyFrom(get(`exp_avg.${i}`)));
      this.#expAvgSq.forEach((t, i) => t.copyFrom(get(`exp_avg_sq.${i}`)));
    });
    this.lr = state.hyper.lr;
  }

  dispose(): void {
    for (const t of [...this.#expAvg, ...this.#expAvgSq, this.#steps]) t.dispose();
  }
}

/** torch.optim.AdamW: weight decay decoupled from the gradient (param ← param·(1 − lr·wd)); default wd 0.01. */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;
  protected override defaultWeightDecay(): number {
    return 0.01;
  }
}

export interface PlateauOptions {
  mode?: "min" | "max";
  /** lr ← lr·factor on a plateau (default 0.1). */
  factor?: number;
  /** Epochs without improvement tolerated before reducing (default 10). */
  patience?: number;
  threshold?: number;
  thresholdMode?: "rel" | "abs";
  cooldown?: number;
  minLr?: number;
  eps?: number;
}

export interface PlateauState {
  best: number;
  numBadEpochs: number;
  cooldownCounter: number;
  lastEpoch: number;
}

/** torch.optim.lr_scheduler.ReduceLROnPlateau, step for step. */
export class ReduceLROnPlateau {
  readonly mode: "min" | "max";
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: "rel" | "abs";
  readonly cooldown: number;
  readonly minLr: number;
  readonly eps: number;
  best: number;
  numBadEpochs = 0;
  cooldownCounter = 0;
  lastEpoch = 0;

  constructor(
    readonly optimizer: { lr: number },
    options: PlateauOptions = {},
  ) {
    this.mode = options.mode ?? "min";
    this.factor = options.factor ?? 0.1;
    if (!(this.factor < 1)) throw new RangeError("ReduceLROnPlateau: factor must be < 1");
    this.patience = options.patience ?? 10;
    this.threshold = options.threshold ?? 1e-4;
    this.thresholdMode = options.thresholdMode ?? "rel";
    this.cooldown = options.cooldown ?? 0;
    this.minLr = options.minLr ?? 0;
    this.eps = options.eps ?? 1e-8;
    this.best = this.mode === "min" ? Infinity : -Infinity;
  }

  isBetter(value: number, best: number): boolean {
    if (this.mode === "min") {
      return this.thresholdMode === "rel"
        ? value < best * (1 - this.threshold)
        : value < best - this.threshold;
    }
    return this.thresholdMode === "rel" ? value > best * (this.threshold + 1) : value > best + this.threshold;
  }

  /** Records one epoch's metric; returns true when it reduced the learning rate. */
  step(metric: number): boolean {
    this.lastEpoch += 1;
    if (this.isBetter(metric, this.best)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      const old = this.optimizer.lr;
      const next = Math.max(old * this.factor, this.minLr);
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
      if (old - next > this.eps) {
        this.optimizer.lr = next;
        return true;
      }
    }
    return false;
  }

  stateDict(): PlateauState {
    return {
      best: this.best,
      numBadEpochs: this.numBadEpochs,
      cooldownCounter: this.cooldownCounter,
      lastEpoch: this.lastEpoch,
    };
  }
  loadStateDict(state: PlateauState): void {
    this.best = state.best;
    this.numBadEpochs = state.numBadEpochs;
    this.cooldownCounter = state.cooldownCounter;
    this.lastEpoch = state.lastEpoch;
  }
}
