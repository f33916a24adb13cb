/**
 * Worker threads, the one place that starts them: from TypeScript sources or compiled code
 * ({@link startWorker}), a pool feeding a list of jobs to N workers in chunks ({@link runWorkerPool}:
 * synth, mix, building the feature cache) and a long-lived worker answering requests by id
 * ({@link WorkerRequests}: the training batch loader, the feature worker pool).
 */
import { Worker } from "node:worker_threads";
import { errorMessage, StemscopeError } from "../errors.js";

/**
 * Starts a worker thread running the module `moduleUrl`.
 *
 * Compiled code (`dist/…/x.js`) runs directly. When stemscope runs from its TypeScript sources under
 * tsx (tests, `node --import tsx src/cli/main.ts`), worker threads do not inherit tsx's loader, so
 * the worker first registers tsx (a dev dependency, present whenever `.ts` sources run) and then
 * imports the module.
 *
 * @param moduleUrl the worker module; use {@link siblingModule} to name it
 */
export function startWorker(moduleUrl: URL, workerData?: unknown): Worker {
  if (!moduleUrl.pathname.endsWith(".ts")) return new Worker(moduleUrl, { workerData });
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const code =
    `import(${JSON.stringify(tsxApi)})` +
    `.then((m) => { m.register(); return import(${JSON.stringify(moduleUrl.href)}); })` +
    `.catch((e) => { process.nextTick(() => { throw e; }); });`;
  return new Worker(code, { eval: true, workerData });
}

/**
 * The URL of module `name` (without extension) beside `importMetaUrl`, with the same extension
 * (`.ts` under tsx, `.js` when compiled).
 */
export function siblingModule(importMetaUrl: string, name: string): URL {
  const ext = importMetaUrl.endsWith(".ts") ? ".ts" : ".js";
  return new URL(`./${name}${ext}`, importMetaUrl);
}

/** A message from a worker reporting a failure; `message` is meant for the user. */
export interface WorkerFailure {
  type: "error";
  message: string;
  /** true when the error was a StemscopeError (the message alone is enough for the user). */
  userError: boolean;
  stack?: string;
}

/** The {@link WorkerFailure} a worker posts for an error it caught. */
export function workerFailure(error: unknown): WorkerFailure {
  return {
    type: "error",
    message: errorMessage(error),
    userError: error instanceof StemscopeError,
    ...(error instanceof Error && error.stack !== undefined ? { stack: error.stack } : {}),
  };
}

function isWorkerFailure(reply: unknown): reply is WorkerFailure {
  const r = reply as Partial<WorkerFailure> | null;
  return typeof r === "object" && r !== null && r.type === "error" && typeof r.userError === "boolean";
}

/** What a pool's callbacks may do while it runs. */
export interface PoolControl<Request> {
  /** Number of workers (numbered 0 … size − 1). */
  readonly size: number;
  /** Posts `message` to worker `w`. */
  send(w: number, message: Request): void;
  /** Sends worker `w` up to `chunks` more chunks of jobs (nothing once every job is sent). */
  feed(w: number, chunks?: number): void;
}

/** Options of {@link runWorkerPool}. */
export interface WorkerPoolOptions<Job, Request, Reply> {
  /** The worker module (see {@link siblingModule}). */
  module: URL;
  /** Number of workers, ≥ 1. */
  workers: number;
  /** What the workers are, for errors: "synth worker" → "synth worker 2 exited with code 1". */
  name: string;
  /** `workerData` of every worker. */
  workerData?: unknown;
  /** The jobs, sent in order, `chunkSize` per message. */
  jobs: readonly Job[];
  chunkSize: number;
  /** The message that carries one chunk of jobs. */
  request: (chunk: Job[]) => Request;
  /**
   * Called once every worker is started, e.g. to send set-up messages.
   * Default: feed every worker one chunk.
   */
  start?: (pool: PoolControl<Request>) => void;
  /**
   * Handles one reply of worker `w`. Returns true when the reply answers a chunk: the worker is then
   * fed the next one. A {@link WorkerFailure} reply never gets here: it stops the pool.
   * A throw stops the pool with that error.
   */
  onReply: (reply: Reply, w: number, pool: PoolControl<Request>) => boolean;
  /** The error for a worker that crashed or exited (default Error); the message names the worker. */
  crashError?: new (message: string, options?: { cause?: unknown }) => Error;
}

