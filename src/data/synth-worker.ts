/**
 * Worker thread of `synthesize`: loads the soundfonts once, then renders the clips it is sent.
 * Messages (main → worker): `init`, `tasks`; (worker → main): `ready`, `done`, `error`.
 */
import { parentPort } from "node:worker_threads";
import type { BasicSoundBank } from "spessasynth_core";
import { StemscopeError } from "../errors.js";
import type { InstrumentClass } from "./instruments.js";
import type { ManifestEntry } from "./manifest.js";
import { type SynthTask, makeClip } from "./synth-clip.js";
import { ClipRenderer, loadSoundBank } from "./synth-render.js";
import type { WorkerFailure } from "./workers.js";

export interface SynthSettings {
  outDir: string;
  seconds: number;
  sampleRate: number;
  seed: number;
}

export type SynthWorkerRequest =
  | {
      type: "init";
      soundfonts: { id: string; path: string }[];
      classes: InstrumentClass[];
      settings: SynthSettings;
    }
  | { type: "tasks"; tasks: SynthTask[] };

export type SynthWorkerReply = { type: "ready" } | { type: "done"; entries: ManifestEntry[] } | WorkerFailure;

const port = parentPort;
if (port !== null) {
  let banks = new Map<string, BasicSoundBank>();
  let classes: InstrumentClass[] = [];
  let settings: SynthSettings | undefined;
  const renderer = new ClipRenderer();
  port.on("message", async (message: SynthWorkerRequest) => {
    try {
      if (message.type === "init") {
        banks = new Map();
        for (const s of message.soundfonts) banks.set(s.id, await loadSoundBank(s.path));
        classes = message.classes;
        settings = message.settings;
        port.postMessage({ type: "ready" } satisfies SynthWorkerReply);
      } else {
        const entries = message.tasks.map((t) => makeClip(t, classes, banks, settings!, renderer));
        port.postMessage({ type: "done", entries } satisfies SynthWorkerReply);
      }
    } catch (error) {
      const reply: WorkerFailure = {
        type: "error",
        message: error instanceof Error ? error.message : String(error),
        userError: error instanceof StemscopeError,
        ...(error instanceof Error && error.stack !== undefined ? { stack: error.stack } : {}),
      };
      port.postMessage(reply);
    }
  });
}
