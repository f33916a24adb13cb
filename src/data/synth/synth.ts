/**
 * `synthesize`: renders a raw_data library of single-instrument clips from the timbre sources
 * (soundfonts, sample libraries, our models: sources/groups.ts), `<outDir>/<class>/<id>.wav`
 * (16-bit mono) plus `<outDir>/manifest.jsonl` (source, group, preset and transformations per
 * clip). Deterministic per clip (clip i of class c uses the stream
 * `Random(seed).fork("synth:<c>:<i>")`), so the bytes do not depend on `jobs`; resumable (clips
 * listed in the manifest or the run's journal whose file exists are kept).
 */
import { appendFileSync, existsSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../../util/atomic.js";
import { DataError } from "../errors.js";
import { readText } from "../formats/files.js";
import { type InstrumentClass, resolveClasses } from "./instruments.js";
import {
  MANIFEST_NAME,
  type ManifestEntry,
  manifestLine,
  readManifestEntriesLenient,
  writeManifest,
} from "../formats/manifest.js";
import { DEBIAN_SOUNDFONT_GROUPS, type SourceRef, resolveSources } from "./sources/groups.js";
import { type ClassInventory, timbreInventory } from "./sources/inventory.js";
import { type SourceSpec, loadSources, prepareSources } from "./sources/load.js";
import { type SynthTask, clipFileName, makeClip } from "./clip.js";
import { type SynthConfig, type SynthConfigInput, SynthConfigSchema } from "./config.js";
import { ClipRenderer } from "./render.js";
import type { SynthSettings, SynthWorkerReply, SynthWorkerRequest } from "./worker.js";
import { runWorkerPool, siblingModule } from "../../util/workers.js";

const JOURNAL_NAME = ".synth-progress.jsonl";
const SYNTH_JSON = "synth.json";

export interface SynthProgress {
  /** `load`: building sample banks and loading sources (per worker); `render`: clips. */
  phase: "load" | "render";
  done: number;
  total: number;
}

export interface SynthesizeOptions {
  /** Worker threads (default: CPU cores). The output never depends on it. */
  jobs?: number;
  /** Re-render everything even if the folder was made with another configuration. */
  overwrite?: boolean;
  onProgress?: (event: SynthProgress) => void;
}

export interface SynthResult {
  config: SynthConfig;
  /** The groups rendered from, with kind, files and weight. */
  sources: SourceRef[];
  /** Clips in the manifest. */
  clips: number;
  written: number;
  skipped: number;
  manifestPath: string;
}

/** What a resume compares of the synth.json an earlier run wrote (other fields are not read). */
const PreviousRecordSchema = z.object({
  version: z.unknown(),
  config: z.record(z.string(), z.unknown()).optional(),
});

/** @throws DataError naming the file when it is not valid JSON or not an object */
function readSynthRecord(path: string): z.infer<typeof PreviousRecordSchema> {
  let raw: unknown;
  try {
    raw = JSON.parse(readText(path));
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new DataError(`${path}: not valid JSON (${error.message}); use \`overwrite\` to re-render`, {
      cause: error,
    });
  }
  const parsed = PreviousRecordSchema.safeParse(raw);
  if (!parsed.success)
    throw new DataError(`${path}: not a synth.json of stemscope; use \`overwrite\` to re-render`);
  return parsed.data;
}

/**
 * Version of the rendering recipe recorded in synth.json; bumped whenever the same seed would give
 * different audio (2: dry render + our own reverb/chorus at 16 kHz; 3: every bank and family program,
 * sample libraries, models, condition transformations, more patterns), so a resume never mixes recipes.
 */
export const SYNTH_FORMAT_VERSION = 3;

/** The sources a configuration asks for (`soundfonts`, the older option, replaces `sources`). */
export function resolveConfigSources(config: SynthConfig): SourceRef[] {
  const spec =
    config.soundfonts === "all" ? [...DEBIAN_SOUNDFONT_GROUPS] : (config.soundfonts ?? config.sources);
  return resolveSources(spec, config.exclude, config.groupWeights);
}

function parseConfig(input: SynthConfigInput): SynthConfig {
  const parsed = SynthConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DataError(`synth config: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

/**
 * The timbres a configuration draws from, per class: presets per group and distinct recorded
 * timbres (sources/inventory.ts). Builds and loads the sources (seconds), renders nothing.
 */
export async function synthInventory(
  input: SynthConfigInput = {},
): Promise<{ groups: string[]; rows: ClassInventory[] }> {
  const config = parseConfig(input);
  const classes = resolveClasses(config.classes);
  const sources = resolveConfigSources(config);
  const loaded = await loadSources(await prepareSources(sources), classes);
  return { groups: sources.map((s) => s.group), rows: timbreInventory(loaded, classes) };
}

/**
 * Renders `perClass` clips of each class. See the module comment for the layout and guarantees.
 * @throws DataError for unknown classes or sources, a source that is not installed (naming its
 *   package), or a folder made with another configuration (unless `overwrite`)
 */
export async function synthesize(
  input: SynthConfigInput = {},
  options: SynthesizeOptions = {},
): Promise<SynthResult> {
  const config = parseConfig(input);
  const classes = resolveClasses(config.classes);
  const sources = resolveConfigSources(config);
  const onProgress = options.onProgress ?? (() => undefined);
  const jobs = Math.max(1, Math.floor(options.jobs ?? availableParallelism()));

  const journalPath = join(config.outDir, JOURNAL_NAME);
  const kept = finishedClips(config.outDir, journalPath, options.overwrite === true);
  await claimFolder(config, sources, kept.size > 0);

  const tasks: SynthTask[] = [];
  classes.forEach((cls, classIndex) => {
    for (let index = 0; index < config.perClass; index++) {
      if (!kept.has(`${cls.name}/${clipFileName(index)}`)) tasks.push({ classIndex, index });
    }
  });
  const total = classes.length * config.perClass;
  const fresh = await renderClips(config, classes, sources, tasks, { jobs, journalPath, total, onProgress });
  onProgress({ phase: "render", done: total, total });

  // manifest.jsonl: every clip of the configured classes, in class order then index.
  for (const e of fresh) kept.set(e.file, e);
  const order = new Map(classes.map((c, i) => [c.name, i]));
  const entries = [...kept.values()].sort((a, b) => {
    const ca = order.get(a.class) ?? Number.MAX_SAFE_INTEGER;
    const cb = order.get(b.class) ?? Number.MAX_SAFE_INTEGER;
    return ca - cb || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
  });
  await writeManifest(config.outDir, entries);
  rmSync(journalPath, { force: true });
  return {
    config,
    sources,
    clips: entries.length,
    written: tasks.length,
    skipped: total - tasks.length,
    manifestPath: join(config.outDir, MANIFEST_NAME),
  };
}

/**
 * Resume: the clips an earlier run finished — listed in the manifest or the journal, with their file
 * present — by file (`<class>/<id>.wav`). With `overwrite`, none (and the journal is removed).
 */
function finishedClips(outDir: string, journalPath: string, overwrite: boolean): Map<string, ManifestEntry> {
  const kept = new Map<string, ManifestEntry>();
  if (overwrite) {
    rmSync(journalPath, { force: true });
    return kept;
  }
  const manifestPath = join(outDir, MANIFEST_NAME);
  for (const e of [...readManifestEntriesLenient(manifestPath), ...readManifestEntriesLenient(journalPath)]) {
    if (existsSync(join(outDir, e.file))) kept.set(e.file, e);
  }
  return kept;
}

/**
 * Writes synth.json for this run, after checking that clips kept from an earlier run (`keepsClips`)
 * were made with the same recipe and settings.
 * @throws DataError when they were not
 */
async function claimFolder(config: SynthConfig, sources: SourceRef[], keepsClips: boolean): Promise<void> {
  const synthJsonPath = join(config.outDir, SYNTH_JSON);
  // The record binds only clips it made: a run that failed before its first clip (an unloadable
  // soundfont, a kill while loading) left a synth.json that must not refuse the corrected retry.
  if (keepsClips && existsSync(synthJsonPath)) {
    const previous = readSynthRecord(synthJsonPath);
    if (previous.version !== SYNTH_FORMAT_VERSION) {
      throw new DataError(
        `${config.outDir}: was rendered by another version of stemscope synth (format version ${String(previous.version)}, this one writes ${SYNTH_FORMAT_VERSION}), whose clips sound different; use --overwrite to re-render, or choose another --out`,
      );
    }
    const prev = previous.config ?? {};
    // Adding clips (a larger perClass) or classes keeps every existing clip, so only these must match.
    const keys = [
      "seed",
      "seconds",
      "sampleRate",
      "sources",
      "exclude",
      "groupWeights",
      "soundfonts",
      "transforms",
      "layers",
    ] as const;
    // A setting added later is absent from older records: absent means its default.
    const defaults = SynthConfigSchema.parse({});
    const differs = keys.filter(
      (k) => JSON.stringify(prev[k] ?? defaults[k]) !== JSON.stringify(config[k] ?? defaults[k]),
    );
    if (differs.length > 0) {
      throw new DataError(
        `${config.outDir}: was rendered with a different ${differs.join(", ")} (see ${synthJsonPath}); use --overwrite to re-render, or choose another --out`,
      );
    }
  }
  const record = {
    format: "stemscope-synth",
    version: SYNTH_FORMAT_VERSION,
    config,
    sources: sources.map((s) => ({ group: s.group, kind: s.kind, weight: s.weight })),
  };
  await writeFileAtomic(synthJsonPath, `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * Renders `tasks` (in-process, or on worker threads when there are enough), journalling each
 * finished clip so an interrupted run resumes. @returns the manifest entries of the clips made
 */
async function renderClips(
  config: SynthConfig,
  classes: InstrumentClass[],
  sources: SourceRef[],
  tasks: SynthTask[],
  run: { jobs: number; journalPath: string; total: number; onProgress: (event: SynthProgress) => void },
): Promise<ManifestEntry[]> {
  const { jobs, journalPath, total, onProgress } = run;
  const settings: SynthSettings = {
    outDir: config.outDir,
    seconds: config.seconds,
    sampleRate: config.sampleRate,
    seed: config.seed,
    transforms: config.transforms,
    layers: config.layers,
  };
  const fresh: ManifestEntry[] = [];
  let buffer: string[] = [];
  const flush = (): void => {
    if (buffer.length > 0) appendFileSync(journalPath, buffer.join(""));
    buffer = [];
  };
  let done = total - tasks.length;
  const finished = (entries: ManifestEntry[]): void => {
    fresh.push(...entries);
    buffer.push(...entries.map(manifestLine));
    if (buffer.length >= 64) flush();
    done += entries.length;
    onProgress({ phase: "render", done, total });
  };
  if (tasks.length > 0) {
    const workers = Math.min(jobs, Math.ceil(tasks.length / 8));
    try {
      onProgress({ phase: "load", done: 0, total: sources.length });
      const specs = await prepareSources(sources);
      if (workers <= 1) {
        const loaded = await loadSources(specs, classes, (n) =>
          onProgress({ phase: "load", done: n, total: specs.length }),
        );
        const renderer = new ClipRenderer();
        for (const task of tasks) {
          finished([makeClip(task, classes, loaded, settings, renderer)]);
          if (done % 8 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
        }
      } else {
        await synthWithWorkers(specs, classes, settings, tasks, workers, onProgress, finished);
      }
    } finally {
      flush();
    }
  }
  return fresh;
}

async function synthWithWorkers(
  sources: SourceSpec[],
  classes: InstrumentClass[],
  settings: SynthSettings,
  tasks: SynthTask[],
  count: number,
  onProgress: (event: SynthProgress) => void,
  finished: (entries: ManifestEntry[]) => void,
): Promise<void> {
  let ready = 0;
  await runWorkerPool<SynthTask, SynthWorkerRequest, SynthWorkerReply>({
    module: siblingModule(import.meta.url, "worker"),
    workers: count,
    name: "synth worker",
    crashError: DataError,
    jobs: tasks,
    chunkSize: 4,
    request: (part) => ({ type: "tasks", tasks: part }),
    // Each worker loads the sources, says "ready", then keeps two chunks in hand.
    start: (pool) => {
      for (let w = 0; w < pool.size; w++) pool.send(w, { type: "init", sources, classes, settings });
    },
    onReply: (reply, w, pool) => {
      if (reply.type === "ready") {
        ready++;
        onProgress({ phase: "load", done: ready, total: pool.size });
        pool.feed(w, 2);
        return false;
      }
      if (reply.type !== "done") return false;
      finished(reply.entries);
      return true;
    },
  });
}
