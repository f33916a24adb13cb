/**
 * Resampler and decoder speed: `npm run bench:resample [-- --seconds 60 --repeats 3 --no-decode]`.
 *
 * 1. Resamples a 60-s test signal (a chord plus noise) from 44.1, 48 and 22.05 kHz to 16 kHz with
 *    the resampler as it was before the spectral path (`resampleBefore`, kept verbatim below as the
 *    baseline), with today's `resample` (auto: the native polyphase kernel when the addon has it,
 *    else the spectral path for these ratios), with the TypeScript paths alone (`native: false`:
 *    auto = spectral; the polyphase kernel's TypeScript twin) and with the time-domain path
 *    (`method: "direct"`), all in this run; best of `--repeats` wall-clock times. The kernel and its
 *    twin must agree bit for bit (`polyphaseTwinMismatches`).
 * 2. Encodes a 60-s 44.1 kHz stereo file as WAV, FLAC, MP3, Ogg/Vorbis and Ogg/Opus (with the
 *    flac, lame, oggenc and opusenc that scripts/setup.sh installs; a missing one is skipped) and
 *    times each step of `loadAudio`: reading the file, decoding (all of decodeAudioFile, and
 *    audio-decode's own share), the truncation check, mixing to mono, and resampling to 16 kHz.
 *
 * Prints one JSON object.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import decode from "audio-decode";
import { streamEndProblem } from "../src/audio/file-checks.js";
import { decodeAudioFile, downmixToMono, resample, writeWav } from "../src/audio/index.js";
import { resampleKernelStatus } from "../src/audio/resample.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    repeats: { type: "string", default: "3" },
    "no-decode": { type: "boolean", default: false },
  },
});
const seconds = Number(values.seconds);
const repeats = Number(values.repeats);

// ---------------------------------------------------------------------------------------------
// The resampler before the spectral path (src/audio/resample.ts at commit e5a52b9) with its default
// design, otherwise verbatim: polyphase table for rational ratios, symmetric taps for decimation.

function besselI0Before(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

function gcdBefore(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function resampleBefore(samples: Float32Array, fromRate: number, toRate: number): Float32Array {
  if (fromRate === toRate) return Float32Array.from(samples);
  const zeroCrossings = 64;
  const rolloff = 0.9475937;
  const beta = 14.769656459379492;
  const n = samples.length;
  const outLength = Math.ceil((n * toRate) / fromRate);
  const out = new Float32Array(outLength);
  if (n === 0) return out;
  const cutoff = rolloff * Math.min(1, toRate / fromRate);
  const half = zeroCrossings / cutoff;
  const i0beta = besselI0Before(beta);
  const h = (t: number): number => {
    const r = t / half;
    if (r <= -1 || r >= 1) return 0;
    const w = besselI0Before(beta * Math.sqrt(1 - r * r)) / i0beta;
    const a = Math.PI * cutoff * t;
    return cutoff * (t === 0 ? 1 : Math.sin(a) / a) * w;
  };
  const reach = Math.ceil(half);
  const taps = 2 * reach;
  let L = 0;
  let M = 0;
  if (Number.isInteger(fromRate) && Number.isInteger(toRate)) {
    const g = gcdBefore(fromRate, toRate);
    L = toRate / g;
    M = fromRate / g;
  }
  const usePhases = L > 0 && L <= 4096;
  if (usePhases && L === 1) {
    decimateBefore(samples, M, h, reach, out);
    return out;
  }
  let table: Float64Array | undefined;
  if (usePhases) {
    table = new Float64Array(L * taps);
    for (let p = 0; p < L; p++) {
      const frac = p / L;
      for (let j = 0; j < taps; j++) table[p * taps + j] = h(frac + reach - 1 - j);
    }
  }
  const coeffs = new Float64Array(taps);
  for (let m = 0; m < outLength; m++) {
    let base: number;
    let row: Float64Array;
    let rowOffset = 0;
    if (usePhases && table !== undefined) {
      const num = m * M;
      base = Math.floor(num / L);
      rowOffset = (num - base * L) * taps;
      row = table;
    } else {
      const t = (m * fromRate) / toRate;
      base = Math.floor(t);
      const frac = t - base;
      for (let j = 0; j < taps; j++) coeffs[j] = h(frac + reach - 1 - j);
      row = coeffs;
    }
    const k0 = base - reach + 1;
    const jStart = Math.max(0, -k0);
    const jEnd = Math.min(taps, n - k0);
    let acc = 0;
    for (let j = jStart; j < jEnd; j++) acc += (row[rowOffset + j] as number) * (samples[k0 + j] as number);
    out[m] = acc;
  }
  return out;
}

function decimateBefore(
  x: Float32Array,
  M: number,
  h: (t: number) => number,
  reach: number,
  out: Float32Array,
): void {
  const n = x.length;
  const h0 = h(0);
  const lagList: number[] = [];
  const coefList: number[] = [];
  for (let t = 1; t < reach; t++) {
    const c = h(t);
    if (Math.abs(c) > 1e-12 * Math.abs(h0)) {
      lagList.push(t);
      coefList.push(c);
    }
  }
  const lags = Int32Array.from(lagList);
  const coefs = Float64Array.from(coefList);
  const taps = lags.length;
  const last = taps > 0 ? lags[taps - 1]! : 0;
  for (let m = 0; m < out.length; m++) {
    const c = m * M;
    let acc = h0 * x[c]!;
    if (c - last >= 0 && c + last < n) {
      for (let k = 0; k < taps; k++) {
        const t = lags[k]!;
        acc += coefs[k]! * (x[c - t]! + x[c + t]!);
      }
    } else {
      for (let k = 0; k < taps; k++) {
        const t = lags[k]!;
        const a = c - t >= 0 ? x[c - t]! : 0;
        const b = c + t < n ? x[c + t]! : 0;
        acc += coefs[k]! * (a + b);
      }
    }
    out[m] = acc;
  }
}

// ---------------------------------------------------------------------------------------------

/** CPU model and the SIMD flags that matter here. */
function cpuDescription(): { model: string; flags: string[] } {
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    const model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? "unknown";
    const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? "").split(/\s+/));
    return { model, flags: ["avx2", "avx512f", "avx512_bf16", "amx_tile"].filter((f) => flags.has(f)) };
  } catch {
    return { model: "unknown", flags: [] };
  }
}

