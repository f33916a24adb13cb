// `--backend onnx`: predict and separate with the onnxruntime-node runner give the libtorch
// runner's results (window probabilities and file-level probabilities within 1e-4, stems within
// 1e-4) on the example files, for a tiny model and the shipped one; a stale model.onnx is not used;
// the CLI flag is parsed and checked.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { buildProgram } from "../src/cli/main.js";
import { exportModelFolderToFile, ONNX_FILE } from "../src/export/index.js";
import { defaultModelDir, loadModel, type Prediction } from "../src/infer/index.js";
import { assertClose, engineTest } from "./engine-helpers.js";
import { EXAMPLE_FILES, makeVariedModelFolder } from "./onnx-helpers.js";

/** |onnx − libtorch| ≤ TOLERANCE · max(1, |libtorch|) for probabilities and stem samples. */
const TOLERANCE = 1e-4;

const dir = mkdtempSync(join(tmpdir(), "stemscope-onnx-backend-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function assertSamePrediction(onnx: Prediction, torch: Prediction, label: string): void {
  assert.deepEqual(
    onnx.instruments.map((i) => i.name),
    torch.instruments.map((i) => i.name),
    `${label}: ranking`,
  );
  assertClose(
    onnx.instruments.map((i) => i.probability),
    torch.instruments.map((i) => i.probability),
    TOLERANCE,
    `${label}: file-level probabilities`,
  );
  assert.equal(onnx.windows.length, torch.windows.length);
  onnx.windows.forEach((w, i) => {
    const t = torch.windows[i]!;
    const byName = new Map(t.instruments.map((x) => [x.name, x.probability]));
    assertClose(
      w.instruments.map((x) => x.probability),
      w.instruments.map((x) => byName.get(x.name)!),
      TOLERANCE,
      `${label}: window ${i}`,
    );
  });
}

/** predict of every example and separate of one with both backends, compared. */
async function compareBackends(modelDir: string, label: string): Promise<void> {
  const onnx = await loadModel(modelDir, { backend: "onnx" });
  const torch = await loadModel(modelDir, { backend: "libtorch" });
  try {
    assert.equal(onnx.runner.backend, "onnx");
    for (const file of EXAMPLE_FILES) {
      assertSamePrediction(await onnx.predictFile(file), await torch.predictFile(file), `${label} ${file}`);
    }
    // Stems of one file (the masks and overlap-add are shared code; what differs is the planes).
    const file = EXAMPLE_FILES[0]!;
    const a = await onnx.separateFile(file);
    const b = await torch.separateFile(file);
    assert.deepEqual(
      a.stems.map((s) => s.name),
      b.stems.map((s) => s.name),
    );
    a.stems.forEach((s, i) =>
      assertClose(s.channels[0]!, b.stems[i]!.channels[0]!, TOLERANCE, `${label} ${file} stem ${i}`),
    );
  } finally {
    onnx.dispose();
    torch.dispose();
  }
}

engineTest("the onnx backend gives the libtorch backend's predictions and stems: tiny model", async () => {
  await compareBackends(await makeVariedModelFolder(join(dir, "tiny"), { seed: 31 }), "tiny");
});

engineTest(
  "the onnx backend gives the libtorch backend's predictions and stems: models/default",
  async () => {
    await compareBackends(defaultModelDir(), "models/default");
  },
);

engineTest(
  "a model.onnx exported from other weights is not used: results follow the folder's weights",
  async () => {
    const modelDir = await makeVariedModelFolder(join(dir, "stale"), { seed: 41 });
    await exportModelFolderToFile(modelDir, join(modelDir, ONNX_FILE));
    await makeVariedModelFolder(join(dir, "stale"), { seed: 42 }); // new weights, model.onnx left behind
    const onnx = await loadModel(modelDir, { backend: "onnx" });
    const torch = await loadModel(modelDir);
    try {
      const file = EXAMPLE_FILES[0]!;
      assertSamePrediction(await onnx.predictFile(file), await torch.predictFile(file), "stale model.onnx");
    } finally {
      onnx.dispose();
      torch.dispose();
    }
  },
);

test("--backend names its choices", async () => {
  const program = buildProgram();
  program.configureOutput({ writeOut: () => {}, writeErr: () => {} });
  await assert.rejects(
    program.parseAsync(["node", "stemscope", "predict", EXAMPLE_FILES[0]!, "--backend", "tensorflow"]),
    /--backend must be one of libtorch, onnx, got "tensorflow"/,
  );
});
