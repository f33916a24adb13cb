import { join } from "node:path";
import type { Command } from "commander";
import { setNumThreads } from "../engine/index.js";
import { type EvalMetrics, evaluate, writeReport } from "../eval/index.js";
import { readTrainLog } from "../model/folder.js";
import { loadModel } from "../infer/index.js";
import { createProgress } from "../util/progress.js";
import { parseChoice, parseIntFlag } from "./options.js";

interface EvalFlags {
  model?: string;
  data: string;
  report: string;
  split: string;
  batch?: string;
  limit?: string;
  audio: boolean;
  threads?: string;
  json?: boolean;
  quiet?: boolean;
}

function summaryLines(m: EvalMetrics, reportDir: string): string {
  const c = m.classification;
  const a = m.separation.audio;
  const f = (v: number, d = 4): string => (Number.isFinite(v) ? v.toFixed(d) : "n/a");
  return [
    `${m.data} (${m.split}: ${m.samples} samples) with ${m.model}:`,
    `  named accuracy ${f(c.namedAccuracy)} (all named ${f(c.namedExactMatch)}) — the instruments predict names`,
    `  per-source accuracy ${f(c.perSourceAccuracy)} (aligned ${f(c.perSourceAccuracyAligned)}), pair exact match ${f(c.pairExactMatch)}`,
    `  macro F1 ${f(c.macroF1)}, micro F1 ${f(c.microF1)}, spectrogram MSE ${f(m.separation.spectrogramMse, 5)}`,
    ...(a === undefined
      ? []
      : [
          `  SDR ${f(a.sdr.mean, 2)} dB, SI-SDR ${f(a.siSdr.mean, 2)} dB, SI-SDRi ${f(a.siSdrImprovement.mean, 2)} dB`,
        ]),
    `  report: ${join(reportDir, "report.md")}, metrics: ${join(reportDir, "metrics.json")}`,
  ].join("\n");
}

/** `stemscope eval --model <dir> --data <dir> [--report <dir>]` */
export function registerEvalCommand(program: Command): void {
  program
    .command("eval")
    .description(
      "Evaluate a model on a labels.txt dataset (by default the test part of its split.json when it has one): accuracy, pair exact match, per-class P/R/F1, confusion matrix, spectrogram MSE, SDR / SI-SDR / SI-SDRi; writes metrics.json and report.md with SVG charts.",
    )
    .option("--model <dir>", "model folder (default: the packaged models/default)")
    .requiredOption("--data <dir>", "dataset folder with labels.txt (e.g. made by `stemscope mix`)")
    .option("--report <dir>", "where to write metrics.json, report.md and the pictures", "eval-report")
    .option("--split <part>", "auto (split.json's test part if present, else all) | test | all", "auto")
    .option("--batch <n>", "samples per forward pass (default: 16)")
    .option("--limit <n>", "evaluate only the first n samples")
    .option("--no-audio", "skip the audio metrics (SDR, SI-SDR, SI-SDRi)")
    .option("--threads <n>", "libtorch threads (default: all cores, or $STEMSCOPE_THREADS)")
    .option("--json", "print metrics.json to stdout instead of the summary")
    .option("--quiet", "no progress output")
    .action(async (flags: EvalFlags) => {
      const split = parseChoice("--split", flags.split, ["auto", "test", "all"] as const);
      const batchSize =
        flags.batch === undefined ? undefined : parseIntFlag("--batch", flags.batch, { min: 1, max: 1024 });
      const limit = flags.limit === undefined ? undefined : parseIntFlag("--limit", flags.limit, { min: 1 });
      if (flags.threads !== undefined)
        setNumThreads(parseIntFlag("--threads", flags.threads, { min: 1, max: 256 }));
      const model = await loadModel(flags.model);
      try {
        let progress: ReturnType<typeof createProgress> | undefined;
        const metrics = await evaluate(model, flags.data, {
          subset: split,
          audio: flags.audio,
          ...(batchSize === undefined ? {} : { batchSize }),
          ...(limit === undefined ? {} : { limit }),
          onProgress: (done, total) => {
            progress ??= createProgress({ label: "eval", total, quiet: flags.quiet === true });
            progress.update(done);
          },
        });
        progress?.stop();
        const log = readTrainLog(model.dir, (message) =>
          process.stderr.write(`stemscope: warning: ${message}\n`),
        );
        await writeReport(flags.report, metrics, log);
        process.stdout.write(
          flags.json === true
            ? `${JSON.stringify(metrics, null, 2)}\n`
            : `${summaryLines(metrics, flags.report)}\n`,
        );
      } finally {
        model.dispose();
      }
    });
}
