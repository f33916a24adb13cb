// `evaluate()` and the report on a small hand-made labels.txt dataset with a random tiny model; the
// SVG writer; a CLI smoke test of `stemscope eval`.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { encodeWav } from "../src/audio/index.js";
import { liveTensorCount } from "../src/engine/index.js";
import {
  barChartSvg,
  escapeXml,
  evaluate,
  heatmapSvg,
  lineChartSvg,
  niceTicks,
  trainingCurveSvgs,
  writeReport,
} from "../src/eval/index.js";
import { loadModel, type StemscopeModel } from "../src/infer/index.js";
import { readTrainLog } from "../src/model/folder.js";
import { type CliRun, runCli } from "./cli-helpers.js";
import { harmonicTone, makeModelFolder } from "./infer-helpers.js";

type EvalJson = Awaited<ReturnType<typeof evaluate>>;

/** `stemscope eval` of the test model on the test data, one libtorch thread. */
function evalCli(...flags: string[]): CliRun {
  return runCli(["eval", "--model", model.dir, "--data", data, "--quiet", ...flags], {
    env: { STEMSCOPE_THREADS: "1" },
  });
}

const dir = mkdtempSync(join(tmpdir(), "stemscope-eval-"));
const data = join(dir, "data");
const classes = ["cello", "flute", "piano"];
const pitch: Record<string, number> = { cello: 131, flute: 784, piano: 330 };
let model: StemscopeModel;
let start = 0;

/** A labels.txt dataset: `count` two-source samples of 2 s at 16 kHz, split.json with the last 2 as test. */
function makeDataset(root: string, count: number): void {
  const lines: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const a = classes[i % 3]!;
    const b = classes[(i + 1) % 3]!;
    const labels = [a, b].sort();
    const s1 = harmonicTone(2, 16000, pitch[labels[0]!]! * (1 + 0.01 * i), 0.3);
    const s2 = harmonicTone(2, 16000, pitch[labels[1]!]!, 0.2);
    const sample = join(root, `sample_${i}`);
    mkdirSync(sample, { recursive: true });
    writeFileSync(join(sample, "source1.wav"), encodeWav(s1, 16000).bytes);
    writeFileSync(join(sample, "source2.wav"), encodeWav(s2, 16000).bytes);
    writeFileSync(
      join(sample, "mixed.wav"),
      encodeWav(
        s1.map((v, j) => v + s2[j]!),
        16000,
      ).bytes,
    );
    const d = `./data/sample_${i}`;
    names.push(d);
    lines.push(`${d}/mixed.wav ${d}/source1.wav ${d}/source2.wav ${labels.join(" ")}`);
  }
  writeFileSync(join(root, "labels.txt"), `${lines.join("\n")}\n`);
  writeFileSync(
    join(root, "split.json"),
    JSON.stringify({
      version: 1,
      splitBy: "clip",
      testFraction: 0.3,
      seed: 0,
      train: names.slice(0, -2),
      test: names.slice(-2),
    }),
  );
}

before(async () => {
  makeDataset(data, 6);
  start = liveTensorCount();
  const trainLog = [1, 2, 3].map((epoch) => ({
    epoch,
    trainLoss: 1 / epoch,
    valLoss: 1.2 / epoch,
    trainAcc: 0.3 * epoch,
    valAcc: 0.25 * epoch,
    lr: 0.0015,
  }));
  model = await loadModel(await makeModelFolder(join(dir, "model"), { classes, mode: "native", trainLog }));
});
after(() => {
  model.dispose();
  assert.equal(liveTensorCount(), start, "tensors leaked");
  rmSync(dir, { recursive: true, force: true });
});

