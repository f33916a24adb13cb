// The web page in real headless Chromium (Debian's chromium via playwright-core): the page is built
// with Vite and served by `stemscope serve`'s server with the shipped model exported to ONNX; an
// example file chosen in the page is named (piano and violin), its probabilities equal the CLI's
// (libtorch) within 1e-3, the two stems play and download as WAV files that sum to the mixture, and
// files that are not audio or too long show clear errors, and dropping another exported model swaps
// the model. A screenshot goes to tmp/web-page.png.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { decodeWav, loadAudio } from "../src/audio/index.js";
import { startWebServer, type WebServer } from "../src/cli/serve.js";
import { exportModelFolder } from "../src/export/index.js";
import { defaultModelDir, loadModel } from "../src/infer/index.js";
import { foreignOnnx, makeVariedModelFolder } from "./onnx-helpers.js";
import {
  analyseInPage,
  buildPage,
  haveChromium,
  launchChromium,
  type PageOutcome,
  waitForModel,
} from "./web-helpers.js";

/** |page − CLI| for every instrument's file-level probability (onnxruntime-web vs libtorch, float32). */
const TOLERANCE = 1e-3;
const EXAMPLE = join("examples", "piano+violin.wav");
const haveModel = existsSync(join(defaultModelDir(), "config.json"));
const skip =
  (!haveChromium && "needs /usr/bin/chromium (scripts/setup.sh installs it)") ||
  (!haveModel && "needs models/default");

let webDir = "";
let server: WebServer | undefined;
let browser: Browser | undefined;
let page: Page;
let result: PageOutcome;

before(async () => {
  if (skip !== false) return;
  webDir = await buildPage();
  server = await startWebServer({ port: 0, webDir });
  browser = await launchChromium();
  page = await browser.newPage({ acceptDownloads: true });
  await page.goto(server.url);
  await waitForModel(page);
  const outcome = await analyseInPage(page, EXAMPLE);
  assert.ok(!("error" in outcome), `the page reported: ${"error" in outcome ? outcome.error : ""}`);
  result = outcome;
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (webDir !== "") rmSync(webDir, { recursive: true, force: true });
});

test(
  "the page is cross-origin isolated and runs the default model with WebAssembly threads",
  { skip },
  async () => {
    assert.equal(await page.evaluate("crossOriginIsolated"), true);
    const status = (await page.locator("#model-status").textContent()) ?? "";
    assert.match(status, /2 sources, 10 instruments .*WebAssembly, [2-4] threads/);
  },
);

test(
  `piano and violin are the two named instruments; probabilities equal the CLI's within ${TOLERANCE}`,
  { skip },
  async (t) => {
    assert.deepEqual(
      result.instruments
        .slice(0, 2)
        .map((i) => i.name)
        .sort(),
      ["piano", "violin"],
    );
    assert.deepEqual([...result.stems].sort(), ["piano", "violin"]);
    const model = await loadModel();
    try {
      const cli = await model.predictFile(EXAMPLE);
      assert.equal(result.instruments.length, cli.instruments.length);
      const page = new Map(result.instruments.map((i) => [i.name, i.probability]));
      let worst = 0;
      for (const { name, probability } of cli.instruments) {
        const p = page.get(name);
        assert.ok(
          p !== undefined && Math.abs(p - probability) <= TOLERANCE,
          `${name}: page ${p}, CLI ${probability}`,
        );
        worst = Math.max(worst, Math.abs(p - probability));
      }
      t.diagnostic(`largest |page − CLI| probability difference: ${worst.toExponential(2)}`);
    } finally {
      model.dispose();
    }
    // The timeline has one column per window (4 s, 2-s windows every second: 3) and a row per class.
    const timeline = await page.$eval("#timeline", (el) => ({
      windows: el.getAttribute("data-windows"),
      rows: el.getAttribute("data-rows"),
    }));
    assert.deepEqual(timeline, { windows: "3", rows: "10" });
  },
);

