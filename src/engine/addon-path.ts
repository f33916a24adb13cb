/**
 * Where the built native addon lives. Kept apart from native.ts, which loads the addon as soon as it
 * is imported, so that optional users (the feature kernel) can look for it without loading it.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isMainThread } from "node:worker_threads";
import { errorMessage } from "../errors.js";

/** The addon files looked for, in order: the release build, then a debug build. */
export function addonCandidates(): string[] {
  // src/engine/ and dist/engine/ both sit two folders below the package root.
  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  return [
    join(root, "build", "Release", "stemscope_native.node"),
    join(root, "build", "Debug", "stemscope_native.node"),
  ];
}

/** The first built addon file, or undefined when none is built. */
export function findAddon(): string | undefined {
  return addonCandidates().find((p) => existsSync(p));
}

/** An optional kernel of the addon (one with a TypeScript fallback), or why it is not used here. */
export type OptionalKernel<T> = { binding: T; reason: "" } | { binding: null; reason: string };

/**
 * Loads the addon for an optional kernel: on the main thread only (the addon's module state belongs
 * to one JS environment; worker threads and the browser take the TypeScript paths), unless the
 * environment variable `disableVariable` is `0`, and only if the addon has every function in
 * `exports` (an addon built before the kernel existed lacks them).
 * @param kernel the kernel's name in messages ("feature kernel")
 */
export function loadOptionalKernel<T>(
  kernel: string,
  disableVariable: string,
  exports: readonly string[],
): OptionalKernel<T> {
  let path: string | undefined;
  try {
    // Inside the try: in a browser bundle `process` and the node: modules are stubs that throw.
    if (process.env[disableVariable] === "0")
      return { binding: null, reason: `disabled by ${disableVariable}=0` };
    if (!isMainThread) return { binding: null, reason: "not loaded on worker threads" };
    path = findAddon();
    if (path === undefined) return { binding: null, reason: "the native addon is not built" };
    const addon = createRequire(import.meta.url)(path) as Record<string, unknown>;
    if (exports.some((name) => typeof addon[name] !== "function"))
      return { binding: null, reason: `${path} predates the ${kernel} (rebuild the addon)` };
    return { binding: addon as T, reason: "" };
  } catch (error) {
    const why = errorMessage(error);
    return { binding: null, reason: `${path ?? "the native addon"} could not be loaded: ${why}` };
  }
}
