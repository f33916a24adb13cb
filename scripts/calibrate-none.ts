/**
 * Calibrates a model folder's "no instrument" rule (config.json `naming.none`, issue 13 item 10):
 *
 * ```
 * node --import tsx scripts/calibrate-none.ts --model models/default [--data train_data] [--mixtures 60] [--write]
 * ```
 *
 * Runs the model on (a) music: the examples in examples/ and up to `--mixtures` mixtures
 * (`sample_*\/mixed.wav`, spread over the folder) of the `--data` train_data folder (default
 * ./train_data when it exists); (b) non-music:
 * silence, DC, white and pink noise, clicks and speech from `espeak-ng` (scripts/setup.sh installs
 * it; without it the speech is left out, said). Silence, DC and noise never reach the model (the
 * signal-level gates of src/infer/level.ts, thresholds in InferenceOptionsSchema: it prints every
 * file's highest window flatness, to check `noiseFlatness` against the music); for the rest it
 * measures both statistics a rule can use
 * (src/separator/naming.ts: `play`, the file's highest play probability; `entropy`, the sources' mean
 * class entropy) and, per statistic, the threshold that keeps every music file named while
 * rejecting as many non-music files as it can (`chooseNoneThreshold`). Prints every number and the
 * chosen rule: the statistic that rejects more (ties: play). With `--write` the rule goes into
 * `<model>/config.json` (through src/model/folder.ts), or, when no threshold rejects any non-music
 * file without dropping music, any earlier rule is removed (the folder names every audible file);
 * it is refused with fewer than {@link MIN_MUSIC_TO_WRITE} music files (a threshold just under the
 * lowest of three files would drop music it never heard).
 * Deterministic from `--seed`. Rerun it after every retraining: a threshold belongs to its weights.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { decodeWav } from "../src/audio/wav.js";
import {
  InferenceOptionsSchema,
  loadModel,
  type Prediction,
  type StemscopeModel,
} from "../src/infer/index.js";
import { readModelConfig, writeModelConfig } from "../src/model/folder.js";
import { chooseNoneThreshold, type NoneCalibration } from "../src/separator/naming.js";
import { Random } from "../src/util/random.js";

/** Music files `--write` needs: below this the lowest music value says too little about music. */
export const MIN_MUSIC_TO_WRITE = 20;

/** A test signal: mono samples at a rate, and what it is. */
export interface CalibrationSignal {
  name: string;
  samples: Float32Array;
  sampleRate: number;
}

/** Scales `samples` in place to an RMS level of `db` dBFS. */
function atLevel(samples: Float32Array, db: number): Float32Array {
  let sum = 0;
  for (const v of samples) sum += v * v;
  const rms = Math.sqrt(sum / samples.length);
  const gain = rms > 0 ? 10 ** (db / 20) / rms : 0;
  for (let i = 0; i < samples.length; i++) samples[i] = samples[i]! * gain;
  return samples;
}

/** White noise (uniform), `seconds` long at `sampleRate`, at `db` dBFS RMS. */
export function whiteNoise(random: Random, seconds: number, sampleRate: number, db: number): Float32Array {
  const out = new Float32Array(Math.round(seconds * sampleRate));
  for (let i = 0; i < out.length; i++) out[i] = random.uniform(-1, 1);
  return atLevel(out, db);
}

/** Pink noise (−3 dB per octave: Paul Kellet's three-pole filter of white noise), at `db` dBFS RMS. */
export function pinkNoise(random: Random, seconds: number, sampleRate: number, db: number): Float32Array {
  const out = new Float32Array(Math.round(seconds * sampleRate));
  let b0 = 0;
  let b1 = 0;
  let b2 = 0;
  for (let i = 0; i < out.length; i++) {
    const w = random.uniform(-1, 1);
    b0 = 0.99765 * b0 + w * 0.099046;
    b1 = 0.963 * b1 + w * 0.2965164;
    b2 = 0.57 * b2 + w * 1.0526913;
    out[i] = b0 + b1 + b2 + w * 0.1848;
  }
  return atLevel(out, db);
}

/** Single-sample clicks of height `peak`, `perSecond` of them at jittered times. */
export function clicks(
  random: Random,
  seconds: number,
  sampleRate: number,
  perSecond: number,
  peak: number,
): Float32Array {
  const out = new Float32Array(Math.round(seconds * sampleRate));
  const spacing = sampleRate / perSecond;
  for (let t = spacing / 2; t < out.length; t += spacing) {
    const i = Math.min(out.length - 1, Math.round(t + random.uniform(-0.25, 0.25) * spacing));
    out[i] = random.bool() ? peak : -peak;
  }
  return out;
}

