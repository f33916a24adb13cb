// Memory stability of a long training loop: 10,000 steps (by default) of a small conv net with
// Adam, on a fixed random batch, releasing freed memory and yielding to the event loop every 100
// steps (as the trainer does per epoch and per batch), printing JSON with the RSS, glibc's in-use
// bytes and live native tensor counts. A leak of one tensor per step shows up as
// live_tensors_end − live_tensors_start = steps; a leaked native allocation as growing malloc_in_use.
// `--no-yield` never yields: Node then never runs the finalizers of the tensors' JS wrappers.
//
//   node --import tsx bench/engine-memory.ts [--steps 10000] [--autocast] [--no-yield]
import { parseArgs } from "node:util";
import {
  Adam,
  AdaptiveAvgPool2d,
  allocatorStats,
  BatchNorm2d,
  Conv2d,
  ConvTranspose2d,
  F,
  Flatten,
  getNumThreads,
  Linear,
  liveTensorCount,
  manualSeed,
  MaxPool2d,
  ReduceLROnPlateau,
  ReLU,
  randn,
  releaseFreeMemory,
  Sequential,
  tensor,
  tidy,
  withAutocast,
} from "../src/engine/index.js";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "10000" },
    autocast: { type: "boolean", default: false },
    "no-yield": { type: "boolean", default: false },
  },
});
const steps = Number.parseInt(values.steps, 10);
if (!(steps >= 2)) throw new Error(`--steps must be an integer ≥ 2, got ${values.steps}`);

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

manualSeed(0);
// Encoder → (decoder reconstructing the input, classifier head): [8, 1, 32, 32] in.
const encoder = new Sequential(
  new Conv2d(1, 16, 3, { padding: 1 }),
  new BatchNorm2d(16),
  new ReLU(),
  new MaxPool2d(2),
  new Conv2d(16, 16, 3, { padding: 1 }),
  new BatchNorm2d(16),
  new ReLU(),
);
const decoder = new Sequential(new ConvTranspose2d(16, 8, 2, { stride: 2 }), new ReLU(), new Conv2d(8, 1, 1));
const head = new Sequential(new AdaptiveAvgPool2d(1), new Flatten(), new Linear(16, 4));
const params = [...encoder.parameters(), ...decoder.parameters(), ...head.parameters()];
const opt = new Adam(params, { lr: 0.0015, weightDecay: 1e-4 });
const plateau = new ReduceLROnPlateau(opt, { mode: "min", patience: 2, factor: 0.5 });
const { x, y } = tidy(() => ({
  x: randn([8, 1, 32, 32]),
  y: tensor([0, 1, 2, 3, 0, 1, 2, 3], [8], { dtype: "int64" }),
}));

function step(): number {
  const loss = tidy(() => {
    const forward = () => {
      const z = encoder.forward(x);
      const reconstruction = decoder.forward(z).float();
      const logits = head.forward(z).float();
      return F.mseLoss(reconstruction, x).add(F.crossEntropy(logits, y));
    };
    const l = values.autocast ? withAutocast(forward) : forward();
    l.backward();
    return l.item();
  });
  opt.clipGradNorm(5);
  opt.step();
  opt.zeroGrad();
  return loss;
}

let loss = step();
const rssStart = process.memoryUsage.rss();
const liveStart = liveTensorCount();
const t0 = performance.now();
let rssStep100 = 0;
const rssEvery1000: number[] = [];
// glibc's bytes in live allocations: flat = no native leak, whatever RSS does (fragmentation).
const mallocInUseEvery1000: number[] = [];
const heapStart = process.memoryUsage().heapUsed;
const v8Start = process.memoryUsage();
let epochLoss = 0;
for (let i = 2; i <= steps; i++) {
  loss = step();
  epochLoss += loss;
  if (i % 100 === 0) {
    // An "epoch" of 100 steps: the scheduler steps, and freed memory goes back to the OS as the
    // trainer does between epochs (glibc otherwise keeps ~65 KB/step of freed small blocks).
    plateau.step(epochLoss / 100);
    epochLoss = 0;
    releaseFreeMemory();
    // A real loop awaits its data every step; this one yields once per "epoch" so Node runs the
    // native finalizers of collected tensor wrappers (they are deferred to the event loop).
    if (!values["no-yield"]) await new Promise((resolve) => setImmediate(resolve));
  }
  if (i === 100) rssStep100 = process.memoryUsage.rss();
  if (i % 1000 === 0) {
    rssEvery1000.push(mb(process.memoryUsage.rss()));
    mallocInUseEvery1000.push(mb(allocatorStats().mallocInUseBytes ?? Number.NaN));
  }
}
const seconds = (performance.now() - t0) / 1000;

console.log(
  JSON.stringify({
    steps,
    autocast: values.autocast,
    threads: getNumThreads(),
    rss_mb_start: mb(rssStart),
    rss_mb_step_100: mb(rssStep100),
    rss_mb_end: mb(process.memoryUsage.rss()),
    peak_rss_mb: mb(process.resourceUsage().maxRSS * 1024),
    rss_mb_every_1000_steps: rssEvery1000,
    malloc_in_use_mb_every_1000_steps: mallocInUseEvery1000,
    // The V8 heap holds the JS wrappers of disposed tensors until it collects them: part of the RSS.
    js_heap_used_mb_start: mb(heapStart),
    js_heap_used_mb_end: mb(process.memoryUsage().heapUsed),
    js_heap_total_mb_start_end: [mb(v8Start.heapTotal), mb(process.memoryUsage().heapTotal)],
    js_external_mb_start_end: [mb(v8Start.external), mb(process.memoryUsage().external)],
    rss_mb_after_release: (releaseFreeMemory(), mb(process.memoryUsage.rss())),
    live_tensors_start: liveStart,
    live_tensors_end: liveTensorCount(),
    ms_per_step: Math.round((seconds / (steps - 1)) * 1000 * 100) / 100,
    final_loss: loss,
    final_lr: opt.lr,
  }),
);
