/**
 * Where `stemscope train` stands in a data-parallel run: the flags (--world-size, --rank,
 * --master-addr, --master-port, --dist-timeout) or, as torchrun sets them, the environment variables
 * WORLD_SIZE, RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT; and `--nproc N`,
 * which starts N ranks of the same command on this machine and waits for them.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { availableParallelism } from "node:os";
import { createInterface } from "node:readline";
import { StemscopeError, UsageError } from "../errors.js";
import type { DistributedSettingsInput } from "../train/distributed.js";
import { parseFloatFlag, parseIntFlag } from "./options.js";

/** The train command's distributed flags, as commander gives them. */
export interface LaunchFlags {
  worldSize?: string;
  rank?: string;
  masterAddr?: string;
  masterPort?: string;
  distTimeout?: string;
  nproc?: string;
  threads?: string;
}

/** This process's place in the run, and the threads it should use when --threads is absent. */
export interface Launch {
  worldSize: number;
  distributed: DistributedSettingsInput;
  /** Cores of this machine divided among its ranks (torchrun: LOCAL_WORLD_SIZE). */
  defaultThreads: number | undefined;
}

/** A flag's value, else the environment variable torchrun sets, parsed as an integer. */
function intSetting(
  flag: string,
  value: string | undefined,
  variable: string,
  env: NodeJS.ProcessEnv,
  bounds: { min?: number; max?: number },
): number | undefined {
  if (value !== undefined) return parseIntFlag(flag, value, bounds);
  const fromEnv = env[variable];
  if (fromEnv === undefined || fromEnv === "") return undefined;
  return parseIntFlag(`${variable} (environment)`, fromEnv, bounds);
}

/**
 * The run this process belongs to, from the flags, else from torchrun's environment variables.
 * A world of one needs no rendezvous; its flags still have to make sense.
 * @throws UsageError naming the flag or variable that is wrong
 */
export function launchFromFlags(flags: LaunchFlags, env: NodeJS.ProcessEnv = process.env): Launch {
  const worldSize =
    intSetting("--world-size", flags.worldSize, "WORLD_SIZE", env, { min: 1, max: 65536 }) ?? 1;
  // rank < worldSize is the library's check (its message names both settings).
  const rank = intSetting("--rank", flags.rank, "RANK", env, { min: 0 }) ?? 0;
  const masterPort = intSetting("--master-port", flags.masterPort, "MASTER_PORT", env, {
    min: 1,
    max: 65535,
  });
  const masterAddr = flags.masterAddr ?? (env.MASTER_ADDR === "" ? undefined : env.MASTER_ADDR);
  // LOCAL_RANK would choose a rank's GPU; on the CPU it has no role.
  const localWorld = intSetting("--local-world-size", undefined, "LOCAL_WORLD_SIZE", env, { min: 1 });
  const distributed: DistributedSettingsInput = { rank };
  if (masterAddr !== undefined) distributed.masterAddr = masterAddr;
  if (masterPort !== undefined) distributed.masterPort = masterPort;
  if (flags.distTimeout !== undefined) {
    distributed.distTimeout = parseFloatFlag("--dist-timeout", flags.distTimeout, { min: 0.001 });
  }
  const defaultThreads =
    localWorld !== undefined && localWorld > 1
      ? Math.max(1, Math.floor(availableParallelism() / localWorld))
      : undefined;
  return { worldSize, distributed, defaultThreads };
}

/** A TCP port that nothing listens on right now (for the rendezvous of local ranks). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 29500));
    });
  });
}

/** `argv` without `--nproc N` / `--nproc=N`. */
export function withoutNproc(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--nproc") i++;
    else if (!argv[i]!.startsWith("--nproc=")) out.push(argv[i]!);
  }
  return out;
}

/** Copies a child's output lines to ours, each prefixed with its rank. */
function prefixLines(stream: NodeJS.ReadableStream | null, out: NodeJS.WritableStream, prefix: string): void {
  if (stream === null) return;
  createInterface({ input: stream }).on("line", (line) => out.write(`${prefix}${line}\n`));
}

/**
 * `--nproc N`: runs this command (minus --nproc) as ranks 0…N−1 on 127.0.0.1, each with the
 * environment torchrun would give it and an equal share of the cores unless --threads says
 * otherwise. Rank 0 prints as usual; the others' lines are prefixed with `[rank r]`. Ctrl-C is
 * passed on once (each rank stops after the step they agree on). When a rank fails, the others
 * report the lost rank themselves; any still running a minute later are stopped.
 * @throws StemscopeError naming the first rank that failed, with its exit code
 */
export async function launchLocalRanks(
  nproc: number,
  flags: LaunchFlags,
  argv: readonly string[],
): Promise<void> {
  for (const [flag, value] of [
    ["--rank", flags.rank],
    ["--master-addr", flags.masterAddr],
  ] as const) {
    if (value !== undefined)
      throw new UsageError(`--nproc starts ranks 0 to ${nproc - 1} on this machine itself; drop ${flag}`);
  }
  if (flags.worldSize !== undefined && parseIntFlag("--world-size", flags.worldSize, { min: 1 }) !== nproc) {
    throw new UsageError(`--nproc ${nproc} starts ${nproc} ranks: --world-size must be ${nproc} or absent`);
  }
  const port =
    flags.masterPort !== undefined
      ? parseIntFlag("--master-port", flags.masterPort, { min: 1, max: 65535 })
      : await freePort();
  const script = process.argv[1]!;
  const args = withoutNproc(argv);
  if (flags.threads === undefined)
    args.push("--threads", String(Math.max(1, Math.floor(availableParallelism() / nproc))));
  const children: ChildProcess[] = [];
  const exits: Promise<number>[] = [];
  process.stderr.write(`stemscope: starting ${nproc} ranks on 127.0.0.1, rendezvous port ${port}\n`);
  for (let rank = 0; rank < nproc; rank++) {
    const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
      env: {
        ...process.env,
        WORLD_SIZE: String(nproc),
        RANK: String(rank),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(nproc),
        MASTER_ADDR: "127.0.0.1",
        MASTER_PORT: String(port),
      },
      // Own process group: a terminal's Ctrl-C reaches the launcher only, which passes it on once.
      detached: true,
      stdio: rank === 0 ? ["ignore", "inherit", "inherit"] : ["ignore", "pipe", "pipe"],
    });
    prefixLines(child.stdout, process.stdout, `[rank ${rank}] `);
    prefixLines(child.stderr, process.stderr, `[rank ${rank}] `);
    children.push(child);
    exits.push(
      new Promise((resolve) => {
        child.once("error", () => resolve(1));
        child.once("exit", (code, signal) => resolve(code ?? (signal === null ? 1 : 128 + 15)));
      }),
    );
  }
  const forward = (signal: NodeJS.Signals) => (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  const onExit = forward("SIGKILL");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  process.on("exit", onExit);
  try {
    let first: { rank: number; code: number } | undefined;
    let grace: NodeJS.Timeout | undefined;
    await Promise.all(
      exits.map((exit, rank) =>
        exit.then((code) => {
          if (code === 0 || first !== undefined) return;
          first = { rank, code };
          grace = setTimeout(forward("SIGTERM"), 60_000);
        }),
      ),
    );
    clearTimeout(grace);
    if (first !== undefined) {
      throw new StemscopeError(
        `rank ${first.rank} of ${nproc} failed (exit code ${first.code}); see its message above`,
        {
          exitCode: first.code,
        },
      );
    }
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
    process.off("exit", onExit);
  }
}
