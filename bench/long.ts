// npm run bench:long [-- --minutes 1,20,120 --model <dir> --formats stereo44k,mono16k,mp3stereo44k --baseline-max 2
//                        --batch-size <n> --backend libtorch|onnx --cli compiled|tsx --keep]
//
// Long files in bounded memory (issue 13: peak RSS under 400 MB for any length). Writes test files
// of each length (synthesised: harmonic tones whose pitch moves every few seconds over quiet noise;
// 44.1 kHz stereo and 16 kHz mono 16-bit WAV, written block by block; mp3stereo44k: the 44.1 kHz
// stereo audio encoded to MP3 by lame), then runs `stemscope separate` and `stemscope predict` on
// each through the CLI in a child process, and reports wall time and the child's peak RSS
// (process.resourceUsage().maxRSS at its exit, read by a preloaded module). The CLI is the compiled
// one users run (bin/stemscope.js, with the node flags of its first line, over the TypeScript
// compiled into the bench's temporary folder, so the checkout's dist/ is not touched); `--cli tsx`
// runs src/cli/main.ts through tsx instead, whose in-memory compiler adds about 50 MB. Files are
// written to disk block by block (a 2-h 44.1 kHz stereo file is 1.3 GB; the free space is checked
// first) and removed after their runs. Baseline, in the same run: the whole-file path (separateFile
// + writeSeparation, which holds the file and its stems in memory) in a child process, for lengths
// up to --baseline-max minutes. The model: --model, else the packaged models/default. --batch-size
// (windows per forward pass: the forward's working memory grows with it, not with the file) and
// --backend are passed to the CLI. Prints one JSON line per run, then a summary line (the peak per
// length).
import { spawnSync } from "node:child_process";
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statfsSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { encodeWav } from "../src/audio/index.js";
import { defaultModelDir, loadModel, writeSeparation } from "../src/infer/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "1,20" },
    model: { type: "string" },
    formats: { type: "string", default: "stereo44k,mono16k,mp3stereo44k" },
    "baseline-max": { type: "string", default: "2" },
    "batch-size": { type: "string" },
    backend: { type: "string" },
    cli: { type: "string", default: "compiled" },
    keep: { type: "boolean", default: false },
    // internal: the whole-file baseline, run in a child process
    whole: { type: "string" },
    out: { type: "string" },
  },
});

const FORMATS = {
  stereo44k: { rate: 44100, channels: 2, mp3: false },
  mono16k: { rate: 16000, channels: 1, mp3: false },
  // the stereo44k audio as a 128 kbit/s MP3 (by lame, which scripts/setup.sh installs): decoded in
  // chunks, never whole
  mp3stereo44k: { rate: 44100, channels: 2, mp3: true },
} as const;
type FormatName = keyof typeof FORMATS;

/** Writes `minutes` of synthesised audio to `path` in 10-s blocks (never held whole). */
function writeLongWav(path: string, minutes: number, rate: number, channels: number): void {
  const frames = Math.round(minutes * 60 * rate);
  const header = encodeWav(
    Array.from({ length: channels }, () => new Float32Array(0)),
    rate,
  ).bytes;
  const fd = openSync(path, "w");
  writeSync(fd, header);
  const block = 10 * rate;
  let seed = 12345;
  for (let first = 0; first < frames; first += block) {
    const n = Math.min(block, frames - first);
    const data = Array.from({ length: channels }, () => new Float32Array(n));
    for (let i = 0; i < n; i++) {
      const t = (first + i) / rate;
      const step = Math.floor(t / 3); // a new note every 3 s
      const f1 = 110 * 2 ** (((step * 5) % 24) / 12);
      const f2 = 220 * 2 ** (((step * 7) % 19) / 12);
      seed = (Math.imul(1664525, seed) + 1013904223) >>> 0;
      const noise = 0.01 * ((seed / 2 ** 32) * 2 - 1);
      const a = 0.25 * Math.sin(2 * Math.PI * f1 * t) + 0.1 * Math.sin(4 * Math.PI * f1 * t);
      const b = 0.2 * Math.sin(2 * Math.PI * f2 * t) + 0.05 * Math.sin(6 * Math.PI * f2 * t);
      for (let c = 0; c < channels; c++) data[c]![i] = (c === 0 ? a + 0.6 * b : 0.6 * a + b) + noise;
    }
    writeSync(fd, encodeWav(data, rate).bytes.subarray(header.length));
  }
  const patched = Buffer.from(header);
  patched.writeUInt32LE(header.length - 8 + frames * channels * 2, 4);
  patched.writeUInt32LE(frames * channels * 2, header.length - 4);
  writeSync(fd, patched, 0, patched.length, 0);
  closeSync(fd);
}

