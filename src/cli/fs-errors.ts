/**
 * Node's file-system errors (EACCES, EEXIST, ENOTDIR, EISDIR, …) as one-line messages for the person
 * running stemscope: the path, what was expected there, and the flag that named it. The CLI's
 * top-level handler (main.ts) uses this, so no command shows a stack trace for a path it cannot use.
 */
import { resolve } from "node:path";
import type { Command } from "commander";

/** What went wrong at a path, by Node's error code. */
const EXPLAIN: Record<string, (syscall: string) => string> = {
  EEXIST: (s) =>
    s === "mkdir"
      ? "is a file, but a folder was expected here; remove it or choose another path"
      : "already exists",
  ENOTDIR: () => "a part of this path is a file, but a folder was expected there; choose another path",
  EISDIR: () => "is a folder, but a file was expected",
  ENOENT: () => "not found",
  EACCES: (s) =>
    `permission denied (${s}): ${WRITES.has(s) ? "you cannot write here" : "you cannot read this"}`,
  EPERM: (s) => `operation not permitted (${s})`,
  EROFS: () => "is on a read-only file system; choose a writable path",
  ENOSPC: () => "no space left on the device",
  EMFILE: () => "too many open files (raise `ulimit -n`)",
  ENAMETOOLONG: () => "the path is too long",
};

const WRITES = new Set([
  "mkdir",
  "open",
  "write",
  "rename",
  "unlink",
  "rmdir",
  "rm",
  "copyfile",
  "symlink",
  "utime",
]);

/** A Node system error with a path (`error.path`), found on `error` or its `cause` chain. */
function fsErrorOf(error: unknown): NodeJS.ErrnoException | null {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const errno = e as NodeJS.ErrnoException;
    if (typeof errno.code === "string" && typeof errno.path === "string" && errno.code in EXPLAIN)
      return errno;
  }
  return null;
}

/** The flag of `command` whose value is `path` or a folder above it (e.g. `--out` for `<out>/x.wav`). */
function flagNaming(path: string, command: Command | undefined): string | undefined {
  if (command === undefined) return undefined;
  const full = resolve(path);
  const values = command.opts<Record<string, unknown>>();
  let best: { flag: string; length: number } | undefined;
  for (const option of command.options) {
    const value = values[option.attributeName()];
    if (typeof value !== "string" || value === "" || option.long === undefined) continue;
    const named = resolve(value);
    if ((full === named || full.startsWith(`${named}/`)) && named.length > (best?.length ?? -1))
      best = { flag: option.long, length: named.length };
  }
  return best?.flag;
}

/**
 * The message for a file-system error (on `error` or in its causes), e.g.
 * "runs/x: is a file, but a folder was expected here; remove it or choose another path (--out)",
 * or null when `error` is not one.
 */
export function fileSystemMessage(error: unknown, command: Command | undefined): string | null {
  const e = fsErrorOf(error);
  if (e === null) return null;
  const syscall = e.syscall ?? "access";
  const flag = flagNaming(e.path!, command);
  return `${e.path}: ${EXPLAIN[e.code!]!(syscall)}${flag === undefined ? "" : ` (${flag})`}`;
}
