/**
 * The feature cache of training: every sample's features (mixture + K sources) are computed once per
 * (file contents, feature config) and stored as uint16-quantised arrays, then read back in batches by
 * a loader thread while the engine trains.
 *
 * Layout: `<cacheDir>/<config hash>/<ab>/<sample key>.ssf` where the sample key is
 * sha256(config hash, sha256 of mixed.wav, sha256 of each source file); `<cacheDir>/files.json` maps
 * (path, size, mtime) to a file's sha256 so later runs need not re-read unchanged audio.
 *
 * Entry file (`.ssf`, little-endian): "SSF1", uint32 planes (1 + K), uint32 rows (nMels), uint32 cols
 * (size), then planes·rows·cols uint16 values q = round(v · 65535) of the features v ∈ [0, 1]
 * (plane 0 the mixture, plane k the k-th source). Quantisation error ≤ 7.7e-6.
 *
 * This module is also the entry point of its own worker threads (`workerData.kind` = `cache-build`
 * or `cache-load`), so it needs no sibling file.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { decodeWav, fixLength, prepareDecoded } from "../../audio/index.js";
import { StemscopeError } from "../../errors.js";
import { type FeatureConfig, FeatureConfigSchema } from "../../features/config.js";
import { featureKernel } from "../../features/native-kernel.js";
import { type SampleFeatures, sampleFeaturesBatch } from "../../features/pipeline.js";
import { writeFileAtomic, writeFileAtomicSync } from "../../util/atomic.js";
import type { SampleRef } from "./dataset.js";
import { DataError } from "../errors.js";
import { runWorkerPool, startWorker, WorkerRequests } from "../../util/workers.js";

const MAGIC = 0x31465353; // "SSF1" read as little-endian uint32
const HEADER_BYTES = 16;
const CACHE_VERSION = "stemscope-feature-cache-v1";

/** Where each sample's features are, after {@link buildFeatureCache}. */
export interface FeatureStore {
  /** Entry file of each sample, indexed like the samples given. */
  entries: string[];
  /** Planes per entry: 1 + K. */
  planes: number;
  /** nMels. */
  rows: number;
  /** Columns (time frames). */
  cols: number;
  /** Entries computed by this call. */
  computed: number;
  /** Entries found in the cache. */
  hits: number;
  /** Folder of this feature config's entries. */
  dir: string;
}

export interface BuildCacheOptions {
  /** Cache root (default `<dataDir>/.stemscope-cache`). */
  cacheDir: string;
  /** Worker threads computing missing entries (default: CPU cores). */
  jobs?: number;
  /** Called with entries done (hits included) and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** sha256 of a feature config with the cache format version; names the config's folder. */
export function featureConfigHash(config: FeatureConfig): string {
  const sorted = Object.fromEntries(Object.entries(config).sort(([a], [b]) => (a < b ? -1 : 1)));
  return createHash("sha256")
    .update(`${CACHE_VERSION}\n${JSON.stringify(sorted)}`)
    .digest("hex");
}

function entryPath(dir: string, configHash: string, fileHashes: string[]): string {
  const key = createHash("sha256")
    .update(`${configHash}\n${fileHashes.join("\n")}`)
    .digest("hex");
  return join(dir, key.slice(0, 2), `${key}.ssf`);
}

/** Quantises features (each Float32Array [rows·cols], values in [0, 1]) into an entry file's bytes. */
export function encodeEntry(planes: Float32Array[], rows: number, cols: number): Uint8Array {
  const n = rows * cols;
  const out = new Uint8Array(HEADER_BYTES + planes.length * n * 2);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, planes.length, true);
  view.setUint32(8, rows, true);
  view.setUint32(12, cols, true);
  const q = new Uint16Array(out.buffer, HEADER_BYTES, planes.length * n);
  planes.forEach((plane, p) => {
    if (plane.length !== n)
      throw new DataError(`encodeEntry: plane ${p} has ${plane.length} values, expected ${n}`);
    for (let i = 0; i < n; i++) {
      const v = plane[i]!;
      q[p * n + i] = v >= 1 ? 65535 : v > 0 ? Math.round(v * 65535) : 0;
    }
  });
  return out;
}

