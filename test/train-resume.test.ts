// Resuming a run: settings that differ from the run's are refused, each named; the ones a resume may
// change are applied and recorded; a run killed before its first checkpoint starts over cleanly.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { buildMixtures } from "../src/data/mix/mix.js";
import { readModelConfig } from "../src/model/folder.js";
import { type TrainConfigInput, train, TrainError } from "../src/train/index.js";
import { makeRawData, tempDir } from "./data-helpers.js";

let root = "";
let data = "";
let other = "";
/** 3 classes × 3 combinations × 4 samples = 12 samples of 1 s at 16 kHz; `other` is a second such folder. */
before(async () => {
  root = tempDir("stemscope-resume-");
  makeRawData(join(root, "raw"), ["bass", "flute", "piano"], 3, 16000);
  data = join(root, "train_data");
  other = join(root, "other_data");
  for (const out of [data, other])
    await buildMixtures({ data: join(root, "raw"), out, samplesPerCombination: 4, seconds: 1 }, { jobs: 1 });
});

const tiny = (out: string, extra: Partial<TrainConfigInput> = {}): TrainConfigInput => ({
  data,
  out: join(root, "runs", out),
  preset: "tiny",
  epochs: 1,
  batchSize: 4,
  threads: 1,
  cacheJobs: 1,
  ...extra,
});

test("--resume refuses every setting that differs from the run's, naming each; epochs extend and are recorded", async () => {
  const out = join(root, "runs", "a");
  await train(tiny("a"));
  await assert.rejects(
    train({ out, resume: true, data: other, preset: "fast", lr: 0.01, batchSize: 3, seed: 4 }),
    (error: unknown) => {
      assert.ok(error instanceof TrainError);
      assert.match(error.message, new RegExp(`^${out}: resuming continues the run with its own settings`));
      for (const part of [
        `\`data\` ${other} (the run's: ${data})`,
        "`preset` fast (the run's: tiny)",
        "`lr` 0.01 (the run's: 0.0015)",
        "`batchSize` 3 (the run's: 4)",
        "`seed` 4 (the run's: 0)",
      ])
        assert.ok(error.message.includes(part), `missing ${part} in: ${error.message}`);
      return true;
    },
  );

  // Settings equal to the run's are accepted; more epochs extend the run, and config.json says so.
  const warnings: string[] = [];
  const resumed = await train(
    { out, resume: true, data, lr: 0.0015, seed: 0, epochs: 2, threads: 1 },
    { onWarning: (m) => warnings.push(m) },
  );
  assert.equal(resumed.epochs, 2);
  assert.ok(warnings.includes("`epochs` 1 → 2"), warnings.join("\n"));
  assert.equal(readModelConfig(out).training?.epochs, 2);
  const summary = JSON.parse(readFileSync(join(out, "checkpoint.json"), "utf8")) as {
    config: { epochs: number };
  };
  assert.equal(summary.config.epochs, 2, "the checkpoint records the extended epochs");
});

test("a run killed before its first checkpoint: plain train explains, --resume starts it over and equals a fresh run", async () => {
  const out = join(root, "runs", "killed");
  const controller = new AbortController();
  const first = await train(tiny("killed"), {
    signal: controller.signal,
    onProgress: (e) => {
      if (e.phase === "train") controller.abort();
    },
  });
  assert.equal(first.stopReason, "aborted");
  assert.ok(existsSync(join(out, "config.json")) && !existsSync(join(out, "checkpoint.safetensors")));

  await assert.rejects(train(tiny("killed")), {
    message: new RegExp(
      `^${out}: holds a run that stopped before its first checkpoint \\(config.json but no checkpoint.safetensors\\); use \`resume\` to start it over`,
    ),
  });
  await assert.rejects(train({ out, resume: true }), {
    name: "ParameterError",
    message: /config\.json does not record its data; give `data`/,
  });

  const warnings: string[] = [];
  const again = await train(
    { out, resume: true, data, threads: 1, cacheJobs: 1 },
    { onWarning: (m) => warnings.push(m) },
  );
  assert.equal(again.stopReason, "epochs");
  assert.equal(again.epochs, 1);
  assert.ok(
    warnings.some(
      (m) =>
        m.startsWith(`${out}: the run stopped before its first checkpoint`) && m.endsWith("starting it over"),
    ),
    warnings.join("\n"),
  );
  // Started over with the settings config.json recorded: the same bytes as an uninterrupted run.
  await train(tiny("fresh"));
  assert.ok(
    readFileSync(join(out, "last.safetensors")).equals(
      readFileSync(join(root, "runs", "fresh", "last.safetensors")),
    ),
    "the run started over differs from a fresh run with its settings",
  );
});
