// Shared helpers for the data tests: tiny generated raw_data libraries in temp folders.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { encodeWav } from "../src/audio/index.js";

export function tempDir(prefix = "stemscope-data-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A decaying tone with some harmonics, deterministic from its parameters. */
export function tone(seconds: number, sampleRate: number, freq: number, amp = 0.5): Float32Array {
  const n = Math.round(seconds * sampleRate);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / sampleRate;
    const env = Math.exp(-2 * t);
    out[i] = amp * env * (Math.sin(2 * Math.PI * freq * t) + 0.3 * Math.sin(2 * Math.PI * 2 * freq * t));
  }
  return out;
}

export function writeTestWav(path: string, samples: Float32Array | Float32Array[], sampleRate: number): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, encodeWav(samples, sampleRate).bytes);
}

/**
 * Writes `<root>/<class>/clip<i>.wav` for each class: `perClass` clips of 0.3–0.6 s at `sampleRate`
 * (`options.seconds` each when given) with class-specific pitches. Returns root.
 */
export function makeRawData(
  root: string,
  classes: string[],
  perClass: number,
  sampleRate = 8000,
  options: { seconds?: number } = {},
): string {
  classes.forEach((cls, c) => {
    for (let i = 0; i < perClass; i++) {
      const seconds = options.seconds ?? 0.3 + 0.1 * (i % 4);
      writeTestWav(
        join(root, cls, `clip${i}.wav`),
        tone(seconds, sampleRate, 110 * (c + 2) + 13 * i, 0.3 + 0.1 * (i % 3)),
        sampleRate,
      );
    }
  });
  return root;
}

/** sha256 of every file under `dir` (relative path → hex), for byte-identity checks. */
export function hashTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const r = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(r);
      else
        out.set(
          r,
          createHash("sha256")
            .update(readFileSync(join(dir, r)))
            .digest("hex"),
        );
    }
  };
  walk("");
  return out;
}

/** Reads a 16-bit PCM WAV written by encodeWav as integers (44-byte header). */
export function readPcm16(path: string): Int16Array {
  const bytes = readFileSync(path);
  const out = new Int16Array((bytes.length - 44) / 2);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(44 + 2 * i);
  return out;
}

/** Runs an encoder that scripts/setup.sh installs (apt packages flac, lame, vorbis-tools, opus-tools). */
export function runEncoder(tool: string, args: string[]): void {
  try {
    execFileSync(tool, args, { stdio: "pipe" });
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
    throw new Error(
      missing
        ? `${tool} is not installed: run scripts/setup.sh (it installs flac, lame, vorbis-tools, opus-tools)`
        : String(error),
    );
  }
}

/**
 * Fundamental of x (rate Hz) between `from` and `to` seconds, from the normalised autocorrelation's
 * peak within ±10 % of the expected period (parabolic interpolation). `half` is the autocorrelation at
 * half that period relative to the peak: near 1 when the signal repeats at the octave (no true
 * fundamental).
 */
export function fundamental(
  x: Float32Array,
  rate: number,
  expectHz: number,
  from = 0.5,
  to = 1.3,
): { hz: number; half: number } {
  const a = Math.round(rate * from);
  const b = Math.round(rate * to);
  const ac = (lag: number): number => {
    let s = 0;
    let e1 = 0;
    let e2 = 0;
    for (let i = a; i < b; i++) {
      s += x[i]! * x[i + lag]!;
      e1 += x[i]! ** 2;
      e2 += x[i + lag]! ** 2;
    }
    return s / Math.sqrt(e1 * e2 + 1e-30);
  };
  const period = rate / expectHz;
  let best = -2;
  let lag = 0;
  for (let l = Math.floor(period * 0.9); l <= Math.ceil(period * 1.1); l++) {
    const v = ac(l);
    if (v > best) [best, lag] = [v, l];
  }
  const [y0, y2] = [ac(lag - 1), ac(lag + 1)];
  const d = (0.5 * (y0 - y2)) / (y0 - 2 * best + y2);
  return { hz: rate / (lag + d), half: ac(Math.round(period / 2)) / best };
}
