// The oracle ceiling of `stemscope eval`: stems resynthesised from the reference sources' own
// features, scored like the model's. On mixtures of two distinct tones the oracle separates well
// above the mixture, its numbers equal a direct computation (features per sample, whole-clip
// STFT · masks · iSTFT, the metrics), and the report and CLI show it beside the model.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { encodeWav, loadAudio } from "../src/audio/index.js";
import { liveTensorCount } from "../src/engine/index.js";
import {
  type EvalMetrics,
  evaluate,
  finiteMean,
  finiteMedian,
  sourceAudioScores,
  writeReport,
} from "../src/eval/index.js";
import { getExtractor, istft, nativeFeatures, stft } from "../src/features/index.js";
import { loadModel, type StemscopeModel } from "../src/infer/index.js";
import { linearMasks, melShares } from "../src/separator/masks.js";
import { harmonicTone, makeModelFolder } from "./infer-helpers.js";
import { runCli } from "./cli-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "stemscope-oracle-"));
const data = join(dir, "data");
const classes = ["cello", "flute"];
const RATE = 16000;
let model: StemscopeModel;
let start = 0;

/** `count` mixtures of a low tone (cello) and a high one (flute), 2 s at 16 kHz, levels varied. */
function makeToneDataset(root: string, count: number): void {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const low = harmonicTone(2, RATE, 110 * (1 + 0.05 * i), 0.3);
    const high = harmonicTone(2, RATE, 1500 * (1 + 0.03 * i), 0.1 + 0.05 * i);
    const sample = join(root, `sample_${i}`);
    mkdirSync(sample, { recursive: true });
    writeFileSync(join(sample, "source1.wav"), encodeWav(low, RATE).bytes);
    writeFileSync(join(sample, "source2.wav"), encodeWav(high, RATE).bytes);
    const mixed = low.map((v, j) => v + high[j]!);
    writeFileSync(join(sample, "mixed.wav"), encodeWav(mixed, RATE).bytes);
    const d = `./data/sample_${i}`;
    lines.push(`${d}/mixed.wav ${d}/source1.wav ${d}/source2.wav cello flute`);
  }
  writeFileSync(join(root, "labels.txt"), `${lines.join("\n")}\n`);
}

before(async () => {
  makeToneDataset(data, 3);
  start = liveTensorCount();
  model = await loadModel(await makeModelFolder(join(dir, "model"), { classes, mode: "native" }));
});
after(() => {
  model.dispose();
  assert.equal(liveTensorCount(), start, "tensors leaked");
  rmSync(dir, { recursive: true, force: true });
});

let evaluated: Promise<EvalMetrics> | undefined;
/** The model's and the oracle's metrics on every sample (evaluated once, for every test). */
const oracleMetrics = (): Promise<EvalMetrics> =>
  (evaluated ??= evaluate(model, data, { subset: "all", oracle: true, batchSize: 2 }));

test("the oracle separates two distinct tones far above the mixture (mean SI-SDRi > 5 dB) and above a random model", async () => {
  const metrics = await oracleMetrics();
  const a = metrics.separation.audio!;
  const o = a.oracle!;
  assert.equal(o.siSdr.count, 6);
  assert.ok(o.siSdrImprovement.mean > 5, `oracle SI-SDRi ${o.siSdrImprovement.mean} dB`);
  assert.ok(o.siSdr.mean > a.mixtureSiSdr.mean + 5);
  assert.ok(
    o.siSdrImprovement.mean > a.siSdrImprovement.mean + 3,
    `oracle ${o.siSdrImprovement.mean} dB vs model ${a.siSdrImprovement.mean} dB`,
  );
  // Without `oracle` the metrics have none, and the model's own numbers are the same.
  const plain = await evaluate(model, data, { subset: "all" });
  assert.equal(plain.separation.audio!.oracle, undefined);
  assert.deepEqual(plain.separation.audio!.siSdr, a.siSdr);
  await assert.rejects(evaluate(model, data, { oracle: true, audio: false }), {
    name: "ParameterError",
    message:
      /^evaluation options: `oracle`: the oracle scores audio stems, so the audio metrics must not be skipped$/,
  });
});