/**
 * Runs `jobs` on `workers` worker threads: starts them, feeds chunks of jobs as replies come in,
 * stops at the first error (a {@link WorkerFailure} reply, a throw of `onReply`, a crash or a
 * non-zero exit) and terminates every worker when done or stopped.
 *
 * Resolves once feeding has begun, every job is sent and every chunk answered. Replies are handled
 * in the order they arrive; a caller that needs job order uses the indices in its replies.
 *
 * @throws the first error; a failure reported by a worker as a StemscopeError is rethrown as one
 *   (its message alone), any other with the worker's stack
 */
export async function runWorkerPool<Job, Request, Reply>(
  options: WorkerPoolOptions<Job, Request, Reply>,
): Promise<void> {
  const { jobs, chunkSize, name } = options;
  const Crash = options.crashError ?? Error;
  const workers: Worker[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      let feeding = false;
      let next = 0;
      let outstanding = 0;
      const fail = (error: Error): void => {
        if (settled) return;
        settled = true;
        reject(error);
      };
      const finishIfDone = (): void => {
        if (!settled && feeding && outstanding === 0 && next >= jobs.length) {
          settled = true;
          resolve();
        }
      };
      const pool: PoolControl<Request> = {
        size: options.workers,
        send: (w, message) => workers[w]!.postMessage(message),
        feed: (w, chunks = 1) => {
          feeding = true;
          for (let c = 0; c < chunks && next < jobs.length; c++) {
            const chunk = jobs.slice(next, next + chunkSize);
            next += chunk.length;
            outstanding++;
            pool.send(w, options.request(chunk));
          }
        },
      };
      for (let w = 0; w < options.workers; w++) {
        const worker = startWorker(options.module, options.workerData);
        workers.push(worker);
        worker.on("error", (error) =>
          fail(new Crash(`${name} ${w} failed: ${error.message}`, { cause: error })),
        );
        worker.on("exit", (code) => {
          if (code !== 0) fail(new Crash(`${name} ${w} exited with code ${code}`));
        });
        worker.on("message", (reply: Reply) => {
          if (settled) return;
          if (isWorkerFailure(reply)) {
            fail(
              reply.userError
                ? new StemscopeError(reply.message)
                : new Error(`${name} ${w}: ${reply.stack ?? reply.message}`),
            );
            return;
          }
          try {
            if (options.onReply(reply, w, pool)) {
              outstanding--;
              pool.feed(w);
            }
          } catch (error) {
            fail(error as Error);
            return;
          }
          finishIfDone();
        });
      }
      try {
        if (options.start !== undefined) options.start(pool);
        else for (let w = 0; w < options.workers; w++) pool.feed(w);
      } catch (error) {
        fail(error as Error);
      }
      finishIfDone();
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * A long-lived worker answering requests by id: {@link request} posts `{ ...message, id }` and
 * resolves with the reply that carries the same `id`. The worker keeps the process alive only while
 * a request is pending; a crash rejects every pending request.
 */
export class WorkerRequests<Reply extends { id: number }> {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  #nextId = 0;
  #closed = false;

  constructor(worker: Worker) {
    this.#worker = worker;
    worker.on("message", (reply: Reply) => {
      const p = this.#pending.get(reply.id);
      if (p === undefined) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0 && !this.#closed) worker.unref(); // idle workers do not
      p.resolve(reply);
    });
    worker.on("error", (error) => {
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
    });
    worker.unref();
  }

  /** Posts `message` with a fresh `id`; resolves with the worker's reply to it. */
  request(message: object): Promise<Reply> {
    const id = this.#nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.ref(); // busy workers keep the process alive
      this.#worker.postMessage({ ...message, id });
    });
  }

  /** Terminates the worker; requests still pending are rejected with `reason`. */
  async terminate(reason: string): Promise<void> {
    this.#closed = true;
    // An unref'd worker does not keep the event loop alive until its exit event: ref it first.
    this.#worker.ref();
    await this.#worker.terminate();
    for (const p of this.#pending.values()) p.reject(new Error(reason));
    this.#pending.clear();
  }
}
