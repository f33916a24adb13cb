import { join } from "node:path";
import type { Command } from "commander";
import { setNumThreads } from "../engine/index.js";
import {
  type EvalMetrics,
  evaluate,
  type EvaluateOptions,
  EvaluateOptionsSchema,
  writeReport,
} from "../eval/index.js";
import { readTrainLog } from "../model/folder.js";
import { BACKENDS } from "../separator/runner.js";
import { loadSeparator, type Separator } from "../separator/separator.js";
import { OnnxExportError } from "../export/index.js";
import { addAlias, warningPrinter } from "./flags.js";
import { loadOptions } from "./predict.js";
import { createProgress } from "../util/progress.js";
import { withFolderLock } from "../util/lock.js";
import { parseChoice, parseIntFlag } from "./options.js";

interface EvalFlags {
  model?: string;
  data: string;
  out: string;
  subset?: string;
  batchSize?: string;
  limit?: string;
  audio: boolean;
  oracle?: boolean;
  bf16?: boolean;
  backend?: string;
  threads?: string;
  json?: boolean;
  quiet?: boolean;
}

/** The flags as evaluation options (absent flags stay absent: the schema's defaults apply). */
function evaluateOptions(flags: EvalFlags): EvaluateOptions {
  const options: EvaluateOptions = { audio: flags.audio };
  if (flags.subset !== undefined)
    options.subset = parseChoice("--subset", flags.subset, ["auto", "test", "all"] as const);
  if (flags.batchSize !== undefined)
    options.batchSize = parseIntFlag("--batch-size", flags.batchSize, { min: 1, max: 1024 });
  if (flags.limit !== undefined) options.limit = parseIntFlag("--limit", flags.limit, { min: 1 });
  if (flags.bf16 === true) options.bf16 = true;
  if (flags.oracle === true) options.oracle = true;
  return options;
}