test(
  "each stem plays, and its WAV download is 4 s at 16 kHz; the two stems sum to the mixture",
  { skip },
  async () => {
    const played = await page.$$eval("#stems audio", (players) =>
      Promise.all(
        players.map(async (audio) => {
          await audio.play();
          while (audio.currentTime <= 0.2) await new Promise((resolve) => setTimeout(resolve, 20));
          audio.pause();
          return {
            duration: audio.duration as number,
            time: audio.currentTime as number,
            error: audio.error?.message ?? null,
          };
        }),
      ),
    );
    assert.equal(played.length, 2);
    for (const p of played) {
      assert.equal(p.error, null);
      assert.ok(Math.abs(p.duration - 4) < 0.01, `duration ${p.duration}`);
      assert.ok(p.time > 0.2);
    }
    const outDir = join(tmpdir(), `stemscope-web-downloads-${process.pid}`);
    mkdirSync(outDir, { recursive: true });
    const stems: Float32Array[] = [];
    for (const link of await page.locator("#stems a[download]").all()) {
      const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
      assert.match(download.suggestedFilename(), /^piano\+violin\.(piano|violin)\.wav$/);
      const path = join(outDir, download.suggestedFilename());
      await download.saveAs(path);
      const wav = decodeWav(readFileSync(path), path);
      assert.equal(wav.sampleRate, 16000);
      assert.equal(wav.channels.length, 1);
      assert.equal(wav.channels[0]!.length, 4 * 16000);
      stems.push(wav.channels[0]!);
    }
    rmSync(outDir, { recursive: true, force: true });
    const { samples: mixture } = await loadAudio(EXAMPLE);
    let worst = 0;
    for (let i = 0; i < mixture.length; i++)
      worst = Math.max(worst, Math.abs(stems[0]![i]! + stems[1]![i]! - mixture[i]!));
    // Two 16-bit roundings (≤ 1/32767 each) plus iSTFT round-off.
    assert.ok(worst < 1e-3, `stems sum to the mixture within ${worst}`);
    mkdirSync("tmp", { recursive: true });
    await page.screenshot({ path: join("tmp", "web-page.png"), fullPage: true });
  },
);

test(
  "a file that is not audio, or too long for the memory budget, shows an error naming it; the page still works afterwards",
  { skip },
  async () => {
    const bad = join(tmpdir(), `not-audio-${process.pid}.wav`);
    writeFileSync(bad, "this is a text file, not a recording\n".repeat(20));
    try {
      const outcome = await analyseInPage(page, bad);
      assert.ok("error" in outcome, "expected an error");
      assert.match(
        outcome.error,
        /^not-audio-\d+\.wav: cannot decode it as audio .*this browser reads WAV, MP3, FLAC/,
      );
    } finally {
      rmSync(bad, { force: true });
    }
    // 2 MiB allows 2.5 s at 16 kHz with 2 sources (about 0.8 MB per second of audio).
    const small = await browser!.newPage();
    try {
      await small.goto(`${server!.url}?memory-mib=2`);
      await waitForModel(small);
      const outcome = await analyseInPage(small, EXAMPLE);
      assert.ok("error" in outcome, "expected an error");
      assert.equal(
        outcome.error,
        "piano+violin.wav: 0:04 is too long for this tab's memory (at most about 0:02); cut it into shorter pieces",
      );
    } finally {
      await small.close();
    }
    const again = await analyseInPage(page, EXAMPLE);
    assert.ok(!("error" in again));
    assert.deepEqual(
      again.instruments.map((i) => i.name),
      result.instruments.map((i) => i.name),
    );
  },
);

test(
  "dropping another exported model swaps the model; an ONNX file that is not a stemscope export is refused",
  { skip },
  async () => {
    const other = await browser!.newPage();
    const dir = mkdtempSync(join(tmpdir(), "stemscope-web-model-"));
    try {
      await other.goto(server!.url);
      await waitForModel(other);
      const tiny = await exportModelFolder(
        await makeVariedModelFolder(join(dir, "tiny"), { classes: ["cello", "flute", "piano"] }),
      );
      /** Drops a file on the page's drop zone, as a user dragging it from the desktop. */
      const drop = async (name: string, bytes: Uint8Array): Promise<void> => {
        const data = Buffer.from(bytes).toString("base64");
        const transfer = await other.evaluateHandle(
          `(() => { const t = new DataTransfer(); t.items.add(new File([Uint8Array.from(atob("${data}"), (c) => c.charCodeAt(0))], ${JSON.stringify(name)})); return t; })()`,
        );
        await other.dispatchEvent("#drop", "drop", { dataTransfer: transfer });
      };
      await drop("tiny.onnx", tiny);
      await other.waitForFunction(
        'document.querySelector("#model-status").textContent.startsWith("Model: tiny.onnx")',
      );
      assert.match(
        (await other.locator("#model-status").textContent()) ?? "",
        /^Model: tiny\.onnx — 2 sources, 3 instruments \(cello, flute, piano\)/,
      );
      const outcome = await analyseInPage(other, EXAMPLE);
      assert.ok(!("error" in outcome));
      assert.deepEqual(outcome.instruments.map((i) => i.name).sort(), ["cello", "flute", "piano"]);
      assert.equal(outcome.stems.length, 2);

      const foreign = foreignOnnx();
      await drop("other.onnx", foreign);
      await other.waitForSelector("#error:not([hidden])");
      assert.match(
        (await other.locator("#error").textContent()) ?? "",
        /^other\.onnx: an ONNX model, but not one written by `stemscope export`/,
      );
      assert.match(
        (await other.locator("#model-status").textContent()) ?? "",
        /^Model: tiny\.onnx/,
        "the previous model stays",
      );
    } finally {
      await other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
