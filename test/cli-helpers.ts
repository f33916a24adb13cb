// Running the `stemscope` CLI from the sources in a child process, as a user would run it.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const tsx = new URL("../node_modules/tsx/dist/loader.mjs", import.meta.url).href;

/** What a CLI run gave: its exit code (null when killed by a signal) and its output as text. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `stemscope <args>` from src/ through tsx, synchronously.
 * @param options.cwd the working directory (default: this process's); options.env variables added
 *   to this process's environment
 */
export function runCli(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): CliRun {
  const r = spawnSync(process.execPath, ["--import", tsx, main, ...args], {
    encoding: "utf8",
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { ...process.env, ...options.env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
