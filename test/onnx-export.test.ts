// ONNX export: onnxruntime-node on the exported graph gives the engine's outputs (separated
// spectrograms and logits, within 1e-4) on the example files, for the `tiny` preset with every
// architecture option and for the shipped model; the reference onnx checker accepts the files; the
// metadata round-trips; bad opsets, files and folders give clear errors.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { AdaptiveAvgPool2d, noGrad, tensor, tidy } from "../src/engine/index.js";
import {
  exportJointModel,
  exportModelFolder,
  exportModelFolderToFile,
  GraphBuilder,
  modelFolderFingerprint,
  modelFolderOnnx,
  ONNX_FILE,
  OnnxExportError,
  OnnxModelError,
  readOnnxModelInfo,
} from "../src/export/index.js";
import { defaultModelDir } from "../src/infer/index.js";
import { type JointModelConfig, loadModelFolder, readModelConfig } from "../src/model/index.js";
import { buildProgram } from "../src/cli/main.js";
import { ParameterError } from "../src/errors.js";
import { assertClose, assertNoLeak, engineTest } from "./engine-helpers.js";
import { exampleFeatures, foreignOnnx, makeVariedModelFolder, runOnnx } from "./onnx-helpers.js";

/** |onnx − engine| ≤ TOLERANCE · max(1, |engine|) for every output value. */
const TOLERANCE = 1e-4;

