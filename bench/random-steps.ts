// Helpers shared by the training benchmarks. (The engine-alone training loop they time is the
// library's trainingRate in src/model/precision.ts; the trainer's `bf16: "auto"` times its own steps.)
export { median } from "../src/util/stats.js";
