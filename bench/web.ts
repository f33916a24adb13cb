// npm run bench:web [-- --seconds 10,60 --repeats 3]
//
// The web page in headless Chromium (Debian's /usr/bin/chromium via playwright-core), served by
// `stemscope serve`'s server with the shipped model: the time from a file chosen in the page to the
// result (decode, features, onnxruntime-web forward passes, separation), for files of the given
// lengths (44.1-kHz stereo WAV made from the example recordings, so the browser also resamples), and
// the page's memory afterwards: the JS heap (Chrome DevTools Protocol Performance.getMetrics) and the
// proportional set size of every Chromium process (typed arrays and onnxruntime-web's WASM heap live
// outside the JS heap). Baseline in the same run: the CLI's library path on the same file with the
// libtorch backend (`separate`, which names too), model load included. Prints one JSON line.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeWav, loadAudio, resample } from "../src/audio/index.js";
import { startWebServer } from "../src/cli/serve.js";
import { loadModel } from "../src/infer/index.js";
import { EXAMPLE_FILES } from "../test/onnx-helpers.js";
import { buildPage, launchChromium, waitForModel } from "../test/web-helpers.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10,60" },
    repeats: { type: "string", default: "3" },
  },
});
const lengths = values.seconds.split(",").map(Number);
const repeats = Number(values.repeats);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

/**
 * Memory of Chromium's processes (browser, renderers, utilities), MiB: the sum of their proportional
 * set sizes (PSS: shared pages split between the processes that map them, so the sum is not inflated
 * by libraries every process maps).
 */
function chromiumPssMiB(): number {
  const pids = execFileSync("ps", ["-C", "chromium", "-o", "pid="], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  let kib = 0;
  for (const pid of pids) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      kib += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
    } catch {
      // The process ended between ps and the read.
    }
  }
  return kib / 1024;
}

const temp = mkdtempSync(join(tmpdir(), "stemscope-bench-web-"));
const rate = 44100;
const examples = await Promise.all(EXAMPLE_FILES.map(async (f) => (await loadAudio(f)).samples));
const files = lengths.map((seconds) => {
  const mono = new Float32Array(seconds * 16000);
  for (let i = 0, e = 0; i < mono.length; e++) {
    const piece = examples[e % examples.length]!;
    mono.set(piece.subarray(0, Math.min(piece.length, mono.length - i)), i);
    i += piece.length;
  }
  const up = resample(mono, 16000, rate);
  const path = join(temp, `song-${seconds}s.wav`);
  writeFileSync(path, encodeWav([up, up.map((v) => 0.8 * v)], rate).bytes);
  return { seconds, path };
});

const webDir = await buildPage();
const server = await startWebServer({ port: 0, webDir });
const browser = await launchChromium();
const page = await browser.newPage();
const cdp = await page.context().newCDPSession(page);
await cdp.send("Performance.enable");
const t0 = performance.now();
await page.goto(server.url);
const status = await waitForModel(page);
const pageLoadSeconds = (performance.now() - t0) / 1000;
const pssIdle = chromiumPssMiB();

const results = [];
for (const file of files) {
  const walls: number[] = [];
  const stages: Record<string, number[]> = { decode: [], features: [], forward: [], separation: [] };
  let heapMiB = 0;
  let pssMiB = 0;
  for (let r = 0; r < repeats; r++) {
    await page.locator("#results").evaluate((el) => el.setAttribute("hidden", ""));
    const start = performance.now();
    await page.setInputFiles("#file", file.path);
    await page.waitForSelector("#results:not([hidden]), #error:not([hidden])", { timeout: 600_000 });
    walls.push((performance.now() - start) / 1000);
    if (await page.locator("#error").isVisible()) throw new Error(await page.locator("#error").innerText());
    for (const key of Object.keys(stages)) {
      stages[key]!.push(Number(await page.locator("#results").getAttribute(`data-${key}-ms`)) / 1000);
    }
    const metrics = (await cdp.send("Performance.getMetrics")).metrics;
    heapMiB = Math.max(heapMiB, (metrics.find((m) => m.name === "JSHeapUsedSize")?.value ?? 0) / 2 ** 20);
    pssMiB = Math.max(pssMiB, chromiumPssMiB());
  }
  // The baseline: the CLI's library path (libtorch), model load included, on the same file.
  const cli: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    const model = await loadModel();
    await model.separateFile(file.path);
    model.dispose();
    cli.push((performance.now() - start) / 1000);
  }
  results.push({
    audio_seconds: file.seconds,
    page_file_to_result_s: walls.map((v) => round(v)),
    page_median_s: round(median(walls)),
    page_stages_median_s: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, round(median(v))])),
    cli_libtorch_separate_median_s: round(median(cli)),
    page_over_cli: round(median(walls) / median(cli)),
    js_heap_used_mib: round(heapMiB, 1),
    chromium_pss_mib: round(pssMiB, 1),
    chromium_pss_growth_mib: round(pssMiB - pssIdle, 1),
  });
}
const chromiumVersion = browser.version();
await browser.close();
await server.close();
rmSync(webDir, { recursive: true, force: true });
rmSync(temp, { recursive: true, force: true });

const cpuModel = cpus()[0]?.model ?? "unknown";
const flags =
  readFileSync("/proc/cpuinfo", "utf8")
    .match(/^flags\s*:(.*)$/m)?.[1]
    ?.split(" ") ?? [];
console.log(
  JSON.stringify({
    cpu: cpuModel,
    cores: cpus().length,
    cpu_flags: ["avx2", "avx512f", "avx512_bf16", "amx_tile"].filter((f) => flags.includes(f)),
    chromium: chromiumVersion,
    model_status: status,
    page_load_to_model_ready_s: round(pageLoadSeconds),
    chromium_pss_idle_mib: round(pssIdle, 1),
    results,
  }),
);