/**
 * The CLI as users run it: src/ compiled (tsconfig.build.json) into `<dir>/pkg/dist`, beside a copy
 * of bin/stemscope.js and links to the checkout's node_modules, models, native build and
 * package.json (which dist/ finds by relative paths).
 * @returns the path of the launcher
 */
function compiledCli(dir: string): string {
  const pkg = join(dir, "pkg");
  mkdirSync(join(pkg, "bin"), { recursive: true });
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(
    process.execPath,
    [tsc, "-p", join(root, "tsconfig.build.json"), "--outDir", join(pkg, "dist")],
    { cwd: root, encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`compiling the CLI failed:\n${r.stdout}${r.stderr}`);
  for (const name of ["node_modules", "models", "build", "package.json"])
    symlinkSync(join(root, name), join(pkg, name));
  copyFileSync(join(root, "bin", "stemscope.js"), join(pkg, "bin", "stemscope.js"));
  return join(pkg, "bin", "stemscope.js");
}

/** Refuses to start when `dir`'s file system has less than `bytes` free (with what is needed). */
function checkFreeSpace(dir: string, bytes: number, what: string): void {
  const { bavail, bsize } = statfsSync(dir);
  const free = bavail * bsize;
  if (free < bytes)
    throw new Error(
      `${dir}: ${(free / 2 ** 30).toFixed(1)} GiB free, ${what} needs about ${(bytes / 2 ** 30).toFixed(1)} GiB`,
    );
}

/** A module preloaded into the child: writes its resource usage to $STEMSCOPE_RUSAGE at exit. */
function usageProbe(dir: string): string {
  const path = join(dir, "rusage-probe.mjs");
  writeFileSync(
    path,
    `import { writeFileSync } from "node:fs";\nprocess.on("exit", () => writeFileSync(process.env.STEMSCOPE_RUSAGE, JSON.stringify(process.resourceUsage())));\n`,
  );
  return path;
}

interface Run {
  wallSeconds: number;
  peakRssMB: number;
  cpuSeconds: number;
}

/** The node flags of bin/stemscope.js's `#!/usr/bin/env -S node …` line (what users run it with). */
function launcherFlags(): string[] {
  const first = readFileSync(join(root, "bin", "stemscope.js"), "utf8").split("\n", 1)[0]!;
  const m = /^#!\/usr\/bin\/env -S node(.*)$/.exec(first);
  return m === null
    ? []
    : m[1]!
        .trim()
        .split(/\s+/)
        .filter((f) => f !== "");
}

/** Runs `node <launcher flags> [--import tsx] --import probe <args>` and measures it. */
function measure(dir: string, probe: string, args: string[], tsx: boolean): Run {
  const usage = join(dir, "rusage.json");
  rmSync(usage, { force: true });
  const start = performance.now();
  const loader = tsx ? ["--import", "tsx"] : [];
  const r = spawnSync(process.execPath, [...launcherFlags(), ...loader, "--import", probe, ...args], {
    cwd: root,
    env: { ...process.env, STEMSCOPE_RUSAGE: usage },
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  const wallSeconds = (performance.now() - start) / 1000;
  if (r.status !== 0) throw new Error(`${args.join(" ")} failed (${r.status}):\n${r.stderr}`);
  const u = JSON.parse(readFileSync(usage, "utf8")) as {
    maxRSS: number;
    userCPUTime: number;
    systemCPUTime: number;
  };
  return {
    wallSeconds: Number(wallSeconds.toFixed(1)),
    peakRssMB: Math.round(u.maxRSS / 1024),
    cpuSeconds: Number(((u.userCPUTime + u.systemCPUTime) / 1e6).toFixed(1)),
  };
}

async function wholeFileBaseline(file: string, model: string, out: string): Promise<void> {
  const m = await loadModel(model);
  try {
    const separation = await m.separateFile(file);
    await writeSeparation(out, file, separation);
  } finally {
    m.dispose();
  }
}

async function main(): Promise<void> {
  if (values.whole !== undefined) {
    await wholeFileBaseline(values.whole, values.model!, values.out!);
    return;
  }
  const model = values.model ?? defaultModelDir();
  if (!existsSync(join(model, "config.json"))) throw new Error(`${model}: no model folder (pass --model)`);
  const minutes = values.minutes.split(",").map(Number);
  const formats = values.formats.split(",") as FormatName[];
  const baselineMax = Number(values["baseline-max"]);
  const dir = mkdtempSync(join(tmpdir(), "stemscope-bench-long-"));
  const probe = usageProbe(dir);
  const tsxCli = values.cli === "tsx";
  if (!tsxCli && values.cli !== "compiled") throw new Error(`--cli ${values.cli}: expected compiled or tsx`);
  const cli = tsxCli ? join(root, "src", "cli", "main.ts") : compiledCli(dir);
  const results: Record<string, unknown>[] = [];
  try {
    for (const m of minutes) {
      for (const format of formats) {
        if (!(format in FORMATS))
          throw new Error(`--formats ${format}: expected ${Object.keys(FORMATS).join(", ")}`);
        const { rate, channels, mp3 } = FORMATS[format];
        const wav = join(dir, `${format}-${m}min.wav`);
        // the input, its stems (K of its size), the spilled mono mixture and planes (≈ its size)
        const inputBytes = m * 60 * rate * channels * 2;
        checkFreeSpace(dir, 6 * inputBytes, `${m} min of ${format}`);
        writeLongWav(wav, m, rate, channels);
        const file = mp3 ? wav.replace(/\.wav$/, ".mp3") : wav;
        if (mp3) {
          const r = spawnSync("lame", ["--quiet", "-b", "128", wav, file], { encoding: "utf8" });
          if (r.status !== 0)
            throw new Error(`lame failed (is it installed? scripts/setup.sh does): ${r.stderr ?? r.error}`);
          rmSync(wav);
        }
        const passed = [
          ...(values["batch-size"] === undefined ? [] : ["--batch-size", values["batch-size"]]),
          ...(values.backend === undefined ? [] : ["--backend", values.backend]),
        ];
        // [command, arguments of node, whether through tsx]
        const runs: [string, string[], boolean][] = [
          [
            "separate",
            [cli, "separate", file, "--model", model, "--out", join(dir, "out"), "--quiet", ...passed],
            tsxCli,
          ],
          ["predict", [cli, "predict", file, "--model", model, "--json", ...passed], tsxCli],
        ];
        if (m <= baselineMax) {
          const self = fileURLToPath(import.meta.url);
          runs.push([
            "separate-whole-file (baseline)",
            [self, "--whole", file, "--model", model, "--out", join(dir, "out-whole")],
            true,
          ]);
        }
        for (const [command, args, tsx] of runs) {
          const run = measure(dir, probe, args, tsx);
          const line = {
            command,
            format,
            minutes: m,
            batchSize: values["batch-size"] ?? "default",
            backend: values.backend ?? "libtorch",
            cli: tsx ? "tsx" : "compiled",
            ...run,
          };
          results.push(line);
          process.stdout.write(`${JSON.stringify(line)}\n`);
        }
        rmSync(join(dir, "out"), { recursive: true, force: true });
        rmSync(join(dir, "out-whole"), { recursive: true, force: true });
        if (!values.keep) rmSync(file, { force: true });
      }
    }
  } finally {
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`kept ${dir}\n`);
  }
  const streamed = results.filter((r) => r.command !== "separate-whole-file (baseline)");
  const peak = Math.max(...streamed.map((r) => r.peakRssMB as number));
  const byMinutes: Record<string, number> = {};
  for (const r of streamed)
    byMinutes[String(r.minutes)] = Math.max(byMinutes[String(r.minutes)] ?? 0, r.peakRssMB as number);
  process.stdout.write(
    `${JSON.stringify({ summary: "peak RSS of streamed separate/predict", peakRssMB: peak, byMinutes, targetMB: 400, met: peak < 400 })}\n`,
  );
}

await main();
