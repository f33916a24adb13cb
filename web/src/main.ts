/**
 * The page: choose or drop an audio file → decode (browser) → analyse (analyse.ts) → the named
 * instruments with probabilities, a timeline and one player + WAV download per stem. Dropping an
 * exported `.onnx` model swaps the model. The default model is `model.onnx` next to the page
 * (`stemscope serve` provides it).
 */
import { encodeWav } from "../../src/audio/wav.js";
import { OnnxModelError } from "../../src/export/metadata.js";
import {
  analyse,
  AnalysisError,
  loadPageModel,
  type PageModel,
  type PageResult,
  wasmThreads,
} from "./analyse.js";
import { AudioInputError, bytesPerSecond, clock, decodeAudioFile, memoryBudget } from "./audio.js";

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`page element #${id} is missing`);
  return el as T;
};

const ui = {
  drop: $<HTMLLabelElement>("drop"),
  file: $<HTMLInputElement>("file"),
  modelStatus: $("model-status"),
  work: $("work"),
  stage: $("stage"),
  progress: $<HTMLProgressElement>("progress"),
  error: $("error"),
  results: $("results"),
  track: $("track"),
  instruments: $<HTMLOListElement>("instruments"),
  timeline: $<HTMLCanvasElement>("timeline"),
  stems: $<HTMLUListElement>("stems"),
  timings: $("timings"),
};

let model: PageModel | null = null;
let busy = false;
/** Object URLs of the current stems, revoked when the next result replaces them. */
let stemUrls: string[] = [];