test("the oracle's numbers equal a direct computation (per-sample features, whole-clip STFT × masks, iSTFT, SDR / SI-SDR); every source > 5 dB SI-SDRi", async () => {
  const config = model.features;
  const extractor = getExtractor(config);
  const sdrs: number[] = [];
  const siSdrs: number[] = [];
  const improvements: number[] = [];
  for (let i = 0; i < 3; i++) {
    const read = async (name: string): Promise<Float32Array> =>
      (await loadAudio(join(data, `sample_${i}`, name), { sampleRate: config.sampleRate })).samples;
    const mixture = await read("mixed.wav");
    const sources = [await read("source1.wav"), await read("source2.wav")];
    assert.equal(mixture.length, extractor.length);
    const refs = nativeFeatures(mixture, sources, config).sources;
    const masks = linearMasks(melShares(refs, mixture, config), config);
    const spec = stft(mixture, { nFft: config.nFft, hopLength: extractor.hop, center: true });
    masks.forEach((mask, k) => {
      const masked = {
        ...spec,
        re: spec.re.map((v, j) => v * mask[j]!),
        im: spec.im.map((v, j) => v * mask[j]!),
      };
      const stem = istft(masked, { nFft: config.nFft, hopLength: extractor.hop, length: mixture.length });
      const scores = sourceAudioScores(stem, sources[k]!, mixture);
      sdrs.push(scores.sdr);
      siSdrs.push(scores.siSdr);
      improvements.push(scores.siSdrImprovement);
    });
  }
  // Every source of every mixture is far above the mixture, not only the mean.
  assert.ok(
    Math.min(...improvements) > 5,
    `SI-SDRi per source: ${improvements.map((v) => v.toFixed(1)).join(", ")} dB`,
  );
  const o = (await oracleMetrics()).separation.audio!.oracle!;
  for (const [name, summary, values] of [
    ["sdr", o.sdr, sdrs],
    ["siSdr", o.siSdr, siSdrs],
    ["siSdrImprovement", o.siSdrImprovement, improvements],
  ] as const) {
    assert.equal(summary.count, values.length, `${name} count`);
    const mean = finiteMean(values).mean;
    const median = finiteMedian(values);
    assert.ok(Math.abs(summary.mean - mean) < 1e-3, `${name} mean ${summary.mean} vs ${mean}`);
    assert.ok(Math.abs(summary.median - median) < 1e-3, `${name} median ${summary.median} vs ${median}`);
  }
});

test("report.md puts the oracle beside the model; the CLI's --oracle prints it and --no-audio with it is a flag error", async () => {
  const metrics = await oracleMetrics();
  const reportDir = join(dir, "report");
  await writeReport(reportDir, metrics);
  const md = readFileSync(join(reportDir, "report.md"), "utf8");
  const a = metrics.separation.audio!;
  const cell = (d: { mean: number; median: number }) => `${d.mean.toFixed(2)} dB / ${d.median.toFixed(2)} dB`;
  assert.ok(md.includes("| mean / median | model | oracle |"), md);
  assert.ok(
    md.includes(`| SI-SDRi | ${cell(a.siSdrImprovement)} | ${cell(a.oracle!.siSdrImprovement)} |`),
    md,
  );
  const saved = JSON.parse(readFileSync(join(reportDir, "metrics.json"), "utf8")) as EvalMetrics;
  assert.deepEqual(saved.separation.audio!.oracle, a.oracle);

  const cli = (...extra: string[]) =>
    runCli(["eval", "--model", model.dir, "--data", data, "--subset", "all", "--quiet", ...extra], {
      env: { STEMSCOPE_THREADS: "1" },
    });
  const ok = cli("--out", join(dir, "cli-report"), "--oracle");
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(
    ok.stdout,
    /\n {2}oracle \(ideal ratio masks in the model's features\): SDR -?\d+\.\d\d dB, SI-SDR -?\d+\.\d\d dB, SI-SDRi (\d+\.\d\d) dB\n/,
  );
  const bad = cli("--out", join(dir, "cli-bad"), "--oracle", "--no-audio");
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /--oracle: the oracle scores audio stems, so the audio metrics must not be skipped/,
  );
});
