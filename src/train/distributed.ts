/**
 * Data-parallel training as PyTorch's DistributedDataParallel, on the engine's process group
 * (libtorch c10d, Gloo):
 * - rank 0 opens the run (a fresh config, or the checkpoint of `resume`) and the others take its
 *   config and model folder; every rank checks it has the same data; rank 0's weights, BatchNorm
 *   statistics, optimizer moments and progress are broadcast before the first step;
 * - every epoch each rank takes its share of the same seeded order (DistributedSampler: padded by
 *   wrapping, then every worldSize-th sample), so one step sees worldSize × batchSize samples;
 * - rank 0's BatchNorm buffers are broadcast before every forward (DDP's broadcast_buffers): batch
 *   statistics stay per rank (no SyncBatchNorm), the running ones are rank 0's;
 * - after backward the gradients are averaged by bucketed all-reduce (25 MiB buckets, after the whole
 *   backward pass: overlapping it would need autograd hooks in the addon, see the README), with the
 *   losses and a stop flag, so every rank stops on the same step for a non-finite loss or an abort;
 * - the epoch's sums are added over ranks, so scheduling, early stopping and the log agree, and the
 *   ranks compare a hash of their weights after every epoch;
 * - only rank 0 writes the model folder and checkpoints.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import {
  type Adam,
  dispose,
  DistributedError,
  type Module,
  noGrad,
  type PlateauState,
  ProcessGroup,
  type ReduceLROnPlateau,
  type Tensor,
  tensor,
  tidy,
} from "../engine/index.js";
import { errorMessage, ParameterError, parseSettings } from "../errors.js";
import type { ModelFolderConfig } from "../model/folder.js";
import { fromJson, toJson } from "../util/json.js";
import { TrainConfigSchema, type TrainConfig } from "./config.js";
import { TrainError } from "./errors.js";

/**
 * How this process joins a run of `worldSize` ranks (the world size itself is the training config's
 * `worldSize`). Every rank gives the same `masterAddr`, `masterPort` and `distTimeout`.
 */
export const DistributedSettingsSchema = z
  .object({
    /** This process's rank, 0 ≤ rank < worldSize; rank 0 hosts the rendezvous and writes the model folder. */
    rank: z.number().int().min(0).default(0),
    /** Host name or address of rank 0. */
    masterAddr: z.string().min(1).default("127.0.0.1"),
    /** TCP port of rank 0's rendezvous store (PyTorch's default). */
    masterPort: z.number().int().min(1).max(65535).default(29500),
    /** Seconds the rendezvous and each collective may wait for the other ranks. */
    distTimeout: z.number().positive().default(300),
    /** Network interface for Gloo (default: $GLOO_SOCKET_IFNAME, else the one that routes to masterAddr). */
    interfaceName: z.string().min(1).optional(),
  })
  .strict();
export type DistributedSettingsInput = z.input<typeof DistributedSettingsSchema>;
export type DistributedSettings = z.output<typeof DistributedSettingsSchema>;

/** Settings each rank keeps its own of: where its copy of the data is, and its machine's threads. */
const LOCAL_SETTINGS = ["data", "cacheDir", "cacheJobs", "threads"] as const;
/** Input fields not compared between ranks (rank 0's rule). */
const UNCOMPARED = new Set<string>([...LOCAL_SETTINGS, "out", "resume"]);

/**
 * This rank's share of an epoch's `order`: with `pad`, the order is first padded by wrapping to a
 * multiple of worldSize so every rank gets as many samples (and steps); then every worldSize-th
 * sample from `rank` (torch.utils.data.DistributedSampler). Without `pad` (validation), shares
 * differ by at most one sample and together hold each sample once.
 */
export function shardIndices(
  order: readonly number[],
  rank: number,
  worldSize: number,
  pad: boolean,
): number[] {
  const length = pad ? Math.ceil(order.length / worldSize) * worldSize : order.length;
  const share: number[] = [];
  for (let i = rank; i < length; i += worldSize) share.push(order[i % order.length]!);
  return share;
}

/** sha256 of the weights' bytes (rank-independent: every rank must hold the same bits). */
function weightsDigest(model: Module): string {
  const hash = createHash("sha256");
  for (const [name, t] of model.stateDict()) {
    const dense = t.contiguous();
    hash.update(name).update(dense.bytesView());
    dense.dispose();
  }
  return hash.digest("hex").slice(0, 16);
}