const dir = mkdtempSync(join(tmpdir(), "stemscope-onnx-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const python = "/usr/bin/python3";
const havePythonOnnx =
  existsSync(python) && spawnSync(python, ["-c", "import onnx"], { encoding: "utf8" }).status === 0;

/** The engine's outputs and the exported graph's on the example files, compared. */
async function compareWithEngine(modelDir: string, label: string): Promise<Uint8Array> {
  const bytes = await exportModelFolder(modelDir);
  const loaded = await loadModelFolder(modelDir);
  try {
    const { nMels, size } = loaded.features;
    const { data, batch } = await exampleFeatures(loaded.features);
    assert.ok(batch >= 9, "3 examples × 3 windows");
    const shape = [batch, 1, nMels, size];
    const engine = noGrad(() =>
      tidy(() => {
        const y = loaded.model.forward(tensor(data, shape).contiguous("channels_last"));
        return { separated: y.separated.contiguous().toFloat32Array(), logits: y.logits.toFloat32Array() };
      }),
    );
    const onnx = await runOnnx(bytes, data, shape);
    const k = loaded.config.model.sources;
    assert.deepEqual(onnx.dims.separated, [batch, k, nMels, size], `${label}: separated shape`);
    assert.deepEqual(onnx.dims.logits, [batch, k, loaded.classes.length], `${label}: logits shape`);
    assertClose(onnx.separated, engine.separated, TOLERANCE, `${label}: separated`);
    assertClose(onnx.logits, engine.logits, TOLERANCE, `${label}: logits`);
    // The logits are not trivially equal (a random model still separates its classes per window).
    assert.ok(
      new Set(Array.from(engine.logits, (v) => v.toFixed(3))).size > batch,
      `${label}: varied logits`,
    );
  } finally {
    loaded.model.dispose();
  }
  return bytes;
}

const variants = [
  { name: "tiny preset (pooled skips, direct output, classifier on the source)", overrides: undefined },
  {
    name: "tiny with a mask output, full U-Net skips, source+mixture classifier, ResNet-50 bottlenecks, 3 sources",
    overrides: (c: JointModelConfig): JointModelConfig => ({
      ...c,
      sources: 3,
      classifierInput: "source+mixture",
      unet: { ...c.unet, output: "mask", skips: "full", dropout: 0.2 },
      resnet: { ...c.resnet, depth: 50, stemPool: false, dropout: 0.3 },
    }),
  },
  {
    name: "tiny with a ratio output (softmax ratio masks on mel power, native features, topDb 80), 3 sources",
    overrides: (c: JointModelConfig): JointModelConfig => ({
      ...c,
      sources: 3,
      unet: { ...c.unet, output: "ratio", topDb: 80 },
    }),
  },
];

for (const [i, variant] of variants.entries()) {
  engineTest(
    `onnxruntime equals the engine within ${TOLERANCE} on the examples: ${variant.name}`,
    async () => {
      const modelDir = await makeVariedModelFolder(join(dir, `variant${i}`), {
        seed: 11 + i,
        features: { mode: i === 1 ? "seed" : "native" },
        ...(variant.overrides === undefined ? {} : { overrides: variant.overrides }),
      });
      await compareWithEngine(modelDir, variant.name);
    },
  );
}

const shipped = defaultModelDir();
const haveShipped = existsSync(join(shipped, "config.json"));
const shippedTitle = `onnxruntime equals the engine within ${TOLERANCE} on the examples: the shipped models/default`;
test(shippedTitle, { skip: !haveShipped && "models/default is not installed" }, () =>
  assertNoLeak(shippedTitle, async () => {
    const bytes = await compareWithEngine(shipped, "models/default");
    const info = readOnnxModelInfo(bytes, "default.onnx");
    const config = readModelConfig(shipped);
    assert.deepEqual(info.classes, config.classes);
    assert.deepEqual(info.features, config.features);
    assert.equal(info.sources, config.model.sources);
  }),
);

engineTest(
  "the batch dimension is dynamic: one window alone gives the same outputs as inside a batch",
  async () => {
    const modelDir = await makeVariedModelFolder(join(dir, "batch"), { seed: 3 });
    const bytes = await exportModelFolder(modelDir);
    const info = readOnnxModelInfo(bytes, "batch.onnx");
    const { data, batch } = await exampleFeatures(info.features);
    const cell = info.features.nMels * info.features.size;
    const all = await runOnnx(bytes, data, [batch, 1, 128, 128]);
    const third = await runOnnx(bytes, data.slice(2 * cell, 3 * cell), [1, 1, 128, 128]);
    const k = info.sources;
    const c = info.classes.length;
    assertClose(third.logits, all.logits.slice(2 * k * c, 3 * k * c), 1e-5, "logits of window 2");
    assertClose(
      third.separated,
      all.separated.slice(2 * k * cell, 3 * k * cell),
      1e-5,
      "separated of window 2",
    );
  },
);

test(
  "the reference checker accepts exported files (onnx.checker full check, shapes inferred) and rejects a broken graph",
  { skip: !havePythonOnnx && `${python} has no onnx module (Debian: apt-get install python3-onnx)` },
  async () => {
    const tiny = await makeVariedModelFolder(join(dir, "check"), { seed: 5 });
    const ratio = await makeVariedModelFolder(join(dir, "check-ratio"), {
      seed: 6,
      overrides: (c) => ({ ...c, unet: { ...c.unet, output: "ratio", topDb: 80 } }),
    });
    const files: string[] = [];
    for (const [name, modelDir, opset] of [
      ["tiny13", tiny, 13],
      ["tiny17", tiny, 17],
      ["ratio13", ratio, 13],
      ...(haveShipped ? [["default17", shipped, 17] as const] : []),
    ] as const) {
      const file = join(dir, `${name}.onnx`);
      writeFileSync(file, await exportModelFolder(modelDir, { opset }));
      files.push(file);
    }
    const ok = spawnSync(python, ["scripts/check-onnx.py", ...files], { encoding: "utf8" });
    assert.equal(ok.status, 0, ok.stderr);
    const reports = ok.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { ok: boolean; opset: number; classes: string[] });
    assert.deepEqual(
      reports.map((r) => r.opset),
      files.map((f) => (f.includes("13") ? 13 : 17)),
    );
    assert.deepEqual(reports[0]!.classes, ["cello", "flute", "piano"]);

    // A 3×3 conv of an 8×8 input declared to give 5×5 (it gives 6×6) fails strict shape inference.
    const g = new GraphBuilder();
    const y = g.op("Conv", ["features", g.float32("w", new Float32Array(2 * 9), [2, 1, 3, 3])], {
      kernel_shape: [3, 3],
    });
    const broken = join(dir, "broken.onnx");
    writeFileSync(
      broken,
      g.encode({
        graphName: "broken",
        opset: 17,
        producerVersion: "test",
        inputs: [{ name: "features", elementType: "float32", dims: ["batch", 1, 8, 8] }],
        outputs: [{ name: y, elementType: "float32", dims: ["batch", 2, 5, 5] }],
        metadata: {},
      }),
    );
    const bad = spawnSync(python, ["scripts/check-onnx.py", broken], { encoding: "utf8" });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /broken\.onnx: InferenceError: .*differ in dimension 2: \(6\) vs \(5\)/);
  },
);

