// Linux's /proc files, read where they exist: callers treat their absence (another OS, a sandbox
// without /proc) as "unknown", never as an error.
import { readFileSync } from "node:fs";

/**
 * The text of a /proc file (e.g. `/proc/stat`, `/proc/cpuinfo`), or null where it cannot be read.
 * @param path the file's absolute path
 */
export function readProcText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