test("evaluate: the test part of split.json, consistent counts and bounds, aligned ≤ fixed MSE, finite audio metrics", async () => {
  const before = liveTensorCount();
  const progress: number[] = [];
  const m = await evaluate(model, data, { batchSize: 1, onProgress: (done) => progress.push(done) });
  assert.equal(liveTensorCount(), before);
  assert.deepEqual(progress, [1, 2]);
  assert.equal(m.split, "split.json test");
  assert.equal(m.samples, 2);
  const c = m.classification;
  const total = c.confusionMatrix.flat().reduce((a, b) => a + b, 0);
  assert.equal(total, 4); // 2 samples × 2 sources
  assert.equal(
    Object.values(c.perClass).reduce((a, p) => a + p.support, 0),
    4,
  );
  const diagonal = c.confusionMatrix.reduce((a, row, i) => a + row[i]!, 0);
  assert.equal(c.perSourceAccuracyAligned, diagonal / 4);
  assert.equal(c.microF1, c.perSourceAccuracyAligned);
  for (const v of [c.perSourceAccuracy, c.pairExactMatch, c.macroF1]) assert.ok(v >= 0 && v <= 1);
  assert.ok(m.separation.spectrogramMseAligned <= m.separation.spectrogramMse + 1e-12);
  const a = m.separation.audio!;
  assert.equal(a.siSdr.count, 4);
  for (const v of [a.sdr.mean, a.siSdr.mean, a.mixtureSiSdr.mean, a.siSdrImprovement.mean])
    assert.ok(Number.isFinite(v));
  assert.ok(Math.abs(a.siSdrImprovement.mean - (a.siSdr.mean - a.mixtureSiSdr.mean)) < 1e-9);
  // order-free: each mixture's best order totals at least as much as the aligned one; equal when
  // every aligned order is the best one
  const best = a.bestOrder!;
  assert.equal(best.siSdrImprovement.count, 4);
  assert.ok(best.siSdr.mean >= a.siSdr.mean - 1e-9, `${best.siSdr.mean} < ${a.siSdr.mean}`);
  if (best.alignedIsBest === 1) assert.ok(Math.abs(best.siSdr.mean - a.siSdr.mean) < 1e-9);
  assert.ok([0, 0.5, 1].includes(best.alignedIsBest), `${best.alignedIsBest}`);

  const all = await evaluate(model, data, { subset: "all", audio: false });
  assert.equal(all.samples, 6);
  assert.equal(all.separation.audio, undefined);
});

test("evaluate: clear errors for labels the model does not know and --split test without split.json", async () => {
  const other = join(dir, "other");
  makeDataset(other, 2);
  writeFileSync(
    join(other, "labels.txt"),
    readFileSync(join(other, "labels.txt"), "utf8").replace(/cello/g, "banjo"),
  );
  await assert.rejects(
    evaluate(model, other),
    /labels\.txt:1: label "banjo" is not a class of the model .*model \(cello, flute, piano\)/,
  );
  rmSync(join(other, "split.json"));
  writeFileSync(
    join(other, "labels.txt"),
    readFileSync(join(other, "labels.txt"), "utf8").replace(/banjo/g, "cello"),
  );
  await assert.rejects(
    evaluate(model, other, { subset: "test" }),
    /no split\.json, so there is no test part; use `subset` all/,
  );
  // A broken split.json is named, not ignored (scoring every sample would score training samples too).
  writeFileSync(join(other, "split.json"), "{garbage");
  await assert.rejects(evaluate(model, other), {
    name: "InferenceError",
    message: new RegExp(
      `^${other}/split\\.json: not valid JSON .*; fix it, or evaluate every sample with \`subset\` all$`,
    ),
  });
  assert.equal((await evaluate(model, other, { subset: "all", audio: false })).samples, 2);
});

test("report: metrics.json, report.md with tables and pictures, training curves from train_log.jsonl", async () => {
  const m = await evaluate(model, data, { subset: "all", audio: true });
  const out = join(dir, "report");
  await writeReport(out, m, readTrainLog(model.dir));
  assert.deepEqual(readdirSync(out).sort(), [
    "accuracy.svg",
    "confusion.svg",
    "f1.svg",
    "loss.svg",
    "metrics.json",
    "report.md",
  ]);
  const json = JSON.parse(readFileSync(join(out, "metrics.json"), "utf8")) as {
    samples: number;
    classes: string[];
  };
  assert.equal(json.samples, 6);
  assert.deepEqual(json.classes, classes);
  const md = readFileSync(join(out, "report.md"), "utf8");
  for (const needle of [
    "![Confusion matrix](confusion.svg)",
    "![Per-class F1](f1.svg)",
    "![Loss by epoch](loss.svg)",
    "| cello |",
    "SI-SDR improvement",
  ])
    assert.ok(md.includes(needle), needle);
  const best = m.separation.audio!.bestOrder!.siSdrImprovement;
  assert.ok(
    md.includes(
      `| SI-SDRi in each mixture's best order (order-free), mean / median | ${best.mean.toFixed(2)} dB / ${best.median.toFixed(2)} dB |`,
    ),
    md,
  );
  const loss = readFileSync(join(out, "loss.svg"), "utf8");
  assert.match(loss, />trainLoss</);
  assert.match(loss, />valLoss</);
  assert.equal((loss.match(/<circle /g) ?? []).length, 6); // 2 series × 3 epochs
  const acc = readFileSync(join(out, "accuracy.svg"), "utf8");
  assert.match(acc, />valAcc</);
});

