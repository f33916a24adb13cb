/**
 * A process group: the ranks of a data-parallel run, joined through libtorch's own c10d (Gloo over
 * TCP, with a TCPStore rendezvous that rank 0 hosts). Collectives and waits run off the JS thread
 * and settle promises; they keep the order in which they were called, as every rank must call the
 * same collectives in the same order. A failed or timed-out collective rejects with a
 * {@link DistributedError} that names the lost rank (each rank beats a counter in the store; a rank
 * silent for 3 s is lost), and every later collective of the group fails at once.
 *
 * With a CUDA build of libtorch, NCCL would be the backend for GPU tensors; this group is Gloo, for
 * CPU tensors (see the README's distributed-training section).
 */
import { StemscopeError } from "../errors.js";
import { native, type NativeTensor } from "./native.js";
import type { Tensor } from "./tensor.js";

/** PyTorch DistributedDataParallel's default bucket size (bucket_cap_mb = 25). */
export const DEFAULT_BUCKET_BYTES = 25 * 2 ** 20;

/** Where and how a rank joins its group. Every rank gives the same masterAddr, masterPort and worldSize. */
export interface ProcessGroupOptions {
  /** Host name or address of rank 0, which hosts the rendezvous store. */
  masterAddr: string;
  /** TCP port of the rendezvous store on rank 0. */
  masterPort: number;
  /** Number of ranks. */
  worldSize: number;
  /** This process's rank, 0 ≤ rank < worldSize. */
  rank: number;
  /** Seconds the rendezvous and each collective may wait for the other ranks. */
  timeoutSeconds: number;
  /**
   * Network interface Gloo listens on (PyTorch's GLOO_SOCKET_IFNAME, read when absent). Default: the
   * address this host routes to `masterAddr` from.
   */
  interfaceName?: string;
}

/**
 * A rendezvous, collective or store call failed. `lostRanks` names the ranks that stopped (empty
 * when none is known to have); `kind` says what happened.
 */
export class DistributedError extends StemscopeError {
  constructor(
    message: string,
    readonly kind: "rendezvous" | "lost-rank" | "timeout" | "broken" | "usage",
    readonly lostRanks: number[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The addon's process group (native/src/distributed.cc). */
interface NativeProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly localAddress: string;
  readonly device: string;
  readonly destroyed: boolean;
  allReduce(tensors: NativeTensor[], op: "sum" | "avg", bucketBytes: number): Promise<void>;
  broadcast(tensors: NativeTensor[], root: number, bucketBytes: number): Promise<void>;
  barrier(): Promise<void>;
  storeSet(key: string, value: string): Promise<void>;
  storeGet(key: string): Promise<string>;
  storeWait(keys: string[], owners: number[], timeoutMs: number, what: string): Promise<void>;
  destroy(): void;
}

interface DistributedBinding {
  processGroupCreate(options: {
    masterAddr: string;
    masterPort: number;
    worldSize: number;
    rank: number;
    timeoutMs: number;
    interfaceName?: string;
  }): Promise<NativeProcessGroup>;
}

// The distributed part of the addon; kept out of NativeBinding (native.ts), which types the ops.
const binding = native as unknown as DistributedBinding;

/** Turns the addon's rejection (an Error with `kind` and `lostRanks`) into a DistributedError. */
function distributedError(error: unknown): DistributedError {
  if (error instanceof DistributedError) return error;
  if (error instanceof Error) {
    const { kind, lostRanks } = error as Error & { kind?: DistributedError["kind"]; lostRanks?: number[] };
    return new DistributedError(error.message, kind ?? "broken", lostRanks ?? [], { cause: error });
  }
  return new DistributedError(String(error), "broken", []);
}

async function settle<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw distributedError(error);
  }
}

/** Groups alive in this process: destroyed at exit, so no heartbeat thread outlives Node's teardown. */
const alive = new Set<ProcessGroup>();
let exitHook = false;

/** One rank's membership of a process group. Create with {@link ProcessGroup.create}; `destroy()` when done. */
export class ProcessGroup {
  readonly #native: NativeProcessGroup;

  private constructor(handle: NativeProcessGroup) {
    this.#native = handle;
  }

  /**
   * Joins the group: connects to (rank 0: hosts) the rendezvous store, checks that every rank has
   * the same world size and no rank was started twice, then connects Gloo between all ranks.
   * @throws DistributedError (kind `rendezvous`) naming the master address, the missing ranks or the
   *   conflict, after at most `timeoutSeconds`
   */
  static async create(options: ProcessGroupOptions): Promise<ProcessGroup> {
    const interfaceName = options.interfaceName ?? process.env.GLOO_SOCKET_IFNAME;
    const handle = await settle(() =>
      binding.processGroupCreate({
        masterAddr: options.masterAddr,
        masterPort: options.masterPort,
        worldSize: options.worldSize,
        rank: options.rank,
        timeoutMs: Math.max(1, Math.round(options.timeoutSeconds * 1000)),
        ...(interfaceName === undefined || interfaceName === "" ? {} : { interfaceName }),
      }),
    );
    const group = new ProcessGroup(handle);
    alive.add(group);
    if (!exitHook) {
      exitHook = true;
      process.once("exit", () => {
        for (const g of alive) g.destroy();
      });
    }
    return group;
  }

