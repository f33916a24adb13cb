/**
 * Worker thread of `synthesize`: loads the sources once (soundfont files; sample libraries' banks as
 * built by the main thread), then renders the clips it is sent.
 * Messages (main → worker): `init`, `tasks`; (worker → main): `ready`, `done`, `error`.
 */
import { parentPort } from "node:worker_threads";
import type { InstrumentClass } from "./instruments.js";
import type { ManifestEntry } from "../formats/manifest.js";
import { type LoadedSources, type SourceSpec, loadSources } from "./sources/load.js";
import { type ClipSettings, type SynthTask, makeClip } from "./clip.js";
import { ClipRenderer } from "./render.js";
import { type WorkerFailure, workerFailure } from "../../util/workers.js";

export type SynthSettings = ClipSettings;

export type SynthWorkerRequest =
  | {
      type: "init";
      sources: SourceSpec[];
      classes: InstrumentClass[];
      settings: SynthSettings;
    }
  | { type: "tasks"; tasks: SynthTask[] };

export type SynthWorkerReply = { type: "ready" } | { type: "done"; entries: ManifestEntry[] } | WorkerFailure;

const port = parentPort;
if (port !== null) {
  let sources: LoadedSources = { banks: new Map(), timbres: [] };
  let classes: InstrumentClass[] = [];
  let settings: SynthSettings | undefined;
  const renderer = new ClipRenderer();
  port.on("message", async (message: SynthWorkerRequest) => {
    try {
      if (message.type === "init") {
        classes = message.classes;
        sources = await loadSources(message.sources, classes);
        settings = message.settings;
        port.postMessage({ type: "ready" } satisfies SynthWorkerReply);
      } else {
        const entries = message.tasks.map((t) => makeClip(t, classes, sources, settings!, renderer));
        port.postMessage({ type: "done", entries } satisfies SynthWorkerReply);
      }
    } catch (error) {
      port.postMessage(workerFailure(error) satisfies SynthWorkerReply);
    }
  });
}
