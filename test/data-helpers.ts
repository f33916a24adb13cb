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
