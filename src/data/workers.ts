import { Worker } from "node:worker_threads";

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
export function startWorker(moduleUrl: URL, workerData: unknown): Worker {
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