/** A chord with vibrato plus LCG noise, `seconds` long at `rate`. */
function testSignal(rate: number, channels = 1): Float32Array[] {
  const n = Math.round(seconds * rate);
  let s = 7;
  return Array.from({ length: channels }, (_, c) => {
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const t = i / rate;
      s = (Math.imul(1664525, s) + 1013904223) >>> 0;
      const f = 220 * (1 + 0.01 * Math.sin(2 * Math.PI * 5 * t)) * (c + 1);
      x[i] =
        0.25 * Math.sin(2 * Math.PI * f * t) +
        0.15 * Math.sin(2 * Math.PI * 3.01 * f * t) +
        0.1 * Math.sin(2 * Math.PI * 7.7 * f * t) +
        0.05 * ((s / 2 ** 32) * 2 - 1);
    }
    return x;
  });
}

/**
 * Best wall-clock and best CPU milliseconds of `repeats` runs (after one warm-up run), and the last
 * result. CPU time is this process's user + system time, less disturbed by other work on the machine.
 */
async function time<T>(fn: () => T | Promise<T>): Promise<{ ms: number; cpuMs: number; result: T }> {
  let result = await fn();
  let best = Infinity;
  let bestCpu = Infinity;
  for (let r = 0; r < repeats; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    result = await fn();
    best = Math.min(best, performance.now() - t0);
    const c = process.cpuUsage(c0);
    bestCpu = Math.min(bestCpu, (c.user + c.system) / 1000);
  }
  return { ms: Number(best.toFixed(1)), cpuMs: Number(bestCpu.toFixed(1)), result };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let d = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < Math.min(a.length, b.length); i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

const loadAverageAtStart = loadavg().map((v) => Number(v.toFixed(2)));
const kernel = resampleKernelStatus();
const resampling: Record<string, unknown>[] = [];
for (const from of [44100, 48000, 22050]) {
  const [x] = testSignal(from) as [Float32Array];
  const before = await time(() => resampleBefore(x, from, 16000));
  const now = await time(() => resample(x, from, 16000));
  const spectral = await time(() => resample(x, from, 16000, { native: false }));
  const twin = await time(() => resample(x, from, 16000, { method: "polyphase", native: false }));
  const direct = await time(() => resample(x, from, 16000, { method: "direct" }));
  const speedup = (ms: number) => Number((before.ms / ms).toFixed(1));
  resampling.push({
    from,
    to: 16000,
    seconds,
    beforeMs: before.ms,
    nowMs: now.ms,
    speedup: speedup(now.ms),
    beforeCpuMs: before.cpuMs,
    nowCpuMs: now.cpuMs,
    cpuSpeedup: Number((before.cpuMs / now.cpuMs).toFixed(1)),
    typescriptSpectralMs: spectral.ms,
    typescriptSpectralSpeedup: speedup(spectral.ms),
    polyphaseTwinMs: twin.ms,
    polyphaseTwinSpeedup: speedup(twin.ms),
    directNowMs: direct.ms,
    directSpeedup: speedup(direct.ms),
    polyphaseTwinMismatches: kernel.available
      ? now.result.filter((v, i) => v !== twin.result[i]).length
      : null,
    maxAbsDiffNowVsBefore: Number(maxAbsDiff(now.result, before.result).toExponential(2)),
    maxAbsDiffSpectralVsBefore: Number(maxAbsDiff(spectral.result, before.result).toExponential(2)),
    maxAbsDiffDirectVsBefore: Number(maxAbsDiff(direct.result, before.result).toExponential(2)),
  });
}

/** Times each step of loadAudio on one file. */
async function decodeSteps(path: string): Promise<Record<string, unknown>> {
  const isWav = path.endsWith(".wav");
  const read = await time(() => readFile(path));
  const total = await time(() => decodeAudioFile(path));
  const decoder = isWav ? null : await time(() => decode(read.result));
  const decoded = total.result;
  const streamCheck = await time(() => streamEndProblem(read.result, decoded.channels[0]!.length));
  const mono = await time(() => downmixToMono(decoded.channels));
  const toRate = await time(() => resample(mono.result, decoded.sampleRate, 16000));
  const before = await time(() => resampleBefore(mono.result, decoded.sampleRate, 16000));
  return {
    format: path.slice(path.lastIndexOf(".") + 1),
    bytes: read.result.length,
    sampleRate: decoded.sampleRate,
    channels: decoded.channels.length,
    readMs: read.ms,
    decodeAudioFileMs: total.ms,
    ...(decoder === null
      ? { note: "WAV: our own parser (src/audio/wav.ts)" }
      : {
          audioDecodeMs: decoder.ms,
          streamEndCheckMs: streamCheck.ms,
        }),
    downmixMs: mono.ms,
    resampleMs: toRate.ms,
    resampleBeforeMs: before.ms,
    loadAudioMs: Number((total.ms + mono.ms + toRate.ms).toFixed(1)),
    loadAudioBeforeMs: Number((total.ms + mono.ms + before.ms).toFixed(1)),
  };
}

const decoding: Record<string, unknown>[] = [];
const skipped: string[] = [];
if (!values["no-decode"]) {
  const dir = mkdtempSync(join(tmpdir(), "stemscope-bench-resample-"));
  try {
    const wav = join(dir, "clip.wav");
    await writeWav(wav, testSignal(44100, 2), 44100, { onWarning: () => undefined });
    decoding.push(await decodeSteps(wav));
    const encoders: [string, string, string[]][] = [
      ["flac", "flac", ["-s", "-f", "-o", join(dir, "clip.flac"), wav]],
      ["mp3", "lame", ["--quiet", wav, join(dir, "clip.mp3")]],
      ["ogg", "oggenc", ["-Q", "-o", join(dir, "clip.ogg"), wav]],
      ["opus", "opusenc", ["--quiet", wav, join(dir, "clip.opus")]],
    ];
    for (const [ext, tool, args] of encoders) {
      try {
        execFileSync(tool, args, { stdio: "ignore" });
      } catch {
        skipped.push(`${ext}: ${tool} not installed (scripts/setup.sh installs it)`);
        continue;
      }
      decoding.push(await decodeSteps(join(dir, `clip.${ext}`)));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: `resample ${seconds} s to 16 kHz, and decode ${seconds} s files`,
      cpu: cpuDescription(),
      nativeKernel: kernel,
      loadAverageAtStart,
      loadAverageAtEnd: loadavg().map((v) => Number(v.toFixed(2))),
      repeats,
      note: "best of the repeats, wall-clock ms and this process's CPU ms (GC threads included); before = the resampler before the spectral path, run here",
      resampling,
      decoding,
      ...(skipped.length > 0 ? { skipped } : {}),
    },
    null,
    2,
  )}\n`,
);
