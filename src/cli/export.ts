import { join } from "node:path";
import type { Command } from "commander";
import { exportModelFolderToFile, OPSET_RANGE, readOnnxModelInfo } from "../export/index.js";
import { parseIntFlag } from "./options.js";

interface ExportFlags {
  out?: string;
  opset: string;
  quiet?: boolean;
}

/** `stemscope export <model-folder> [--out <file>] [--opset 17] [--quiet]` */
export function registerExportCommand(program: Command): void {
  program
    .command("export")
    .description(
      'Write a model folder as one ONNX file: input "features" [batch, 1, nMels, size] float32 (dynamic batch) → "separated" [batch, K, nMels, size] and "logits" [batch, K, classes]; class names and feature settings in its metadata; batch norm folded into the convolutions. Runs in onnxruntime (Node, web, Python, C++).',
    )
    .argument("<model-folder>", "a folder written by `stemscope train` (config.json + weights.safetensors)")
    .option("--out <file>", "ONNX file to write (default: <model-folder>/model.onnx)")
    .option("--opset <n>", `ONNX opset, ${OPSET_RANGE.min}–${OPSET_RANGE.max}`, String(OPSET_RANGE.default))
    .option("--quiet", "print nothing on success")
    .action(async (dir: string, flags: ExportFlags) => {
      const opset = parseIntFlag("--opset", flags.opset, { min: OPSET_RANGE.min, max: OPSET_RANGE.max });
      const out = flags.out ?? join(dir, "model.onnx");
      const bytes = await exportModelFolderToFile(dir, out, { opset });
      if (flags.quiet === true) return;
      const info = readOnnxModelInfo(bytes, out);
      process.stdout.write(
        `${out}: ${(bytes.length / 2 ** 20).toFixed(1)} MiB, opset ${opset}, ${info.sources} sources, ${info.classes.length} classes (${info.classes.join(", ")})\n`,
      );
    });
}
