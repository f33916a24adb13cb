import { join } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { JointModel, JointModelConfigSchema } from "../model/joint.js";
import { loadModelFolder, MODEL_FILES } from "../model/folder.js";
import { PRESET_NAMES, presetConfig } from "../model/presets.js";
import { parseChoice, parseIntFlag } from "./options.js";

interface ModelInfoFlags {
  preset?: string;
  classes?: string;
  sources?: string;
  json?: boolean;
}

/** Parameter counts of a model's parts: the U-Net, the ResNet and the total. */
export function modelParameterCounts(model: JointModel): { unet: number; classifier: number; total: number } {
  const unet = model.unet.parameterCount();
  const classifier = model.classifier.parameterCount();
  return { unet, classifier, total: unet + classifier };
}

/** Registers `stemscope model info`. */
export function registerModelCommand(program: Command): void {
  const model = program.command("model").description("Inspect model architectures and model folders.");
  model
    .command("info [dir]")
    .description(
      "Print the architecture and parameter counts of a preset (--preset) or of a model folder (dir).",
    )
    .option("--preset <name>", `one of ${PRESET_NAMES.join(", ")}`)
    .option("--classes <n>", "number of classes for --preset (default: 10)")
    .option(
      "--sources <k>",
      `number of sources for --preset (default: ${JointModelConfigSchema.shape.sources.parse(undefined)})`,
    )
    .option("--json", "print JSON")
    .action(async (dir: string | undefined, flags: ModelInfoFlags) => {
      if ((dir === undefined) === (flags.preset === undefined)) {
        throw new UsageError("model info needs either a model folder or --preset <name> (not both)");
      }
      // A folder's weights are loaded as predict would, so corrupt, NaN or ill-fitting weights are
      // reported here too, not only its config.json.
      const folder = dir === undefined ? undefined : await loadModelFolder(dir);
      const config =
        folder !== undefined
          ? folder.model.config
          : presetConfig(
              parseChoice("--preset", flags.preset!, PRESET_NAMES),
              flags.classes === undefined ? 10 : parseIntFlag("--classes", flags.classes, { min: 2 }),
              flags.sources === undefined
                ? undefined
                : parseIntFlag("--sources", flags.sources, { min: 2, max: 16 }),
            );
      const m = folder?.model ?? new JointModel(config);
      const weights = dir === undefined ? undefined : join(dir, MODEL_FILES.weights);
      try {
        const counts = modelParameterCounts(m);
        if (flags.json === true) {
          process.stdout.write(`${JSON.stringify({ config, parameters: counts, weights })}\n`);
          return;
        }
        const u = config.unet;
        const r = config.resnet;
        process.stdout.write(
          `${dir ?? `preset ${config.preset}`}: ${config.sources} sources, ${config.numClasses} classes\n` +
            `  U-Net   depth ${u.depth}, channels ${u.baseChannels}→${u.baseChannels * 2 ** (u.depth - 1)}, dropout ${u.dropout}, output ${u.output}, ${u.skips} skips: ${counts.unet.toLocaleString("en-US")} parameters\n` +
            `  ResNet-${r.depth} width ${r.width}, stem stride ${r.stemStride}${r.stemPool ? " + max-pool" : ""}, dropout ${r.dropout}, input ${config.classifierInput}: ${counts.classifier.toLocaleString("en-US")} parameters\n` +
            `  total   ${counts.total.toLocaleString("en-US")} parameters (${((counts.total * 4) / 2 ** 20).toFixed(1)} MiB float32)\n` +
            (weights === undefined ? "" : `  weights ${weights}: loaded, every value finite\n`),
        );
      } finally {
        m.dispose();
      }
    });
}
