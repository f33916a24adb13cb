// npm run stress:engine [-- --quick] [--reps 2] [--allocator caching|default|both] [--ops conv2d,…]
//                          [--threads 1,2] [--dtypes float32,bf16] [--filter text] [--limit N]
//                          [--no-heap-check] [--report stress-report.json]
//
// Runs every op our models and trainer use (scripts/stress/engine-cases.ts) forward and backward over
// a grid of shapes, kernels, strides, paddings, channel counts, batch sizes, memory formats, float32
// and bf16 autocast, 1 and 2 threads — each configuration in its own child process, with glibc's heap
// checking on (libc_malloc_debug with GLIBC_TUNABLES=glibc.malloc.check=3, and MALLOC_PERTURB_ so
// freed and fresh memory is filled with junk) — and reports every configuration whose child dies
// (abort, segfault) or whose values differ from the float64 NCHW reference. `--allocator default`
// runs the children with libtorch's own allocator instead of the addon's caching one (so glibc sees
// every tensor buffer); `both` runs the sweep under each. Exit status 1 when anything failed.
import { spawnSync } from "node:child_process";
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { caseName, fullSweep, quickSweep, runCase, type StressCase } from "./stress/engine-cases.js";

const MALLOC_DEBUG = "/lib/x86_64-linux-gnu/libc_malloc_debug.so.0";

/** The environment of a checked child: glibc's heap checks and junk-filled memory, the allocator asked. */
export function heapCheckedEnv(allocator: "caching" | "default", heapCheck = true): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, STEMSCOPE_ALLOCATOR: allocator };
  if (heapCheck) {
    env.MALLOC_PERTURB_ = "165";
    // Since glibc 2.34 the malloc checks live in libc_malloc_debug, which must be preloaded.
    if (existsSync(MALLOC_DEBUG)) {
      env.LD_PRELOAD = [MALLOC_DEBUG, process.env.LD_PRELOAD].filter(Boolean).join(":");
      env.GLIBC_TUNABLES = "glibc.malloc.check=3";
    }
  }
  return env;
}

export interface ChildOutcome {
  status: "ok" | "mismatch" | "crash";
  detail: string;
  worstRelativeError?: number;
}

/** Runs one case in a child process of this script and classifies what happened. */
export function runInChild(
  c: StressCase,
  options: { reps: number; allocator: "caching" | "default"; heapCheck?: boolean; timeoutMs?: number },
): ChildOutcome {
  const script = fileURLToPath(import.meta.url);
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, script, "--case", JSON.stringify(c), "--reps", String(options.reps)],
    {
      env: heapCheckedEnv(options.allocator, options.heapCheck ?? true),
      encoding: "utf8",
      timeout: options.timeoutMs ?? 120_000,
    },
  );
  const stderr = (child.stderr ?? "").trim().split("\n").slice(-3).join(" | ");
  const last = (child.stdout ?? "").trim().split("\n").pop() ?? "";
  if (child.status !== 0 || !last.startsWith("{")) {
    const how = child.signal ? `killed by ${child.signal}` : `exit status ${child.status}`;
    return { status: "crash", detail: `${how}${stderr ? `: ${stderr}` : ""}` };
  }
  const result = JSON.parse(last) as {
    ok: boolean;
    worstRelativeError: number;
    worstOutput: string;
    tolerance: number;
  };
  return {
    status: result.ok ? "ok" : "mismatch",
    detail: `${result.worstOutput}: ${result.worstRelativeError.toExponential(2)} (tolerance ${result.tolerance})`,
    worstRelativeError: result.worstRelativeError,
  };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      case: { type: "string" },
      reps: { type: "string", default: "2" },
      quick: { type: "boolean", default: false },
      allocator: { type: "string", default: "both" },
      ops: { type: "string" },
      threads: { type: "string" },
      dtypes: { type: "string" },
      filter: { type: "string" },
      limit: { type: "string" },
      "no-heap-check": { type: "boolean", default: false },
      report: { type: "string" },
    },
  });
  const reps = Number(values.reps);
  if (!(Number.isInteger(reps) && reps >= 1))
    throw usage(`--reps must be a whole number ≥ 1, got '${values.reps}'`);

  if (values.case !== undefined) {
    // Child mode: one configuration, its result as the last line of stdout.
    const result = runCase(JSON.parse(values.case) as StressCase, reps);
    console.log(JSON.stringify(result));
    return;
  }

  const allocators =
    values.allocator === "both"
      ? (["caching", "default"] as const)
      : ([values.allocator] as ("caching" | "default")[]);
  for (const a of allocators) {
    if (a !== "caching" && a !== "default")
      throw usage(`--allocator must be caching, default or both, got '${a}'`);
  }
  const list = (v: string | undefined) => (v === undefined ? undefined : new Set(v.split(",")));
  const ops = list(values.ops);
  const threads = list(values.threads);
  const dtypes = list(values.dtypes);
  let cases = (values.quick ? quickSweep() : fullSweep()).filter(
    (c) =>
      (!ops || ops.has(c.op)) &&
      (!threads || threads.has(String(c.threads))) &&
      (!dtypes || dtypes.has(c.dtype)) &&
      (!values.filter || caseName(c).includes(values.filter)),
  );
  if (values.limit !== undefined) cases = cases.slice(0, Number(values.limit));

  const started = Date.now();
  const rows: { allocator: string; name: string; status: string; detail: string }[] = [];
  const total = cases.length * allocators.length;
  let done = 0;
  for (const allocator of allocators) {
    for (const c of cases) {
      const outcome = runInChild(c, { reps, allocator, heapCheck: !values["no-heap-check"] });
      done++;
      rows.push({ allocator, name: caseName(c), status: outcome.status, detail: outcome.detail });
      if (outcome.status !== "ok" || done % 25 === 0 || done === total) {
        const mark =
          outcome.status === "ok"
            ? ""
            : `  ${outcome.status.toUpperCase()} ${caseName(c)} — ${outcome.detail}`;
        const elapsed = ((Date.now() - started) / 1000).toFixed(0);
        console.log(`[${done}/${total}, ${elapsed} s, allocator ${allocator}]${mark}`);
      }
    }
  }
  const failed = rows.filter((r) => r.status !== "ok");
  const summary = {
    cases: cases.length,
    allocators,
    reps,
    heapCheck: !values["no-heap-check"],
    crashes: failed.filter((r) => r.status === "crash").length,
    mismatches: failed.filter((r) => r.status === "mismatch").length,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  console.log(JSON.stringify(summary));
  for (const r of failed) console.log(`${r.status}\t${r.allocator}\t${r.name}\t${r.detail}`);
  if (values.report) {
    const temp = `${values.report}.partial-${process.pid}`;
    writeFileSync(temp, JSON.stringify({ summary, rows }, null, 1));
    renameSync(temp, values.report);
  }
  process.exitCode = failed.length ? 1 : 0;
}

function usage(message: string): Error {
  console.error(`stress-engine: ${message}`);
  process.exit(2);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
