/**
 * Worker thread of `buildMixtures`: loads its share of the clips into shared memory, then renders and
 * writes the samples it is sent. Messages (main → worker): `load`, `clips`, `tasks`; (worker → main):
 * `loaded`, `done`, `error`.
 */
import { parentPort } from "node:worker_threads";
import { loadClipShared } from "./clips.js";
import type { MixRenderSettings, MixTask } from "./render.js";
import { writeMixSample } from "./sample.js";
import { type WorkerFailure, workerFailure } from "../../util/workers.js";

/** Messages the main thread sends. */
export type MixWorkerRequest =
  | { type: "load"; clips: { id: number; path: string }[]; sampleRate: number }
  | { type: "clips"; buffers: (SharedArrayBuffer | null)[] }
  | { type: "tasks"; tasks: MixTask[]; outputDir: string; settings: MixRenderSettings; sampleRate: number };

/** Messages the worker sends back. */
export type MixWorkerReply =
  | { type: "loaded"; ids: number[]; buffers: SharedArrayBuffer[] }
  | { type: "done"; indices: number[] }
  | WorkerFailure;

const port = parentPort;
if (port !== null) {
  let clips: Float32Array[] = [];
  const fail = (error: unknown): void => port.postMessage(workerFailure(error) satisfies MixWorkerReply);
  port.on("message", (message: MixWorkerRequest) => {
    try {
      if (message.type === "load") {
        void (async () => {
          try {
            const ids: number[] = [];
            const buffers: SharedArrayBuffer[] = [];
            for (const clip of message.clips) {
              ids.push(clip.id);
              buffers.push(await loadClipShared(clip.path, message.sampleRate));
            }
            const reply: MixWorkerReply = { type: "loaded", ids, buffers };
            port.postMessage(reply);
          } catch (error) {
            fail(error);
          }
        })();
      } else if (message.type === "clips") {
        clips = message.buffers.map((b) => (b === null ? new Float32Array(0) : new Float32Array(b)));
      } else {
        const indices: number[] = [];
        for (const task of message.tasks) {
          writeMixSample(message.outputDir, clips, task, message.settings, message.sampleRate);
          indices.push(task.index);
        }
        const reply: MixWorkerReply = { type: "done", indices };
        port.postMessage(reply);
      }
    } catch (error) {
      fail(error);
    }
  });
}
