// `stemscope serve`'s server without a browser: the page's files and /model.onnx with the
// cross-origin isolation headers, nothing outside the page's folder, clear errors for an unbuilt
// page, a model file that is not a stemscope export, and a port in use.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startWebServer, type WebServer } from "../src/cli/serve.js";
import { exportModelFolderToFile, readOnnxModelInfo } from "../src/export/index.js";
import { foreignOnnx, makeVariedModelFolder } from "./onnx-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "stemscope-serve-"));
const webDir = join(dir, "page");
const onnxFile = join(dir, "tiny.onnx");
let server: WebServer;

before(async () => {
  mkdirSync(join(webDir, "assets"), { recursive: true });
  writeFileSync(join(webDir, "index.html"), "<!doctype html><title>page</title>");
  writeFileSync(join(webDir, "assets", "app.js"), "console.log(1);");
  writeFileSync(join(dir, "secret.txt"), "outside the page");
  const modelDir = await makeVariedModelFolder(join(dir, "model"), { seed: 51 });
  await exportModelFolderToFile(modelDir, onnxFile);
  server = await startWebServer({ port: 0, webDir, model: onnxFile });
});

after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("serves the page and the model, cross-origin isolated", async () => {
  const page = await fetch(server.url);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(page.headers.get("cross-origin-opener-policy"), "same-origin");
  assert.equal(page.headers.get("cross-origin-embedder-policy"), "require-corp");
  assert.match(await page.text(), /<title>page<\/title>/);
  const script = await fetch(new URL("assets/app.js", server.url));
  assert.equal(script.headers.get("content-type"), "text/javascript; charset=utf-8");
  const model = await fetch(new URL("model.onnx", server.url));
  assert.equal(model.status, 200);
  assert.equal(model.headers.get("cross-origin-embedder-policy"), "require-corp");
  const info = readOnnxModelInfo(new Uint8Array(await model.arrayBuffer()), "model.onnx");
  assert.deepEqual(info.classes, ["cello", "flute", "piano"]);
});

test("nothing outside the page's folder is served; malformed paths and other methods are refused", async () => {
  for (const path of ["/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt", "/missing.js"]) {
    const response = await fetch(server.url.replace(/\/$/, "") + path);
    assert.equal(response.status, 404, path);
    await response.arrayBuffer();
  }
  const malformed = await fetch(server.url + "%E0%A4%A");
  assert.equal(malformed.status, 400);
  const post = await fetch(server.url, { method: "POST", body: "x" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
});

test("clear errors: page not built, a model that is not a stemscope export, a port in use", async () => {
  await assert.rejects(
    startWebServer({ port: 0, webDir: join(dir, "nowhere"), model: onnxFile }),
    /nowhere\/index\.html not found: build the page first \(npm run build:web\)/,
  );
  const foreign = join(dir, "foreign.onnx");
  writeFileSync(foreign, foreignOnnx());
  await assert.rejects(
    startWebServer({ port: 0, webDir, model: foreign }),
    /foreign\.onnx: an ONNX model, but not one written by `stemscope export`/,
  );
  const port = Number(new URL(server.url).port);
  await assert.rejects(
    startWebServer({ port, webDir, model: onnxFile }),
    new RegExp(`port ${port} is in use`),
  );
});
