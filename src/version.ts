import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | undefined;

/** stemscope's version, from its package.json (src/version.ts and dist/version.js sit one folder below it). */
export function packageVersion(): string {
  cached ??= (
    JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "package.json"), "utf8")) as {
      version: string;
    }
  ).version;
  return cached;
}