/** What {@link DataParallel.start} reads and sets up on a run (structurally, the trainer's Run). */
export interface StartTarget<S> {
  /** The run's data: its digest must be the same on every rank. */
  feed: { digest(): string };
  model: Module;
  optimizer: Adam;
  scheduler: ReduceLROnPlateau;
  state: S;
}

/** One step's losses and flags, added over ranks. */
export interface StepAgreement {
  /** Σ over ranks of the batch's total loss × samples. */
  total: number;
  samples: number;
  /** Some rank was asked to stop. */
  aborted: boolean;
}

/** The ranks of a data-parallel run, seen from one of them. */
export class DataParallel {
  private constructor(
    readonly group: ProcessGroup,
    readonly settings: DistributedSettings,
  ) {}

  get rank(): number {
    return this.group.rank;
  }
  get worldSize(): number {
    return this.group.worldSize;
  }
  /** Only rank 0 writes the model folder and checkpoints. */
  get writes(): boolean {
    return this.rank === 0;
  }

  /**
   * Joins the run's ranks (null for a run of one process: nothing to join).
   * @param worldSize the training input's `worldSize` (default 1)
   * @throws ParameterError for a bad setting; DistributedError when the rendezvous fails
   */
  static async join(
    worldSize: number | undefined,
    input: DistributedSettingsInput | undefined,
  ): Promise<DataParallel | null> {
    const settings = parseSettings(DistributedSettingsSchema, input ?? {}, "distributed settings");
    const world = worldSize ?? 1;
    if (!Number.isInteger(world) || world < 1) {
      throw new ParameterError("worldSize", `\`worldSize\` must be a positive integer, got ${world}`);
    }
    if (settings.rank >= world) {
      throw new ParameterError(
        "rank",
        `\`rank\` ${settings.rank} is not below \`worldSize\` ${world}: ranks are 0 to ${world - 1}`,
      );
    }
    if (world === 1) return null;
    const group = await ProcessGroup.create({
      masterAddr: settings.masterAddr,
      masterPort: settings.masterPort,
      worldSize: world,
      rank: settings.rank,
      timeoutSeconds: settings.distTimeout,
      ...(settings.interfaceName === undefined ? {} : { interfaceName: settings.interfaceName }),
    });
    return new DataParallel(group, settings);
  }

  /**
   * The run's start on every rank: rank 0 calls `open` (which reads the checkpoint when resuming)
   * and publishes the config and model folder; the others take them, keeping their own
   * {@link LOCAL_SETTINGS}, and refuse settings that contradict rank 0's.
   */
  async shareStart<S extends { config: TrainConfig; folder: ModelFolderConfig | null }>(
    input: Partial<Record<keyof TrainConfig, unknown>>,
    open: () => S,
    remote: (config: TrainConfig, folder: ModelFolderConfig | null) => S,
  ): Promise<S> {
    if (this.rank === 0) {
      const start = open();
      await this.group.share("start", toJson({ config: start.config, folder: start.folder }));
      return start;
    }
    const text = await this.group.share("start", "", 0, "rank 0's training config");
    const shared = fromJson(text) as { config: TrainConfig; folder: ModelFolderConfig | null };
    for (const [key, mine] of Object.entries(input)) {
      const theirs = (shared.config as Record<string, unknown>)[key];
      if (mine === undefined || UNCOMPARED.has(key) || toJson(mine) === toJson(theirs)) continue;
      throw new ParameterError(
        key,
        `rank ${this.rank} was given \`${key}\` ${toJson(mine)} but rank 0 \`${key}\` ${toJson(theirs) ?? "(not set)"}; every rank must train with the same settings`,
      );
    }
    const local: Record<string, unknown> = {};
    for (const key of LOCAL_SETTINGS)
      local[key] = input[key] ?? (key === "data" ? shared.config.data : undefined);
    const config = parseSettings(TrainConfigSchema, { ...shared.config, ...local }, "training config");
    return remote(config, shared.folder);
  }

