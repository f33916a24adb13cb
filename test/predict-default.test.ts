// The packaged default model on the example files: `examples/expected.json` maps each file name in
// examples/ to `{"instruments": [...]}`, the instruments that play. Skipped until models/default/
// (scripts/train-default.sh) exists.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { defaultModelDir, InferenceError, loadModel, resolveModelDir } from "../src/infer/index.js";
import { ModelFolderError } from "../src/model/folder.js";

const modelDir = defaultModelDir();
const examplesJson = join("examples", "expected.json");
const haveModel = existsSync(join(modelDir, "config.json"));
const haveExamples = existsSync(examplesJson);

test(
  "without a default model, loadModel() says what is missing",
  { skip: haveModel && "models/default exists" },
  async () => {
    await assert.rejects(loadModel(), (e: Error) => {
      assert.ok(e instanceof InferenceError);
      assert.match(e.message, /no default model: .*models\/default is missing.*pass `model`/);
      return true;
    });
  },
);

test(
  "default model: predict names the instruments of each example, separate gives stems that sum to the mixture",
  { skip: !(haveModel && haveExamples) && "needs models/default and examples/expected.json" },
  async () => {
    const expected = JSON.parse(readFileSync(examplesJson, "utf8")) as Record<
      string,
      { instruments: string[] }
    >;
    const examples = Object.entries(expected).map(([name, e]) => ({
      file: join("examples", name),
      instruments: e.instruments,
    }));
    assert.ok(examples.length >= 2, "examples/expected.json lists the example files");
    const model = await loadModel();
    try {
      for (const ex of examples) {
        const prediction = await model.predictFile(ex.file);
        const top = prediction.instruments.slice(0, ex.instruments.length).map((i) => i.name);
        assert.deepEqual(
          [...top].sort(),
          [...ex.instruments].sort(),
          `${ex.file}: predicted ${JSON.stringify(prediction.instruments.slice(0, 4))}`,
        );
        const sep = await model.separateFile(ex.file);
        assert.deepEqual(
          sep.stems.map((s) => s.name).sort(),
          [...sep.prediction.instruments.slice(0, model.sources).map((i) => i.name)].sort(),
        );
        let err = 0;
        let peak = 0;
        const mixture = sep.mixture[0]!;
        for (let i = 0; i < mixture.length; i++) {
          let sum = 0;
          for (const s of sep.stems) sum += s.channels[0]![i]!;
          err = Math.max(err, Math.abs(sum - mixture[i]!));
          peak = Math.max(peak, Math.abs(mixture[i]!));
        }
        assert.ok(err <= 1e-4 * Math.max(1, peak), `${ex.file}: stems sum to the mixture (error ${err})`);
      }
    } finally {
      model.dispose();
    }
  },
);

test("a model argument is a folder, or the name of a packaged model where no such path exists", () => {
  assert.equal(resolveModelDir("runs/x/"), "runs/x/", "a path is taken as it is, even when missing");
  assert.equal(resolveModelDir("examples"), "examples", "an existing folder wins over a packaged name");
  if (haveModel) assert.equal(resolveModelDir("default"), defaultModelDir());
  assert.throws(
    () => resolveModelDir("no-such-model"),
    (e: Error) =>
      e instanceof ModelFolderError &&
      /^no-such-model: model folder not found, and no packaged model has that name \(packaged: .+\)$/.test(
        e.message,
      ) &&
      (!haveModel || /packaged: [^)]*\bdefault\b/.test(e.message)),
  );
});

test(
  "packaged general model: loads by name, names the bass + flute and piano + violin examples right",
  { skip: !existsSync(join("models", "general", "config.json")) && "needs models/general" },
  async () => {
    const model = await loadModel("general");
    try {
      assert.equal(model.dir, resolveModelDir("general"));
      for (const [file, instruments] of [
        ["bass+flute.wav", ["bass", "flute"]],
        ["piano+violin.wav", ["piano", "violin"]],
      ] as const) {
        const prediction = await model.predictFile(join("examples", file));
        const top = prediction.instruments.slice(0, 2).map((i) => i.name);
        assert.deepEqual(
          top.sort(),
          [...instruments],
          `${file}: ${JSON.stringify(prediction.instruments.slice(0, 4))}`,
        );
      }
    } finally {
      model.dispose();
    }
  },
);
