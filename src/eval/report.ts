/**
 * The evaluation report: `metrics.json`, `report.md` and its pictures (`confusion.svg`, `f1.svg`,
 * and `loss.svg` / `accuracy.svg` from the model's train_log.jsonl when it has one).
 */
import { join } from "node:path";
import type { TrainLogRecord } from "../model/folder.js";
import { writeFileAtomic } from "../util/atomic.js";
import type { DbSummary, EvalMetrics } from "./evaluate.js";
import { barChartSvg, heatmapSvg, type LineSeries, lineChartSvg } from "./svg.js";

/**
 * Training-curve charts: `loss` (the fields named like trainLoss / valLoss; all *Loss fields when
 * those two are absent) and `accuracy` (fields whose name contains "acc"), against the epoch.
 * @returns file name → SVG, for the charts that have data
 */
export function trainingCurveSvgs(records: readonly TrainLogRecord[]): Map<string, string> {
  const out = new Map<string, string>();
  if (records.length === 0) return out;
  const keys = new Set<string>();
  for (const r of records)
    for (const [key, v] of Object.entries(r)) if (typeof v === "number" && key !== "epoch") keys.add(key);
  const series = (names: string[]): LineSeries[] =>
    names.map((name) => ({
      name,
      points: records.map((r) => {
        const value = (r as Record<string, unknown>)[name];
        return [r.epoch, typeof value === "number" ? value : Number.NaN] as const;
      }),
    }));
  const main = ["trainLoss", "valLoss"].filter((k) => keys.has(k));
  const losses = main.length > 0 ? main : [...keys].filter((k) => /loss$/i.test(k));
  if (losses.length > 0)
    out.set(
      "loss.svg",
      lineChartSvg({ title: "Loss", series: series(losses), xLabel: "epoch", yLabel: "loss" }),
    );
  const accs = [...keys].filter((k) => /acc/i.test(k));
  if (accs.length > 0)
    out.set(
      "accuracy.svg",
      lineChartSvg({ title: "Accuracy", series: series(accs), xLabel: "epoch", yLabel: "accuracy" }),
    );
  return out;
}