  /**
   * Before the first step: every rank has the same data (else all stop with the same error), then
   * rank 0's weights, buffers, optimizer state, schedule and progress are copied to every rank.
   * Waits for as long as the others stay alive (their feature caches may take long to build).
   */
  async start<S>(run: StartTarget<S>): Promise<void> {
    const digests = await this.group.gather(
      "data",
      run.feed.digest(),
      "every rank's training data (their feature caches)",
    );
    const differing = digests.findIndex((d) => d !== digests[0]);
    if (differing > 0) {
      throw new TrainError(
        `rank ${differing}'s training data differs from rank 0's (classes, split or audio: feature cache digest ${digests[differing]} vs ${digests[0]}); every rank needs the same \`data\` folder`,
      );
    }
    await this.group.broadcast([...run.model.stateDict().values()]);
    await this.group.broadcast([...run.optimizer.stateDict().tensors.values()]);
    const progress = toJson({
      state: run.state,
      scheduler: run.scheduler.stateDict(),
      lr: run.optimizer.lr,
    });
    const shared = fromJson(await this.group.share("progress", progress, 0, "rank 0's training state")) as {
      state: S;
      scheduler: PlateauState;
      lr: number;
    };
    if (this.rank !== 0) {
      run.state = shared.state;
      run.scheduler.loadStateDict(shared.scheduler);
      run.optimizer.lr = shared.lr;
    }
  }

  /** This rank's share of an epoch's training order (padded: every rank takes as many steps). */
  shardTrain(order: readonly number[]): number[] {
    return shardIndices(order, this.rank, this.worldSize, true);
  }

  /** This rank's share of the validation samples (each sample on one rank). */
  shardEval(indices: readonly number[]): number[] {
    return shardIndices(indices, this.rank, this.worldSize, false);
  }

  /** Rank 0's module buffers (BatchNorm running statistics) to every rank: DDP's broadcast_buffers. */
  async syncBuffers(model: Module): Promise<void> {
    await this.group.broadcast(model.namedBuffers().map(([, b]) => b));
  }

  /**
   * After backward: averages every parameter's gradient over the ranks (bucketed all-reduce; a
   * parameter without a gradient contributes zeros) and adds the step's losses and stop flags.
   */
  async averageGradients(
    params: readonly Tensor[],
    step: { total: number; samples: number; aborted: boolean },
  ): Promise<StepAgreement> {
    const grads = params.map((p) => {
      const g = p.grad;
      if (g !== null) return g;
      noGrad(() => tidy(() => p.setGrad(p.detach().mul(0))));
      return p.grad!;
    });
    const flags = tensor([step.total, step.samples, step.aborted ? 1 : 0], [3], { dtype: "float64" });
    try {
      await this.group.allReduce(grads, { op: "avg" });
      await this.group.allReduce([flags]);
      const [total, samples, aborted] = flags.toArray() as [number, number, number];
      return { total, samples, aborted: aborted > 0 };
    } finally {
      dispose([...grads, flags]);
    }
  }

  /** Each field summed over the ranks (float64). */
  async sumOver<T extends object>(values: T): Promise<T> {
    const entries = Object.entries(values) as [string, number][];
    const t = tensor(
      entries.map(([, v]) => v),
      [entries.length],
      { dtype: "float64" },
    );
    try {
      await this.group.allReduce([t]);
      const sums = t.toArray();
      return Object.fromEntries(entries.map(([k], i) => [k, sums[i]!])) as T;
    } finally {
      t.dispose();
    }
  }

  /**
   * After an epoch: every rank must hold the same weights (the same bits, as DDP guarantees); a
   * difference means the ranks diverged and the run stops.
   */
  async checkInSync(model: Module, epoch: number): Promise<void> {
    const digests = await this.group.gather(
      `weights/${epoch}`,
      weightsDigest(model),
      `every rank's weights after epoch ${epoch}`,
    );
    const differing = digests.findIndex((d) => d !== digests[0]);
    if (differing > 0) {
      throw new TrainError(
        `rank ${differing}'s weights differ from rank 0's after epoch ${epoch} (the ranks diverged); the last checkpoint is kept`,
      );
    }
  }

  /**
   * Leaves the run: after a success every rank meets once more (so rank 0's store outlives the
   * others' last call), after a failure this rank tells the others why and leaves at once.
   */
  async close(failure?: unknown): Promise<void> {
    if (failure === undefined) {
      try {
        await this.group.barrier();
      } finally {
        this.group.destroy();
      }
      return;
    }
    const reason = errorMessage(failure);
    await this.group.abandon(reason.split("\n")[0]!);
  }
}

export { DistributedError };
