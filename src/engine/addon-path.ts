/**
 * Where the built native addon lives. Kept apart from native.ts, which loads the addon as soon as it
 * is imported, so that optional users (the feature kernel) can look for it without loading it.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

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