  get rank(): number {
    return this.#native.rank;
  }
  get worldSize(): number {
    return this.#native.worldSize;
  }
  /** The address Gloo listens on (or the interface name given). */
  get localAddress(): string {
    return this.#native.localAddress;
  }
  /** Gloo's description of its transport device. */
  get device(): string {
    return this.#native.device;
  }
  get destroyed(): boolean {
    return this.#native.destroyed;
  }

  /**
   * Sums (or averages) each tensor over all ranks, in place. The tensors travel in buckets of at
   * most `bucketBytes` (one dtype each; a larger tensor alone), one Gloo all-reduce per bucket, as
   * DistributedDataParallel does with gradients. Every rank passes tensors of the same shapes and
   * dtypes in the same order.
   * @param tensors any shapes; `avg` needs floating-point dtypes
   */
  async allReduce(
    tensors: Tensor[],
    options: { op?: "sum" | "avg"; bucketBytes?: number } = {},
  ): Promise<void> {
    if (tensors.length === 0) return;
    const handles = tensors.map((t) => t.native);
    await settle(() =>
      this.#native.allReduce(handles, options.op ?? "sum", options.bucketBytes ?? DEFAULT_BUCKET_BYTES),
    );
  }

  /** Copies rank `root`'s tensors into every other rank's, in place (bucketed as {@link allReduce}). */
  async broadcast(tensors: Tensor[], options: { root?: number; bucketBytes?: number } = {}): Promise<void> {
    if (tensors.length === 0) return;
    const handles = tensors.map((t) => t.native);
    await settle(() =>
      this.#native.broadcast(handles, options.root ?? 0, options.bucketBytes ?? DEFAULT_BUCKET_BYTES),
    );
  }

  /** Resolves once every rank has called it (a Gloo barrier, bounded by the timeout). */
  async barrier(): Promise<void> {
    await settle(() => this.#native.barrier());
  }

  /**
   * Rank `owner` publishes `value` under `key`; every other rank waits for it, as long as `owner`
   * stays alive (no deadline: rank 0 may spend long on its own work first), and gets it.
   * @param value what `owner` publishes (ignored on other ranks)
   * @returns `value` on `owner`, the published value elsewhere
   * @throws DistributedError (kind `lost-rank`) when `owner` stops before publishing
   */
  async share(key: string, value: string, owner = 0, what = `"${key}" from rank ${owner}`): Promise<string> {
    if (this.rank === owner) {
      await settle(() => this.#native.storeSet(key, value));
      return value;
    }
    await settle(() => this.#native.storeWait([key], [owner], 0, what));
    return settle(() => this.#native.storeGet(key));
  }

  /**
   * Publishes `value` under `<key>/<rank>` and returns every rank's value, waiting as long as the
   * ranks that have not published yet stay alive (a barrier without a deadline, for phases of very
   * different length on each rank, such as building a feature cache).
   * @throws DistributedError (kind `lost-rank`) naming a rank that stops before publishing
   */
  async gather(key: string, value: string, what = `"${key}" from every rank`): Promise<string[]> {
    const keys = Array.from({ length: this.worldSize }, (_, r) => `${key}/${r}`);
    await settle(() => this.#native.storeSet(keys[this.rank]!, value));
    await settle(() =>
      this.#native.storeWait(
        keys,
        keys.map((_, r) => r),
        0,
        what,
      ),
    );
    const values: string[] = [];
    for (const k of keys) values.push(await settle(() => this.#native.storeGet(k)));
    return values;
  }

  /**
   * Leaves the group after a failure of this rank: publishes `reason` (so the peers' errors say why
   * this rank stopped; given up after 2 s if rank 0 does not answer), then {@link destroy}s.
   */
  async abandon(reason: string): Promise<void> {
    if (!this.destroyed) {
      const published = settle(() => this.#native.storeSet(`failed/${this.rank}`, reason)).catch(
        () => undefined,
      );
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)));
      await Promise.race([published, limit]);
      clearTimeout(timer);
    }
    this.destroy();
  }

  /**
   * Leaves the group: stops the heartbeat and closes the connections (when a call is still pending,
   * once it returns). Peers still in a collective with this rank see it as lost. Safe to call twice.
   */
  destroy(): void {
    alive.delete(this);
    this.#native.destroy();
  }
}