function summaryLines(m: EvalMetrics, reportDir: string): string {
  const c = m.classification;
  const a = m.separation.audio;
  const f = (v: number, d = 4): string => (Number.isFinite(v) ? v.toFixed(d) : "n/a");
  return [
    `${m.data} (${m.split}: ${m.samples} samples) with ${m.model}` +
      (m.backend === undefined ? ":" : ` (${m.backend.name}${m.backend.bf16 ? ", bf16" : ""}):`),
    `  named accuracy ${f(c.namedAccuracy)} (all named ${f(c.namedExactMatch)}) — the instruments predict names` +
      (c.namedNone === undefined
        ? ""
        : `; ${f(c.namedNone)} called no instrument by the model's naming.none rule`),
    `  per-source accuracy ${f(c.perSourceAccuracy)} (aligned ${f(c.perSourceAccuracyAligned)}), pair exact match ${f(c.pairExactMatch)}`,
    `  macro F1 ${f(c.macroF1)}, micro F1 ${f(c.microF1)}, spectrogram MSE ${f(m.separation.spectrogramMse, 5)}`,
    ...(a === undefined
      ? []
      : [
          `  SDR ${f(a.sdr.mean, 2)} dB, SI-SDR ${f(a.siSdr.mean, 2)} dB, SI-SDRi ${f(a.siSdrImprovement.mean, 2)} dB${a.bestOrder === undefined ? "" : ` (in each mixture's best order ${f(a.bestOrder.siSdrImprovement.mean, 2)} dB)`}`,
          ...(a.oracle === undefined
            ? []
            : [
                `  oracle (ideal ratio masks in the model's features): SDR ${f(a.oracle.sdr.mean, 2)} dB, SI-SDR ${f(a.oracle.siSdr.mean, 2)} dB, SI-SDRi ${f(a.oracle.siSdrImprovement.mean, 2)} dB`,
              ]),
        ]),
    `  report: ${join(reportDir, "report.md")}, metrics: ${join(reportDir, "metrics.json")}`,
  ].join("\n");
}

/** `stemscope eval --model <dir> --data <dir> [--out <dir>]` */
export function registerEvalCommand(program: Command): void {
  const d = EvaluateOptionsSchema.parse({});
  const command = program
    .command("eval")
    .description(
      "Evaluate a model on a labels.txt dataset (by default the test part of its split.json when it has one): named accuracy, per-source accuracy, pair exact match, per-class P/R/F1, confusion matrix, spectrogram MSE, SDR / SI-SDR / SI-SDRi; writes metrics.json and report.md with SVG charts.",
    )
    .option(
      "--model <dir>",
      "model folder, or the name of a packaged model (models/<name>) (default: the packaged models/default)",
    )
    .requiredOption("--data <dir>", "dataset folder with labels.txt (e.g. made by `stemscope mix`)")
    .option("--out <dir>", "where to write metrics.json, report.md and the pictures", "eval-report")
    .option(
      "--subset <part>",
      `auto (split.json's test part if present, else all) | test | all (default: ${d.subset})`,
    )
    .option("--batch-size <n>", `samples per forward pass (default: ${d.batchSize})`)
    .option("--limit <n>", "evaluate only the first n samples")
    .option("--no-audio", "skip the audio metrics (SDR, SI-SDR, SI-SDRi)")
    .option(
      "--oracle",
      "also score stems resynthesised from the reference sources' features (ideal ratio masks in the model's feature domain): the ceiling of its separation",
    )
    .option(
      "--bf16",
      "bfloat16 convolutions (faster on CPUs with AVX512-BF16/AMX; slightly different numbers)",
    )
    .option(
      "--backend <name>",
      `what runs the model: ${Object.keys(BACKENDS).join(" | ")} (default: onnx — onnxruntime on the folder's ONNX export, the faster here (npm run bench:eval) — or libtorch with --bf16)`,
    )
    .option("--threads <n>", "libtorch threads (default: all cores, or $STEMSCOPE_THREADS)")
    .option("--json", "print metrics.json to stdout instead of the summary")
    .option("--quiet", "no progress output");
  addAlias(command, "--report <dir>", "out");
  addAlias(command, "--split <part>", "subset");
  addAlias(command, "--batch <n>", "batchSize");
  command.action(async (flags: EvalFlags) => {
    const options = evaluateOptions(flags);
    if (flags.threads !== undefined)
      setNumThreads(parseIntFlag("--threads", flags.threads, { min: 1, max: 256 }));
    // Locked from the start, so a second run writing the same report fails at once.
    await withFolderLock(
      flags.out,
      "eval",
      () => evaluateInto(flags, options, command),
      warningPrinter(command),
    );
  });
}

/**
 * eval's backend: --backend when given; else onnxruntime, whose forward pass is the faster on CPUs
 * (npm run bench:eval; exporting the model on load costs ~1 s, once per run), unless --bf16 asks
 * for libtorch's bfloat16 (onnxruntime has none on CPUs).
 */
async function loadEvalSeparator(flags: EvalFlags): Promise<Separator> {
  if (flags.backend !== undefined) return loadSeparator(flags.model, loadOptions(flags));
  if (flags.bf16 === true) return loadSeparator(flags.model, { backend: "libtorch" });
  try {
    return await loadSeparator(flags.model, { backend: "onnx" });
  } catch (error) {
    // A model with a layer the exporter does not map still evaluates, on libtorch.
    if (!(error instanceof OnnxExportError)) throw error;
    return loadSeparator(flags.model, { backend: "libtorch" });
  }
}

/** `eval`'s work once its --out folder is locked. */
async function evaluateInto(flags: EvalFlags, options: EvaluateOptions, command: Command): Promise<void> {
  const separator = await loadEvalSeparator(flags);
  try {
    let progress: ReturnType<typeof createProgress> | undefined;
    const metrics = await evaluate(separator, flags.data, {
      ...options,
      onProgress: (done, total) => {
        progress ??= createProgress({ label: "eval", total, quiet: flags.quiet === true });
        progress.update(done);
      },
    });
    progress?.stop();
    const log = readTrainLog(separator.dir, warningPrinter(command));
    await writeReport(flags.out, metrics, log);
    process.stdout.write(
      flags.json === true ? `${JSON.stringify(metrics, null, 2)}\n` : `${summaryLines(metrics, flags.out)}\n`,
    );
  } finally {
    separator.dispose();
  }
}