test("SVG writer: heatmap cells and counts, bars, lines, escaping, ticks", () => {
  const heat = heatmapSvg({
    title: "CM <test>",
    rows: ["a", "b"],
    cols: ["a", "b"],
    values: [
      [3, 1],
      [0, 2],
    ],
  });
  assert.ok(heat.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(heat.trimEnd().endsWith("</svg>"));
  assert.equal((heat.match(/<rect x=/g) ?? []).length, 4);
  assert.match(heat, />CM &lt;test&gt;</);
  for (const v of ["3", "1", "0", "2"]) assert.match(heat, new RegExp(`>${v}</text>`));
  // row-normalised colour: the 3 of row [3, 1] is darker than the 1
  const fills = [
    ...heat.matchAll(/<rect x="[^"]+" y="[^"]+" width="\d+" height="\d+" fill="rgb\((\d+),/g),
  ].map((r) => Number(r[1]));
  assert.ok(fills[0]! < fills[1]!);
  const bars = barChartSvg({ title: "F1", labels: ["x", "y", "z"], values: [1, 0.5, Number.NaN], max: 1 });
  assert.equal((bars.match(/fill="#2f6fb0"/g) ?? []).length, 2); // NaN draws no bar
  assert.match(bars, />0\.50</);
  const lines = lineChartSvg({
    title: "L",
    series: [
      {
        name: "s",
        points: [
          [1, 1],
          [2, Number.NaN],
          [3, 2],
        ],
      },
    ],
  });
  assert.equal((lines.match(/<circle /g) ?? []).length, 2);
  assert.match(lines, /d="M[\d.]+,[\d.]+M[\d.]+,[\d.]+"/); // NaN breaks the line
  assert.equal(escapeXml(`a&b"c'<>`), "a&amp;b&quot;c&apos;&lt;&gt;");
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0.13, 0.61, 5), [0.2, 0.3, 0.4, 0.5, 0.6]);
  assert.equal(trainingCurveSvgs([]).size, 0);
});

test("stemscope eval CLI writes the report and prints a summary", () => {
  const out = join(dir, "cli-report");
  const r = evalCli("--report", out);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /split\.json test: 2 samples/);
  assert.match(r.stdout, /per-source accuracy \d\.\d{4} \(aligned \d\.\d{4}\), pair exact match/);
  assert.match(r.stdout, /SI-SDRi -?\d+\.\d\d dB/);
  assert.ok(readdirSync(out).includes("report.md"));
});

test("stemscope eval runs the model on onnxruntime unless told otherwise; libtorch gives the same metrics", () => {
  const metricsOf = (name: string, ...flags: string[]): EvalJson => {
    const r = evalCli("--out", join(dir, `backend-${name}`), "--json", ...flags);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as EvalJson;
  };
  const onnx = metricsOf("default");
  const libtorch = metricsOf("libtorch", "--backend", "libtorch");
  const bf16 = metricsOf("bf16", "--bf16");
  assert.deepEqual(onnx.backend, { name: "onnx", bf16: false });
  assert.deepEqual(libtorch.backend, { name: "libtorch", bf16: false });
  assert.deepEqual(bf16.backend, { name: "libtorch", bf16: true });
  assert.deepEqual(onnx.classification.confusionMatrix, libtorch.classification.confusionMatrix);
  const a = onnx.separation.audio!;
  const b = libtorch.separation.audio!;
  assert.ok(Math.abs(a.siSdr.mean - b.siSdr.mean) < 1e-3, `SI-SDR ${a.siSdr.mean} vs ${b.siSdr.mean}`);
  assert.ok(Math.abs(onnx.separation.spectrogramMse - libtorch.separation.spectrogramMse) < 1e-6);
});
