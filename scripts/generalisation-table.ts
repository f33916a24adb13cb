/**
 * The table of scripts/eval-generalisation.sh: `node --import tsx scripts/generalisation-table.ts <work>`.
 * Reads `<work>/runs/k<K>-<group>/{heldout,indomain}/metrics.json` (written by `stemscope eval
 * --oracle`) and prints Markdown: per held-out group and source count, named accuracy (predict's
 * rule), all-named, SI-SDRi of the model (aligned, and in each mixture's best order) and of its
 * oracle, the in-domain numbers, the averages per source count, and per-class recall on the held-out
 * groups.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { EvalMetrics } from "../src/eval/evaluate.js";

const work = process.argv[2];
if (work === undefined) throw new Error("usage: generalisation-table.ts <work folder>");
const runsDir = join(work, "runs");
const runs = existsSync(runsDir)
  ? readdirSync(runsDir)
      .map((name) => /^k(\d+)-(.+)$/.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[0], k: Number(m[1]), group: m[2]! }))
      .sort((a, b) => a.k - b.k || (a.group < b.group ? -1 : 1))
  : [];

function read(run: string, part: string): EvalMetrics | null {
  const path = join(runsDir, run, part, "metrics.json");
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as EvalMetrics) : null;
}
const pct = (x: number | undefined): string => (x === undefined ? "–" : `${(100 * x).toFixed(1)} %`);
const db = (x: number | undefined): string => (x === undefined ? "–" : `${x >= 0 ? "+" : ""}${x.toFixed(1)}`);
const sdri = (m: EvalMetrics | null): string => {
  const audio = m?.separation.audio;
  return `${db(audio?.siSdrImprovement.mean)} (${db(audio?.bestOrder?.siSdrImprovement.mean)}) / ${db(audio?.oracle?.siSdrImprovement.mean)}`;
};
const mean = (xs: number[]): number | undefined =>
  xs.length === 0 ? undefined : xs.reduce((a, b) => a + b, 0) / xs.length;

const lines: string[] = [];
lines.push(
  "| held out | K | named | all named | SI-SDRi model (best order) / oracle (dB) | in-domain named | in-domain SI-SDRi model (best order) / oracle | test mixtures |",
  "|---|---|---|---|---|---|---|---|",
);
const byK = new Map<number, { named: number[]; all: number[]; sdri: number[]; inNamed: number[] }>();
for (const run of runs) {
  const held = read(run.name, "heldout");
  const inDomain = read(run.name, "indomain");
  if (held === null) continue;
  const c = held.classification;
  const agg = byK.get(run.k) ?? { named: [], all: [], sdri: [], inNamed: [] };
  agg.named.push(c.namedAccuracy);
  agg.all.push(c.namedExactMatch);
  const imp = held.separation.audio?.siSdrImprovement.mean;
  if (imp !== undefined) agg.sdri.push(imp);
  if (inDomain !== null) agg.inNamed.push(inDomain.classification.namedAccuracy);
  byK.set(run.k, agg);
  lines.push(
    `| ${run.group} | ${run.k} | ${pct(c.namedAccuracy)} | ${pct(c.namedExactMatch)} | ${sdri(held)} | ${pct(inDomain?.classification.namedAccuracy)} | ${sdri(inDomain)} | ${held.samples} |`,
  );
}
for (const [k, agg] of byK) {
  lines.push(
    `| **mean** | ${k} | ${pct(mean(agg.named))} (lowest ${pct(Math.min(...agg.named))}) | ${pct(mean(agg.all))} | ${db(mean(agg.sdri))} | ${pct(mean(agg.inNamed))} | | |`,
  );
}
lines.push("", "Per-class recall on the held-out group (aligned sources, argmax of the classifier):", "");
const classes = runs.map((r) => read(r.name, "heldout")).find((m) => m !== null)?.classes ?? [];
lines.push(`| held out | K | ${classes.join(" | ")} |`, `|---|---|${classes.map(() => "---").join("|")}|`);
for (const run of runs) {
  const held = read(run.name, "heldout");
  if (held === null) continue;
  const cells = classes.map((name) => {
    const c = held.classification.perClass[name];
    return c === undefined || c.support === 0 ? "–" : `${Math.round(100 * c.recall)}`;
  });
  lines.push(`| ${run.group} | ${run.k} | ${cells.join(" | ")} |`);
}
console.log(lines.join("\n"));
