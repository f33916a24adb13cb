/**
 * An output folder's lock: `<dir>/.stemscope.lock`, created exclusively (O_EXCL) and holding the
 * owner's pid, so two runs writing into one folder cannot mix their files — the second fails at once.
 * A lock whose pid is no longer running (a run killed with SIGKILL) is stale and taken over, with a
 * note. The lock is removed on release and, as a last resort, when the process exits.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmdirSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { StemscopeError } from "../errors.js";

/** The lock file's name inside a locked folder. */
export const LOCK_NAME = ".stemscope.lock";

/** Another running process holds the folder's lock. */
export class FolderLockedError extends StemscopeError {}

/** A held lock; {@link FolderLock.release} removes it (idempotent). */
export interface FolderLock {
  readonly path: string;
  release(): void;
}

/** Whether a process with this pid runs (EPERM: it runs, as another user). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The owner recorded in a lock file, or null when it cannot be read (half-written or removed). */
function readOwner(path: string): { pid: number; command: string } | null {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as { pid?: unknown; command?: unknown };
    if (typeof parsed.pid !== "number" || !Number.isInteger(parsed.pid) || parsed.pid <= 0) return null;
    return { pid: parsed.pid, command: typeof parsed.command === "string" ? parsed.command : "?" };
  } catch {
    return null;
  }
}

/**
 * Locks the output folder `dir` (created when missing) for `command` (e.g. "train"), for the whole
 * run: call `release()` when done, also on errors.
 * @param onNote told when a stale lock of a process that no longer runs is taken over
 * @throws FolderLockedError when a running process (this one included) holds the lock, naming the
 *   folder and the owner's pid
 */
export function lockFolder(
  dir: string,
  command: string,
  onNote: (message: string) => void = () => undefined,
): FolderLock {
  const created = mkdirSync(dir, { recursive: true }) !== undefined;
  const path = join(dir, LOCK_NAME);
  const record = `${JSON.stringify({ pid: process.pid, command, started: new Date().toISOString() })}\n`;
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, "wx");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 2) throw error;
      const owner = readOwner(path);
      if (owner !== null && isRunning(owner.pid)) {
        throw new FolderLockedError(
          `${dir}: in use by another stemscope ${owner.command} (pid ${owner.pid}${owner.pid === process.pid ? ", this process" : ""}; lock file ${path}); wait for it to finish, or choose another output folder`,
        );
      }
      if (owner === null) {
        // Another process may be between creating the file and writing its pid: look again shortly.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
        if (readOwner(path) !== null) continue;
      }
      onNote(
        `${dir}: took over a stale lock${owner === null ? "" : ` of stemscope ${owner.command} (pid ${owner.pid}, no longer running)`}`,
      );
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, record);
    } finally {
      closeSync(fd);
    }
    break;
  }
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.off("exit", release);
    // Remove only our own lock (a folder deleted and re-locked meanwhile is another run's).
    if (readOwner(path)?.pid === process.pid) rmSync(path, { force: true });
    // A run that failed before writing anything leaves no empty folder behind.
    if (created) {
      try {
        rmdirSync(dir);
      } catch {
        // not empty: the run wrote into it
      }
    }
  };
  process.on("exit", release);
  return { path, release };
}

/** Runs `body` with `dir` locked (see {@link lockFolder}), releasing the lock however it ends. */
export async function withFolderLock<T>(
  dir: string,
  command: string,
  body: () => Promise<T>,
  onNote?: (message: string) => void,
): Promise<T> {
  const lock = lockFolder(dir, command, onNote);
  try {
    return await body();
  } finally {
    lock.release();
  }
}
