/**
 * Parallel feature extraction off the JS thread. With the native addon loaded, the batch goes to the
 * native kernel (src/features/native-kernel.ts), split across `threads` native threads; otherwise
 * to worker threads (node:worker_threads): clips are copied once into a SharedArrayBuffer, each
 * worker computes a contiguous slice, and all write into one shared output.
 */
import { availableParallelism } from "node:os";
import type { FeatureConfig } from "./config.js";
import { FeatureError } from "./errors.js";
import { featureKernel, kernelFeaturesBatchAsync } from "./native-kernel.js";
import { getExtractor } from "./pipeline.js";
import { siblingModule, startWorker, WorkerRequests } from "../util/workers.js";
import type { WorkerJob, WorkerReply } from "./worker.js";

/** Options of {@link FeatureWorkerPool}. */
export interface FeaturePoolOptions {
  /** Use the native kernel when the addon is available (default true); false forces worker threads. */
  native?: boolean;
}

/**
 * A fixed amount of parallelism for feature extraction: native kernel threads when the addon is
 * loaded, else worker threads (started on the first batch that needs them). Reuse one pool for many
 * batches, then {@link close} it.
 */
export class FeatureWorkerPool {
  /** Number of threads a batch is split across. */
  readonly threads: number;
  /** Where batches run: the native kernel, or TypeScript on worker threads. */
  readonly backend: "native" | "workers";
  private workers: WorkerRequests<WorkerReply>[] = [];

  /** @param threads thread count, default os.availableParallelism() */
  constructor(threads: number = availableParallelism(), options: FeaturePoolOptions = {}) {
    if (!Number.isInteger(threads) || threads < 1)
      throw new FeatureError(`FeatureWorkerPool: threads must be a positive integer, got ${threads}`);
    this.threads = threads;
    this.backend = options.native !== false && featureKernel() !== null ? "native" : "workers";
    if (this.backend === "workers") this.startWorkers();
  }

  private startWorkers(): void {
    for (let i = 0; i < this.threads; i++)
      this.workers.push(new WorkerRequests(startWorker(siblingModule(import.meta.url, "worker"))));
  }

  /**
   * Features of every clip, computed on the pool's threads (same values as computeFeaturesBatch).
   * @param clips mono clips at config.sampleRate (each fix_length'ed to seconds · sampleRate)
   * @returns Float32Array [batch, nMels, size]
   */
  async compute(clips: Float32Array[], config: Partial<FeatureConfig> = {}): Promise<Float32Array> {
    const extractor = getExtractor(config); // validates the config here, with a clear error
    if (this.backend === "native") {
      const out = await kernelFeaturesBatchAsync(extractor, clips, { threads: this.threads });
      if (out !== null) return out;
    }
    if (this.workers.length === 0) this.startWorkers();
    const offsets = new Int32Array(new SharedArrayBuffer(4 * (clips.length + 1)));
    let total = 0;
    for (let b = 0; b < clips.length; b++) {
      offsets[b] = total;
      total += Math.min((clips[b] as Float32Array).length, extractor.length); // samples past L are never read
    }
    offsets[clips.length] = total;
    const samples = new Float32Array(new SharedArrayBuffer(4 * total));
    for (let b = 0; b < clips.length; b++) {
      const clip = clips[b] as Float32Array;
      samples.set(
        clip.length > extractor.length ? clip.subarray(0, extractor.length) : clip,
        offsets[b] as number,
      );
    }
    const output = new SharedArrayBuffer(4 * clips.length * extractor.outputSize);
    const per = Math.ceil(clips.length / this.threads);
    const jobs: Promise<void>[] = [];
    for (let w = 0; w < this.threads; w++) {
      const first = w * per;
      const count = Math.min(per, clips.length - first);
      if (count <= 0) break;
      const job: Omit<WorkerJob, "id"> = {
        config: extractor.config,
        samples: samples.buffer as SharedArrayBuffer,
        offsets: offsets.buffer as SharedArrayBuffer,
        output,
        first,
        count,
      };
      jobs.push(
        this.workers[w]!.request(job).then((reply) => {
          if (reply.error !== undefined) throw new FeatureError(reply.error);
        }),
      );
    }
    await Promise.all(jobs);
    return new Float32Array(output);
  }

  /** Terminates the worker threads (if any were started). */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate("FeatureWorkerPool closed")));
  }
}

/**
 * One-shot parallel batch: starts a pool, computes, closes it. For repeated batches keep a
 * {@link FeatureWorkerPool} instead (without the native kernel, starting workers costs tens of
 * milliseconds).
 * @returns Float32Array [batch, nMels, size]
 */
export async function computeFeaturesParallel(
  clips: Float32Array[],
  config: Partial<FeatureConfig> = {},
  options: { threads?: number } & FeaturePoolOptions = {},
): Promise<Float32Array> {
  const pool = new FeatureWorkerPool(options.threads, options);
  try {
    return await pool.compute(clips, config);
  } finally {
    await pool.close();
  }
}