function pct(v: number): string {
  return Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : "–";
}
function db(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)} dB` : "–";
}
function num(v: number, digits = 4): string {
  return Number.isFinite(v) ? v.toFixed(digits) : "–";
}

/** The Markdown report (pictures referenced by relative file name). */
export function reportMarkdown(metrics: EvalMetrics, pictures: readonly string[]): string {
  const c = metrics.classification;
  const s = metrics.separation;
  const lines = [
    `# stemscope evaluation`,
    "",
    `- model: \`${metrics.model}\`` +
      (metrics.backend === undefined
        ? ""
        : ` (run by ${metrics.backend.name}${metrics.backend.bf16 ? " in bfloat16" : ""})`),
    `- data: \`${metrics.data}\` (${metrics.split}: ${metrics.samples} samples × ${metrics.sources} sources)`,
    `- took ${metrics.seconds.toFixed(1)} s`,
    "",
    "## Classification",
    "",
    "| metric | value |",
    "|---|---|",
    `| named accuracy (sources named right by predict's rule: K highest play probabilities, order-free) | ${pct(c.namedAccuracy)} |`,
    `| named exact match (all K instruments named) | ${pct(c.namedExactMatch)} |`,
    ...(c.namedNone === undefined
      ? []
      : [
          `| called no instrument (the model folder's naming.none rule; named nothing) | ${pct(c.namedNone)} |`,
        ]),
    `| per-source accuracy (the seed's metric, fixed source order) | ${pct(c.perSourceAccuracy)} |`,
    `| per-source accuracy (outputs aligned by least spectrogram MSE) | ${pct(c.perSourceAccuracyAligned)} |`,
    `| pair exact match (all labels right, order-free) | ${pct(c.pairExactMatch)} |`,
    `| macro F1 | ${num(c.macroF1)} |`,
    `| micro F1 | ${num(c.microF1)} |`,
    "",
    "| class | precision | recall | F1 | support |",
    "|---|---|---|---|---|",
    ...metrics.classes.map((name) => {
      const p = c.perClass[name];
      return p === undefined
        ? `| ${name} | – | – | – | 0 |`
        : `| ${name} | ${num(p.precision, 3)} | ${num(p.recall, 3)} | ${num(p.f1, 3)} | ${p.support} |`;
    }),
    "",
  ];
  if (pictures.includes("confusion.svg")) lines.push("![Confusion matrix](confusion.svg)", "");
  if (pictures.includes("f1.svg")) lines.push("![Per-class F1](f1.svg)", "");
  lines.push(
    "## Separation",
    "",
    "| metric | value |",
    "|---|---|",
    `| spectrogram MSE (the seed's metric, fixed order) | ${num(s.spectrogramMse, 5)} |`,
    `| spectrogram MSE (aligned) | ${num(s.spectrogramMseAligned, 5)} |`,
  );
  if (s.audio !== undefined) {
    const a = s.audio;
    const meanMedian = (d: DbSummary): string => `${db(d.mean)} / ${db(d.median)}`;
    lines.push(
      `| SDR, mean / median | ${meanMedian(a.sdr)} |`,
      `| SI-SDR, mean / median | ${meanMedian(a.siSdr)} |`,
      `| SI-SDR of the unprocessed mixture | ${db(a.mixtureSiSdr.mean)} |`,
      `| SI-SDR improvement (SI-SDRi), mean / median | ${meanMedian(a.siSdrImprovement)} |`,
    );
    if (a.bestOrder !== undefined) {
      lines.push(
        `| SI-SDRi in each mixture's best order (order-free), mean / median | ${meanMedian(a.bestOrder.siSdrImprovement)} |`,
        `| mixtures whose aligned order is the best order | ${pct(a.bestOrder.alignedIsBest)} |`,
      );
    }
    lines.push("");
    if (a.oracle !== undefined) {
      const o = a.oracle;
      lines.push(
        "The model beside the oracle: stems from the reference sources' own features through the same masks",
        "and resynthesis (ideal ratio masks in the model's feature domain), the ceiling of this resynthesis.",
        "",
        "| mean / median | model | oracle |",
        "|---|---|---|",
        `| SDR | ${meanMedian(a.sdr)} | ${meanMedian(o.sdr)} |`,
        `| SI-SDR | ${meanMedian(a.siSdr)} | ${meanMedian(o.siSdr)} |`,
        `| SI-SDRi | ${meanMedian(a.siSdrImprovement)} | ${meanMedian(o.siSdrImprovement)} |`,
        "",
      );
    }
    lines.push(
      "| class | SI-SDR | SI-SDRi | sources |",
      "|---|---|---|---|",
      ...Object.entries(a.perClass).map(
        ([name, v]) => `| ${name} | ${db(v.siSdr)} | ${db(v.siSdrImprovement)} | ${v.count} |`,
      ),
    );
  }
  lines.push("");
  const curves = pictures.filter((p) => p === "loss.svg" || p === "accuracy.svg");
  if (curves.length > 0) {
    lines.push(
      "## Training curves",
      "",
      ...curves.map((p) => `![${p === "loss.svg" ? "Loss" : "Accuracy"} by epoch](${p})`),
      "",
    );
  }
  lines.push(
    "Metric definitions: per-source accuracy compares the argmax of each output's logits with the label of the",
    "same source position; the aligned metrics first reorder the outputs by the permutation with the least",
    "spectrogram MSE against the references. SDR = 10·log10(‖s‖²/‖s−ŝ‖²); SI-SDR after projecting the estimate",
    "onto the reference (Le Roux et al. 2019); both capped at 100 dB. Stems come from masks on the mixture's STFT.",
    "",
  );
  return lines.join("\n");
}

/**
 * Writes metrics.json, report.md and the SVG pictures into `dir` (created when missing).
 * @param trainLog the model's train_log.jsonl records (may be empty)
 * @returns the written file paths
 */
export async function writeReport(
  dir: string,
  metrics: EvalMetrics,
  trainLog: readonly TrainLogRecord[] = [],
): Promise<string[]> {
  const files = new Map<string, string>();
  files.set("metrics.json", `${JSON.stringify(metrics, null, 2)}\n`);
  const c = metrics.classification;
  files.set(
    "confusion.svg",
    heatmapSvg({
      title: "Confusion matrix (aligned sources)",
      rows: metrics.classes,
      cols: metrics.classes,
      values: c.confusionMatrix,
      rowTitle: "true",
      colTitle: "predicted",
    }),
  );
  files.set(
    "f1.svg",
    barChartSvg({
      title: "F1 per class",
      labels: metrics.classes,
      values: metrics.classes.map((n) => c.perClass[n]?.f1 ?? Number.NaN),
      max: 1,
      yLabel: "F1",
    }),
  );
  for (const [name, svg] of trainingCurveSvgs(trainLog)) files.set(name, svg);
  files.set("report.md", reportMarkdown(metrics, [...files.keys()]));
  const written: string[] = [];
  for (const [name, content] of files) {
    const path = join(dir, name);
    await writeFileAtomic(path, content);
    written.push(path);
  }
  return written;
}