engineTest(
  "export errors: opset out of range, class count, a layer with no mapping, files that are not stemscope exports",
  async () => {
    const modelDir = await makeVariedModelFolder(join(dir, "errors"), { seed: 9 });
    await assert.rejects(exportModelFolder(modelDir, { opset: 12 }), (e: Error) => {
      assert.ok(e instanceof ParameterError && e.parameter === "opset");
      assert.match(e.message, /^`opset` must be an integer from 13 to 21, got 12$/);
      return true;
    });
    const loaded = await loadModelFolder(modelDir);
    try {
      assert.throws(
        () => exportJointModel(loaded.model, { classes: ["a", "b"], features: loaded.features }),
        /`classes`: 2 names for a model with 3 outputs$/,
      );
      // A layer the exporter cannot write is refused by name, never exported wrongly.
      Object.assign(loaded.model.classifier, { avgpool: new AdaptiveAvgPool2d(2) });
      assert.throws(
        () => exportJointModel(loaded.model, { classes: loaded.classes, features: loaded.features }),
        (e: Error) =>
          e instanceof OnnxExportError &&
          e.message === "classifier.avgpool: AdaptiveAvgPool2d to 2×2 has no ONNX mapping (only 1×1)",
      );
    } finally {
      loaded.model.dispose();
    }
    assert.throws(
      () => readOnnxModelInfo(new Uint8Array([1, 2, 3, 4, 5]), "noise.onnx"),
      (e: Error) => e instanceof OnnxModelError && /^noise\.onnx: not an ONNX model/.test(e.message),
    );
    const foreign = foreignOnnx();
    assert.throws(
      () => readOnnxModelInfo(foreign, "other.onnx"),
      /other\.onnx: an ONNX model, but not one written by `stemscope export` \(no stemscope\.export_version metadata\)/,
    );
  },
);

engineTest(
  "stemscope export writes <folder>/model.onnx by default and --out elsewhere; bad flags name the flag",
  async () => {
    const modelDir = await makeVariedModelFolder(join(dir, "cli"), { seed: 13 });
    const parse = async (...args: string[]): Promise<void> => {
      const program = buildProgram();
      program.configureOutput({ writeOut: () => {}, writeErr: () => {} });
      await program.parseAsync(["node", "stemscope", ...args]);
    };
    await parse("export", modelDir, "--quiet");
    const byDefault = readFileSync(join(modelDir, "model.onnx"));
    assert.deepEqual(readOnnxModelInfo(byDefault, "model.onnx").classes, ["cello", "flute", "piano"]);
    const out = join(dir, "cli-out", "tiny.onnx");
    await parse("export", modelDir, "--out", out, "--opset", "13", "--quiet");
    assert.ok(existsSync(out));
    await assert.rejects(
      parse("export", modelDir, "--opset", "99"),
      /--opset must be at most 21, got "?99"?|--opset/,
    );
    await assert.rejects(parse("export", join(dir, "missing")), /missing: model folder not found/);
  },
);

engineTest(
  "a folder's model.onnx is used only while it matches the folder's weights and config",
  async () => {
    const modelDir = await makeVariedModelFolder(join(dir, "cached"), { seed: 21 });
    assert.equal((await modelFolderOnnx(modelDir)).cached, false, "no model.onnx yet");
    const written = await exportModelFolderToFile(modelDir, join(modelDir, ONNX_FILE));
    const fresh = await modelFolderOnnx(modelDir);
    assert.equal(fresh.cached, true);
    assert.deepEqual(fresh.bytes, written);
    assert.equal(readOnnxModelInfo(written, "model.onnx").source, await modelFolderFingerprint(modelDir));
    // New weights (another seed) make the file stale: it is exported afresh, with the new fingerprint.
    await makeVariedModelFolder(join(dir, "cached"), { seed: 22 });
    const stale = await modelFolderOnnx(modelDir);
    assert.equal(stale.cached, false);
    assert.equal(readOnnxModelInfo(stale.bytes, "model.onnx").source, await modelFolderFingerprint(modelDir));
    assert.notDeepEqual(stale.bytes, written);
  },
);
