/**
 * Worker-thread side of {@link FeatureWorkerPool}: computes features for a slice of clips held in a
 * SharedArrayBuffer and writes them into a shared output buffer.
 */
import { parentPort } from "node:worker_threads";
import { errorMessage } from "../errors.js";
import type { FeatureConfig } from "./config.js";
import { getExtractor } from "./pipeline.js";

/** One job: clips [first, first + count) of the batch. */
export interface WorkerJob {
  id: number;
  config: Partial<FeatureConfig>;
  /** All clips concatenated (float32). */
  samples: SharedArrayBuffer;
  /** offsets[b] .. offsets[b+1] is clip b in `samples` (int32, batch + 1 entries). */
  offsets: SharedArrayBuffer;
  /** [batch, nMels · size] float32 features. */
  output: SharedArrayBuffer;
  first: number;
  count: number;
}

/** Reply to a job: done, or the error message. */
export interface WorkerReply {
  id: number;
  error?: string;
}

if (parentPort !== null) {
  const port = parentPort;
  port.on("message", (job: WorkerJob) => {
    try {
      const extractor = getExtractor(job.config);
      const samples = new Float32Array(job.samples);
      const offsets = new Int32Array(job.offsets);
      const output = new Float32Array(job.output);
      // Work on private copies: typed arrays over SharedArrayBuffers are slower to index in V8.
      const local = new Float32Array(extractor.length);
      const result = new Float32Array(extractor.outputSize);
      for (let b = job.first; b < job.first + job.count; b++) {
        const start = offsets[b] as number;
        const n = (offsets[b + 1] as number) - start;
        local.set(samples.subarray(start, start + n));
        local.fill(0, n);
        extractor.compute(local, result, 0);
        output.set(result, b * extractor.outputSize);
      }
      port.postMessage({ id: job.id } satisfies WorkerReply);
    } catch (error) {
      port.postMessage({
        id: job.id,
        error: errorMessage(error),
      } satisfies WorkerReply);
    }
  });
}