function showError(message: string): void {
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function describeModel(m: PageModel): string {
  const threads = wasmThreads();
  return `Model: ${m.name} — ${m.info.sources} sources, ${m.info.classes.length} instruments (${m.info.classes.join(", ")}); ${(m.bytes / 2 ** 20).toFixed(1)} MiB; WebAssembly, ${threads} thread${threads === 1 ? "" : "s"}.`;
}

async function useModel(bytes: Uint8Array, name: string): Promise<void> {
  const next = await loadPageModel(bytes, name);
  await model?.session.release();
  model = next;
  ui.modelStatus.textContent = describeModel(next);
  ui.modelStatus.dataset.state = "ready";
}

async function loadDefaultModel(): Promise<void> {
  const response = await fetch("model.onnx");
  if (!response.ok) {
    ui.modelStatus.textContent =
      "No default model here (model.onnx is missing): drop a model exported by `stemscope export`.";
    ui.modelStatus.dataset.state = "missing";
    return;
  }
  await useModel(new Uint8Array(await response.arrayBuffer()), "default model");
}

function limits(m: PageModel): { maxSeconds: number; maxBytes: number } {
  const { sampleRate, nMels, size } = m.info.features;
  const budget = memoryBudget();
  return {
    maxSeconds: Math.floor(budget / bytesPerSecond(sampleRate, m.info.sources, nMels * size)),
    maxBytes: budget,
  };
}

async function handleFile(file: File): Promise<void> {
  if (busy) return;
  busy = true;
  ui.error.hidden = true;
  try {
    if (file.name.toLowerCase().endsWith(".onnx")) {
      const previous = ui.modelStatus.textContent;
      ui.modelStatus.textContent = `Loading ${file.name}…`;
      try {
        await useModel(new Uint8Array(await file.arrayBuffer()), file.name);
      } catch (error) {
        ui.modelStatus.textContent = previous; // the previous model stays in use
        throw error;
      }
      return;
    }
    if (model === null)
      throw new AnalysisError("no model is loaded yet: drop a model exported by `stemscope export`");
    const m = model;
    ui.results.hidden = true;
    ui.work.hidden = false;
    ui.stage.textContent = `Decoding ${file.name}…`;
    ui.progress.value = 0;
    const started = performance.now();
    const audio = await decodeAudioFile(file, m.info.features.sampleRate, limits(m));
    const decoded = performance.now();
    const result = await analyse(m, audio, (fraction, stage) => {
      ui.progress.value = fraction;
      ui.stage.textContent = `${stage}… ${Math.round(fraction * 100)} %`;
    });
    const total = performance.now() - started;
    showResult(file.name, result, { decode: decoded - started, total });
  } catch (error) {
    // These name the file themselves.
    const known =
      error instanceof AudioInputError || error instanceof AnalysisError || error instanceof OnnxModelError;
    const message = error instanceof Error ? error.message : String(error);
    showError(known ? message : `${file.name}: ${message}`);
  } finally {
    ui.work.hidden = true;
    busy = false;
  }
}

function showResult(track: string, result: PageResult, times: { decode: number; total: number }): void {
  const k = result.stems.length;
  ui.track.textContent = `${track} (${clock(result.durationSeconds)})`;
  ui.instruments.replaceChildren(
    ...result.instruments.map((inst, i) => {
      const li = document.createElement("li");
      li.className = i < k ? "named" : "";
      li.dataset.instrument = inst.name;
      li.dataset.probability = String(inst.probability);
      const name = document.createElement("span");
      name.textContent = inst.name;
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = `${(100 * inst.probability).toFixed(1)}%`;
      bar.append(fill);
      const percent = document.createElement("span");
      percent.className = "percent";
      percent.textContent = `${(100 * inst.probability).toFixed(1)} %`;
      li.append(name, bar, percent);
      return li;
    }),
  );
  drawTimeline(result);
  for (const url of stemUrls) URL.revokeObjectURL(url);
  const base = track.replace(/\.[^.]+$/, "");
  stemUrls = result.stems.map((stem) =>
    URL.createObjectURL(
      new Blob([encodeWav(stem.samples, result.sampleRate).bytes as Uint8Array<ArrayBuffer>], {
        type: "audio/wav",
      }),
    ),
  );
  ui.stems.replaceChildren(
    ...result.stems.map((stem, i) => {
      const li = document.createElement("li");
      li.dataset.stem = stem.name;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = stem.name;
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.preload = "auto";
      audio.src = stemUrls[i]!;
      const link = document.createElement("a");
      link.href = stemUrls[i]!;
      link.download = `${base}.${stem.name}.wav`;
      link.textContent = "Download WAV";
      li.append(name, audio, link);
      return li;
    }),
  );
  const t = result.timings;
  ui.timings.textContent =
    `${(times.total / 1000).toFixed(2)} s from file to result: decode ${(times.decode / 1000).toFixed(2)} s, ` +
    `features ${(t.features / 1000).toFixed(2)} s, model ${(t.forward / 1000).toFixed(2)} s, ` +
    `separation ${(t.separation / 1000).toFixed(2)} s.`;
  Object.assign(ui.results.dataset, {
    totalMs: String(times.total),
    decodeMs: String(times.decode),
    featuresMs: String(t.features),
    forwardMs: String(t.forward),
    separationMs: String(t.separation),
  });
  ui.results.hidden = false;
}

/** Rows: instruments (model order), columns: windows; darker = more probable; silent windows hatched. */
function drawTimeline(result: PageResult): void {
  const classes = model?.info.classes ?? [];
  const cellW = Math.max(4, Math.min(48, Math.floor(720 / Math.max(1, result.windows.length))));
  const cellH = 18;
  const labelW = 90;
  const canvas = ui.timeline;
  canvas.width = labelW + cellW * result.windows.length;
  canvas.height = cellH * classes.length + 16;
  canvas.style.width = `${canvas.width}px`;
  canvas.dataset.windows = String(result.windows.length);
  canvas.dataset.rows = String(classes.length);
  const ctx = canvas.getContext("2d");
  if (ctx === null) return;
  const dark = matchMedia("(prefers-color-scheme: dark)").matches;
  ctx.fillStyle = dark ? "#ddd" : "#222";
  ctx.font = "12px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  classes.forEach((name, row) => ctx.fillText(name, 2, row * cellH + cellH / 2));
  result.windows.forEach((w, col) => {
    classes.forEach((_, row) => {
      const p = w.play[row] ?? 0;
      ctx.fillStyle = w.silent ? "rgba(128,128,128,0.2)" : `rgba(47,111,223,${p.toFixed(3)})`;
      ctx.fillRect(labelW + col * cellW, row * cellH + 1, cellW - 1, cellH - 2);
    });
  });
  ctx.fillStyle = dark ? "#aaa" : "#555";
  ctx.fillText("0 s", labelW, classes.length * cellH + 8);
  const end = `${result.windows.at(-1)?.end.toFixed(0) ?? 0} s`;
  ctx.fillText(end, canvas.width - ctx.measureText(end).width - 2, classes.length * cellH + 8);
}

ui.file.addEventListener("change", () => {
  const file = ui.file.files?.[0];
  if (file !== undefined) void handleFile(file);
  ui.file.value = "";
});
for (const type of ["dragenter", "dragover"] as const) {
  ui.drop.addEventListener(type, (event) => {
    event.preventDefault();
    ui.drop.classList.add("over");
  });
}
ui.drop.addEventListener("dragleave", () => ui.drop.classList.remove("over"));
ui.drop.addEventListener("drop", (event) => {
  event.preventDefault();
  ui.drop.classList.remove("over");
  const file = event.dataTransfer?.files[0];
  if (file !== undefined) void handleFile(file);
});

loadDefaultModel().catch((error: unknown) => {
  ui.modelStatus.textContent = `The default model could not be loaded: ${error instanceof Error ? error.message : String(error)}`;
  ui.modelStatus.dataset.state = "failed";
});