/** Sentences spoken by espeak-ng, one per voice. */
const SPEECH: readonly [voice: string, text: string][] = [
  ["en", "The quick brown fox jumps over the lazy dog, and then it runs back home again."],
  ["en-us+f3", "Please call Stella and ask her to bring these things with her from the store."],
  ["de", "Guten Morgen, wie geht es Ihnen heute? Das Wetter ist schön und warm."],
  ["fr", "Bonjour à tous, aujourd'hui nous allons parler du temps qu'il fait dehors."],
  ["es+m3", "Buenos días, me gustaría reservar una mesa para cuatro personas esta noche."],
];

/** Whether `espeak-ng` can be run. */
export function hasEspeak(): boolean {
  try {
    execFileSync("espeak-ng", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Speech from espeak-ng (its own rate, 22.05 kHz), one signal per voice of {@link SPEECH} (or the
 * first `count`).
 */
export function speech(count = SPEECH.length): CalibrationSignal[] {
  const dir = mkdtempSync(join(tmpdir(), "stemscope-speech-"));
  try {
    return SPEECH.slice(0, count).map(([voice, text]) => {
      const path = join(dir, "speech.wav");
      execFileSync("espeak-ng", ["-v", voice, "-w", path, text], { stdio: "ignore" });
      const audio = decodeWav(readFileSync(path), path);
      return { name: `speech ${voice}`, samples: audio.channels[0]!, sampleRate: audio.sampleRate };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The non-music signals (speech only when espeak-ng is installed), 4 s each at 16 kHz. */
export function nonMusicSignals(seed: number, withSpeech: boolean): CalibrationSignal[] {
  const rate = 16000;
  const seconds = 4;
  const random = new Random(seed).fork("calibrate-none");
  const n = seconds * rate;
  const signal = (name: string, samples: Float32Array): CalibrationSignal => ({
    name,
    samples,
    sampleRate: rate,
  });
  return [
    signal("silence", new Float32Array(n)),
    signal("DC 0.96", new Float32Array(n).fill(0.96)),
    signal(
      "DC −0.5 + 2 Hz drift",
      Float32Array.from({ length: n }, (_, i) => -0.5 + 0.3 * Math.sin((2 * Math.PI * 2 * i) / rate)),
    ),
    signal("white noise −10 dBFS", whiteNoise(random.fork("white1"), seconds, rate, -10)),
    signal("white noise −35 dBFS", whiteNoise(random.fork("white2"), seconds, rate, -35)),
    signal("pink noise −12 dBFS", pinkNoise(random.fork("pink1"), seconds, rate, -12)),
    signal("pink noise −35 dBFS", pinkNoise(random.fork("pink2"), seconds, rate, -35)),
    signal("clicks 4/s", clicks(random.fork("clicks1"), seconds, rate, 4, 0.9)),
    signal("clicks 30/s", clicks(random.fork("clicks2"), seconds, rate, 30, 0.5)),
    ...(withSpeech ? speech() : []),
  ];
}

/** Up to `count` `sample_*\/mixed.wav` files of a train_data folder, spread evenly over its samples. */
export function musicMixtures(dataDir: string, count: number): string[] {
  const samples = readdirSync(dataDir)
    .filter((name) => /^sample_\d+$/u.test(name) && existsSync(join(dataDir, name, "mixed.wav")))
    .sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)));
  if (samples.length === 0)
    throw new Error(`${dataDir}: no sample_*/mixed.wav; expected a train_data folder`);
  const step = Math.max(1, samples.length / count);
  const picked = new Set<string>();
  for (let i = 0; i < samples.length && picked.size < count; i += step) picked.add(samples[Math.floor(i)]!);
  return [...picked].map((name) => join(dataDir, name, "mixed.wav"));
}

/** One measured file: gated (no model run) or its two statistics. */
interface Measured {
  kind: "music" | "non-music";
  name: string;
  prediction: Prediction;
}

/** The highest spectral flatness of a file's audible windows (0 when none is audible). */
function flattest(p: Prediction): number {
  return Math.max(0, ...p.windows.filter((w) => !w.silent).map((w) => w.flatness));
}

function row(m: Measured): string {
  const p = m.prediction;
  const stats =
    p.namingStatistics === null
      ? `gated: ${p.noInstrument?.reason ?? "?"} (flatness ${flattest(p).toFixed(3)})`
      : `flatness ${flattest(p).toFixed(3)}  play ${p.namingStatistics.play.toFixed(3)}  entropy ${p.namingStatistics.entropy.toFixed(3)}  top ${p.instruments
          .slice(0, 2)
          .map((i) => `${i.name} ${i.probability.toFixed(2)}`)
          .join(", ")}`;
  return `  ${m.kind.padEnd(9)}  ${m.name.padEnd(36)}  ${stats}`;
}

function describe(c: NoneCalibration): string {
  const side = c.statistic === "play" ? "<" : ">";
  return `${c.statistic.padEnd(7)}  no instrument when ${c.statistic} ${side} ${c.threshold.toFixed(4)}: music named ${c.musicNamed}/${c.music}, non-music past the signal gates rejected ${c.nonMusicRejected}/${c.nonMusic}`;
}

/** Measures the model on the music and non-music sets; see the module comment. */
export async function calibrate(
  model: StemscopeModel,
  music: readonly string[],
  nonMusic: readonly CalibrationSignal[],
): Promise<{ measured: Measured[]; candidates: NoneCalibration[]; chosen: NoneCalibration }> {
  const measured: Measured[] = [];
  for (const file of music)
    measured.push({ kind: "music", name: file, prediction: await model.predictFile(file) });
  for (const s of nonMusic) {
    const prediction = await model.predict(s.samples, s.sampleRate, { name: s.name });
    measured.push({ kind: "non-music", name: s.name, prediction });
  }
  const values = (kind: Measured["kind"], statistic: "play" | "entropy"): number[] =>
    measured.flatMap((m) =>
      m.kind === kind && m.prediction.namingStatistics !== null
        ? [m.prediction.namingStatistics[statistic]]
        : [],
    );
  const candidates = (["play", "entropy"] as const).map((statistic) =>
    chooseNoneThreshold(statistic, values("music", statistic), values("non-music", statistic)),
  );
  const chosen = candidates.reduce((best, c) => (c.nonMusicRejected > best.nonMusicRejected ? c : best));
  return { measured, candidates, chosen };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: "string" },
      data: { type: "string" },
      mixtures: { type: "string", default: "60" },
      examples: { type: "string", default: "examples" },
      seed: { type: "string", default: "0" },
      write: { type: "boolean", default: false },
    },
  });
  if (values.model === undefined) throw new Error("--model <dir> is required");
  const data = values.data ?? (existsSync(join("train_data", "labels.txt")) ? "train_data" : undefined);
  const examples = existsSync(values.examples)
    ? readdirSync(values.examples)
        .filter((f) => f.endsWith(".wav"))
        .sort()
        .map((f) => join(values.examples, f))
    : [];
  const music = [...examples, ...(data === undefined ? [] : musicMixtures(data, Number(values.mixtures)))];
  if (music.length === 0) throw new Error("no music: give --data <train_data> or --examples <dir>");
  if (values.write && music.length < MIN_MUSIC_TO_WRITE) {
    throw new Error(
      `--write needs at least ${MIN_MUSIC_TO_WRITE} music files, got ${music.length}: give --data <train_data> (its mixtures, --mixtures ${values.mixtures})`,
    );
  }
  const withSpeech = hasEspeak();
  if (!withSpeech)
    process.stderr.write("calibrate-none: espeak-ng is not installed; no speech (scripts/setup.sh)\n");
  const model = await loadModel(values.model);
  try {
    const { measured, candidates, chosen } = await calibrate(
      model,
      music,
      nonMusicSignals(Number(values.seed), withSpeech),
    );
    const lines = [
      `${values.model}: ${measured.filter((m) => m.kind === "music").length} music files, ${measured.filter((m) => m.kind === "non-music").length} non-music`,
      ...measured.map(row),
      `signal gate: music windows' flatness up to ${Math.max(...measured.filter((m) => m.kind === "music").map((m) => flattest(m.prediction))).toFixed(3)}; windows above noiseFlatness ${InferenceOptionsSchema.parse({}).noiseFlatness} are noise`,
      "per statistic, the threshold that keeps every music file named:",
      ...candidates.map((c) => `  ${describe(c)}`),
    ];
    const useful = chosen.nonMusicRejected > 0;
    lines.push(
      useful
        ? `chosen: ${describe(chosen)}`
        : 'chosen: none; no threshold rejects any non-music file that passes the signal gate without dropping music (only silence and DC are "no instrument")',
    );
    process.stdout.write(`${lines.join("\n")}\n`);
    if (values.write) {
      const { naming: _previous, ...config } = readModelConfig(values.model);
      const { statistic, threshold, ...calibration } = chosen;
      await writeModelConfig(
        values.model,
        useful ? { ...config, naming: { none: { statistic, threshold, calibration } } } : config,
      );
      process.stdout.write(
        `${join(values.model, "config.json")}: ${useful ? `naming.none = ${statistic} ${threshold.toFixed(4)}` : "no naming.none"}\n`,
      );
    }
  } finally {
    model.dispose();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((error: unknown) => {
    process.stderr.write(`calibrate-none: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}