/** Checks an entry's header; returns its values as uint16 [planes·rows·cols]. */
export function decodeEntry(
  bytes: Uint8Array,
  path: string,
  expected: { planes: number; rows: number; cols: number },
): Uint16Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = expected.planes * expected.rows * expected.cols;
  if (
    bytes.byteLength !== HEADER_BYTES + 2 * n ||
    view.getUint32(0, true) !== MAGIC ||
    view.getUint32(4, true) !== expected.planes ||
    view.getUint32(8, true) !== expected.rows ||
    view.getUint32(12, true) !== expected.cols
  ) {
    throw new DataError(`${path}: not a valid feature cache entry (delete the cache folder to rebuild it)`);
  }
  const aligned = new Uint8Array(2 * n);
  aligned.set(bytes.subarray(HEADER_BYTES));
  return new Uint16Array(aligned.buffer);
}

function fileHash(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

// ---------------------------------------------------------------- the stat index

interface FileIndex {
  version: 1;
  /** absolute path → [size, mtimeMs, sha256] */
  files: Record<string, [number, number, string]>;
}

function readFileIndex(path: string): FileIndex {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as FileIndex;
    if (parsed.version === 1 && typeof parsed.files === "object") return parsed;
  } catch {
    // missing or damaged: start over (it is only a shortcut)
  }
  return { version: 1, files: {} };
}

// ---------------------------------------------------------------- building

interface BuildJob {
  index: number;
  files: string[];
}
interface BuildWorkerData {
  kind: "cache-build";
  config: FeatureConfig;
  configHash: string;
  dir: string;
}
type BuildReply =
  | { type: "done"; index: number; hashes: string[]; stats: [number, number][]; computed: boolean }
  | { type: "error"; message: string; userError: boolean };

/** A sample's files read, hashed and (when its entry is missing) decoded: mixture first. */
interface PreparedJob {
  reply: Extract<BuildReply, { type: "done" }>;
  path: string;
  /** null when the entry already exists. */
  audio: Float32Array[] | null;
}

function prepareJob(job: BuildJob, data: BuildWorkerData): PreparedJob {
  const bytes = job.files.map((f) => readFileSync(f));
  const stats = job.files.map((f): [number, number] => {
    const s = statSync(f);
    return [s.size, s.mtimeMs];
  });
  const hashes = bytes.map(fileHash);
  const path = entryPath(data.dir, data.configHash, hashes);
  const reply = { type: "done" as const, index: job.index, hashes, stats, computed: false };
  if (existsSync(path)) return { reply, path, audio: null };
  const audio = bytes.map((b, i) => {
    const name = job.files[i]!;
    const loaded = prepareDecoded(decodeWav(b, name), name, data.config.sampleRate);
    return fixLength(loaded.samples, Math.round(data.config.seconds * data.config.sampleRate));
  });
  return { reply, path, audio };
}

/** Sample i's planes (mixture, then its K sources) of a batch of sample features. */
function samplePlanes(features: SampleFeatures, i: number, k: number, cell: number): Float32Array[] {
  const planes = [features.mixture.subarray(i * cell, (i + 1) * cell)];
  for (let j = 0; j < k; j++)
    planes.push(features.sources.subarray((i * k + j) * cell, (i * k + j + 1) * cell));
  return planes;
}

/** Computes (or finds) one sample's entry; runs in a build worker or in-process (TypeScript features). */
function buildOne(job: BuildJob, data: BuildWorkerData): BuildReply {
  const prepared = prepareJob(job, data);
  if (prepared.audio === null) return prepared.reply;
  const audio = prepared.audio;
  const features = sampleFeaturesBatch([audio[0]!], [audio.slice(1)], data.config, { native: false });
  const { nMels, size } = data.config;
  writeFileAtomicSync(
    prepared.path,
    encodeEntry(samplePlanes(features, 0, audio.length - 1, nMels * size), nMels, size),
  );
  return { ...prepared.reply, computed: true };
}

/**
 * Builds entries with the native feature kernel (on the main thread, where the addon is loaded; the
 * kernel's own threads do the maths), in chunks of samples (see sampleFeaturesBatch).
 * @returns false (having done nothing) when the kernel is not available
 */
