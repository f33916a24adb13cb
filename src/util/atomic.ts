import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { isRunning } from "./lock.js";

/** A sibling temp name, so the final rename stays on one filesystem (and so is atomic). */
function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

/** A temp name of {@link tempNameFor}; group 1 is the writer's pid. */
const TEMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/u;

/**
 * Removes the temp files in `dir` that writers killed mid-write left behind (their pid no longer
 * runs); another running writer's are kept.
 * @returns how many were removed
 */
export function removeStaleTempFilesSync(dir: string): number {
  let removed = 0;
  for (const name of readdirSync(dir)) {
    const pid = TEMP_NAME.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || isRunning(Number(pid))) continue;
    rmSync(join(dir, name), { force: true });
    removed++;
  }
  return removed;
}

/**
 * Writes `data` to `path` atomically: to a temp file beside it, then rename. A reader never sees a
 * half-written file, and an interrupted write leaves the old file (or none) in place.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = tempNameFor(path);
  try {
    await writeFile(temp, data);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Synchronous twin of {@link writeFileAtomic}, for worker threads and exit paths. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = tempNameFor(path);
  try {
    writeFileSync(temp, data);
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/**
 * Writes several files all or nothing: each to a temp name beside it, then, once every one is
 * written, renames them into place. A write that fails (an unwritable folder) leaves none of them
 * behind, and no earlier file under their names is replaced.
 */
export async function writeFilesAtomic(
  files: readonly { path: string; data: string | Uint8Array }[],
): Promise<void> {
  const temps = files.map((f) => tempNameFor(f.path));
  try {
    for (const [i, f] of files.entries()) {
      await mkdir(dirname(f.path), { recursive: true });
      await writeFile(temps[i]!, f.data);
    }
    for (const [i, f] of files.entries()) await rename(temps[i]!, f.path);
  } catch (error) {
    // A temp in a folder that could not be made is not there (rm says ENOTDIR): ignore that.
    for (const temp of temps) await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}
