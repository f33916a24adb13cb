// Non-finite weights and outputs: a weights file holding NaN is refused at load, naming the file and
// the tensor; finite weights whose outputs overflow to NaN/inf are refused by predict and separate;
// `model info` checks a folder's weights the same way.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { liveTensorCount, loadSafetensors, saveSafetensors, type Tensor } from "../src/engine/index.js";
import { main } from "../src/cli/main.js";
import { loadModel } from "../src/infer/index.js";
import { harmonicTone, makeModelFolder } from "./infer-helpers.js";

const root = mkdtempSync(join(tmpdir(), "stemscope-nonfinite-"));

/** Rewrites dir's weights.safetensors with `change` applied to every float tensor (name → new tensor). */
async function rewriteWeights(dir: string, change: (name: string, t: Tensor) => Tensor): Promise<void> {
  const path = join(dir, "weights.safetensors");
  const { tensors } = await loadSafetensors(path);
  const changed = new Map([...tensors].map(([n, t]) => [n, t.dtype === "float32" ? change(n, t) : t]));
  await saveSafetensors(path, changed);
  for (const t of new Set([...tensors.values(), ...changed.values()])) t.dispose();
}

test("loading weights with a NaN names the weights file and the tensor", async () => {
  const dir = await makeModelFolder(join(root, "nan"));
  let target = "";
  await rewriteWeights(dir, (name, t) => {
    if (target !== "") return t.clone();
    target = name;
    return t.clone().fill(Number.NaN);
  });
  const before = liveTensorCount();
  await assert.rejects(loadModel(dir), {
    name: "ModelFolderError",
    message: new RegExp(
      `^${dir}/weights\\.safetensors: tensor "${target.replace(/\./g, "\\.")}" holds \\d+ NaN or infinite value\\(s\\); these weights are broken`,
    ),
  });
  assert.equal(liveTensorCount(), before, "the refused weights were not freed");
});

test("finite weights whose outputs overflow: predict and separate refuse with a clear error", async () => {
  const dir = await makeModelFolder(join(root, "huge"));
  await rewriteWeights(dir, (_name, t) => t.mul(1e30));
  const model = await loadModel(dir);
  try {
    const audio = harmonicTone(2, 16000, 440);
    const refused = {
      name: "InferenceError",
      message: new RegExp(
        `^${dir}: the model's outputs are not finite \\(NaN or infinity\\); its weights may be broken`,
      ),
    };
    await assert.rejects(model.predict(audio, 16000), refused);
    await assert.rejects(model.separate(audio, 16000), refused);
  } finally {
    model.dispose();
  }
});

/** Runs the CLI in this process, capturing what it prints. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: "", stderr: "" };
  const write = { stdout: process.stdout.write, stderr: process.stderr.write };
  process.stdout.write = ((chunk: string) => ((out.stdout += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((out.stderr += chunk), true)) as typeof process.stderr.write;
  try {
    const code = await main(["node", "stemscope", ...args]);
    return { code, ...out };
  } finally {
    process.stdout.write = write.stdout;
    process.stderr.write = write.stderr;
  }
}

test("model info loads a folder's weights: NaN and corrupt weights are one-line errors, good ones are said to be checked", async () => {
  const good = await makeModelFolder(join(root, "info-good"));
  const ok = await cli(["model", "info", good]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(
    ok.stdout,
    new RegExp(`^  weights ${good}/weights\\.safetensors: loaded, every value finite$`, "m"),
  );

  const nan = await makeModelFolder(join(root, "info-nan"));
  await rewriteWeights(nan, (_name, t) => t.clone().fill(Number.NaN));
  const refused = await cli(["model", "info", nan]);
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /^stemscope: .*weights\.safetensors: tensor ".+" holds \d+ NaN or infinite value\(s\)/u,
  );
  assert.equal(refused.stdout, "");

  const corrupt = await makeModelFolder(join(root, "info-corrupt"));
  const path = join(corrupt, "weights.safetensors");
  writeFileSync(path, readFileSync(path).subarray(0, 200)); // cut short
  const broken = await cli(["model", "info", corrupt]);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, new RegExp(`^stemscope: ${path}: `, "u"));
  assert.equal(broken.stderr.trim().split("\n").length, 1, broken.stderr);
});