async function buildWithKernel(
  pending: BuildJob[],
  data: BuildWorkerData,
  threads: number,
  accept: (reply: BuildReply) => void,
): Promise<boolean> {
  if (featureKernel() === null) return false;
  const { nMels, size } = data.config;
  const chunk = 64;
  for (let start = 0; start < pending.length; start += chunk) {
    const prepared: PreparedJob[] = [];
    for (const job of pending.slice(start, start + chunk)) {
      try {
        prepared.push(prepareJob(job, data));
      } catch (error) {
        throw error instanceof StemscopeError ? new DataError(error.message) : error;
      }
    }
    const todo = prepared.filter((p) => p.audio !== null);
    if (todo.length > 0) {
      const features = sampleFeaturesBatch(
        todo.map((p) => p.audio![0]!),
        todo.map((p) => p.audio!.slice(1)),
        data.config,
        { threads },
      );
      const k = todo[0]!.audio!.length - 1;
      todo.forEach((p, i) => {
        writeFileAtomicSync(p.path, encodeEntry(samplePlanes(features, i, k, nMels * size), nMels, size));
        p.reply.computed = true;
      });
    }
    for (const p of prepared) accept(p.reply);
    // Let progress output and signals through between chunks.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return true;
}

/**
 * Makes sure every sample has a cache entry for `config`, computing missing ones on worker threads.
 * @param samples the samples (their `mixed` and `sources` paths are read)
 * @returns the entry file of each sample, in the order of `samples`
 * @throws DataError / AudioError naming the file that could not be read or decoded
 */
export async function buildFeatureCache(
  samples: readonly SampleRef[],
  featureConfig: Partial<FeatureConfig>,
  options: BuildCacheOptions,
): Promise<FeatureStore> {
  const config = FeatureConfigSchema.parse(featureConfig);
  const configHash = featureConfigHash(config);
  const dir = join(options.cacheDir, configHash.slice(0, 16));
  const indexPath = join(options.cacheDir, "files.json");
  const index = readFileIndex(indexPath);
  const planes = 1 + (samples[0]?.sources.length ?? 0);
  const entries: string[] = new Array<string>(samples.length).fill("");
  const pending: BuildJob[] = [];
  let hits = 0;
  samples.forEach((s, i) => {
    const files = [s.mixed, ...s.sources].map((f) => resolve(f));
    const hashes: string[] = [];
    for (const f of files) {
      const known = index.files[f];
      if (known === undefined) break;
      let st;
      try {
        st = statSync(f);
      } catch {
        break;
      }
      if (st.size !== known[0] || st.mtimeMs !== known[1]) break;
      hashes.push(known[2]);
    }
    if (hashes.length === files.length) {
      const path = entryPath(dir, configHash, hashes);
      if (existsSync(path)) {
        entries[i] = path;
        hits++;
        return;
      }
    }
    pending.push({ index: i, files });
  });
  const total = samples.length;
  let done = hits;
  options.onProgress?.(done, total);
  let computed = 0;
  const data: BuildWorkerData = { kind: "cache-build", config, configHash, dir };
  const accept = (reply: BuildReply): void => {
    if (reply.type === "error")
      throw reply.userError ? new DataError(reply.message) : new Error(reply.message);
    const s = samples[reply.index]!;
    const files = [s.mixed, ...s.sources].map((f) => resolve(f));
    files.forEach((f, j) => {
      index.files[f] = [reply.stats[j]![0], reply.stats[j]![1], reply.hashes[j]!];
    });
    entries[reply.index] = entryPath(dir, configHash, reply.hashes);
    if (reply.computed) computed++;
    else hits++;
    done++;
    if (done % 16 === 0 || done === total) options.onProgress?.(done, total);
  };
  const jobs = Math.max(1, Math.min(options.jobs ?? availableParallelism(), pending.length));
  if (pending.length > 0 && isMainThread && (await buildWithKernel(pending, data, jobs, accept))) {
    // done by the native kernel
  } else if (pending.length > 0 && (jobs === 1 || pending.length < 8)) {
    for (const job of pending) accept(runBuild(job, data));
  } else if (pending.length > 0) {
    await buildWithWorkers(pending, data, jobs, accept);
  }
  if (pending.length > 0) await writeFileAtomic(indexPath, JSON.stringify(index));
  return { entries, planes, rows: config.nMels, cols: config.size, computed, hits, dir };
}

function runBuild(job: BuildJob, data: BuildWorkerData): BuildReply {
  try {
    return buildOne(job, data);
  } catch (error) {
    return { type: "error", message: (error as Error).message, userError: error instanceof StemscopeError };
  }
}

async function buildWithWorkers(
  pending: BuildJob[],
  data: BuildWorkerData,
  jobs: number,
  accept: (reply: BuildReply) => void,
): Promise<void> {
  // This module is its own worker (see the worker entry at the end).
  await runWorkerPool<BuildJob, BuildJob[], BuildReply[]>({
    module: new URL(import.meta.url),
    workers: jobs,
    name: "feature cache worker",
    crashError: DataError,
    workerData: data,
    jobs: pending,
    chunkSize: 8,
    request: (chunk) => chunk,
    onReply: (replies) => {
      for (const r of replies) accept(r);
      return true;
    },
  });
}

// ---------------------------------------------------------------- loading batches

interface LoadWorkerData {
  kind: "cache-load";
}
interface LoadRequest {
  id: number;
  entries: string[];
  planes: number;
  rows: number;
  cols: number;
}
type LoadReply =
  | { type: "batch"; id: number; mixture: ArrayBuffer; sources: ArrayBuffer }
  | { type: "error"; id: number; message: string };

/** One batch of features, float32, row-major. */
export interface FeatureBatch {
  /** [batch, 1, rows, cols] */
  mixture: Float32Array;
  /** [batch, K, rows, cols] */
  sources: Float32Array;
}

/** Reads and dequantises a batch of entries (runs on the loader thread, or in-process). */
export function readBatch(request: Omit<LoadRequest, "id">): FeatureBatch {
  const { entries, planes, rows, cols } = request;
  const n = rows * cols;
  const k = planes - 1;
  const mixture = new Float32Array(entries.length * n);
  const sources = new Float32Array(entries.length * k * n);
  const scale = 1 / 65535;
  entries.forEach((path, b) => {
    const q = decodeEntry(readFileSync(path), path, { planes, rows, cols });
    for (let i = 0; i < n; i++) mixture[b * n + i] = q[i]! * scale;
    const base = b * k * n;
    for (let i = 0; i < k * n; i++) sources[base + i] = q[n + i]! * scale;
  });
  return { mixture, sources };
}

/**
 * Loads batches of cache entries on a worker thread, so reading and dequantising overlap the
 * engine's (synchronous) training step: request the next batch before running the current one.
 * The buffers are transferred from the loader thread, so the main thread copies nothing.
 */
export class BatchLoader {
  readonly #worker: WorkerRequests<LoadReply>;
  #closed = false;

  constructor(readonly store: Pick<FeatureStore, "planes" | "rows" | "cols">) {
    this.#worker = new WorkerRequests(
      startWorker(new URL(import.meta.url), { kind: "cache-load" } satisfies LoadWorkerData),
    );
  }

  /** Starts loading the given entries as one batch; the promise resolves with its features. */
  async load(entries: string[]): Promise<FeatureBatch> {
    if (this.#closed) throw new Error("BatchLoader is closed");
    const { planes, rows, cols } = this.store;
    const reply = await this.#worker.request({ entries, planes, rows, cols } satisfies Omit<
      LoadRequest,
      "id"
    >);
    if (reply.type === "error") throw new DataError(reply.message);
    return { mixture: new Float32Array(reply.mixture), sources: new Float32Array(reply.sources) };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#worker.terminate("BatchLoader closed");
  }
}

// ---------------------------------------------------------------- worker entry

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  const data = workerData as BuildWorkerData | LoadWorkerData | undefined;
  if (data?.kind === "cache-build") {
    port.on("message", (jobs: BuildJob[]) => {
      port.postMessage(jobs.map((job) => runBuild(job, data)));
    });
  } else if (data?.kind === "cache-load") {
    port.on("message", (request: LoadRequest) => {
      try {
        const batch = readBatch(request);
        const reply: LoadReply = {
          type: "batch",
          id: request.id,
          mixture: batch.mixture.buffer as ArrayBuffer,
          sources: batch.sources.buffer as ArrayBuffer,
        };
        // Transferred, not copied: the main thread gets the buffers as they are.
        port.postMessage(reply, [reply.mixture, reply.sources]);
      } catch (error) {
        port.postMessage({
          type: "error",
          id: request.id,
          message: (error as Error).message,
        } satisfies LoadReply);
      }
    });
  }
}
