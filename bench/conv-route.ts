// npm run bench:conv-route [-- --steps 20 --threads 2 --bf16]
//
// A channels-last 1×1 convolution with stride 2 cannot run on libtorch 1.13's own kernel (its backward
// pass corrupts the heap on 2 threads). The addon computes it as subsample → stride-1 convolution; the
// other exact route is to run it in NCHW and convert the result back. This bench times forward +
// backward of both routes, in the same run, on the shortcut convolutions of the `fast` and `seed`
// ResNets, and prints one JSON line per shape with the ratio subsample / NCHW (above 1: subsample is
// faster).
import { parseArgs } from "node:util";
import { F, manualSeed, randn, setNumThreads, type Tensor, tidy, withAutocast } from "../src/engine/index.js";
import { median } from "./random-steps.js";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "20" },
    threads: { type: "string", default: "2" },
    bf16: { type: "boolean", default: false },
  },
});
const steps = Number(values.steps);
setNumThreads(Number(values.threads));
manualSeed(0);

/** [batch, inChannels, H, W] → outChannels, as in the ResNets' downsample shortcuts at batch 16. */
const SHAPES: { name: string; input: [number, number, number, number]; outChannels: number }[] = [
  { name: "fast layer2 (×2 sources)", input: [32, 16, 32, 32], outChannels: 32 },
  { name: "fast layer3 (×2 sources)", input: [32, 32, 16, 16], outChannels: 64 },
  { name: "fast layer4 (×2 sources)", input: [32, 64, 8, 8], outChannels: 128 },
  { name: "seed layer2", input: [16, 256, 32, 32], outChannels: 512 },
  { name: "seed layer3", input: [16, 512, 16, 16], outChannels: 1024 },
  { name: "seed layer4", input: [16, 1024, 8, 8], outChannels: 2048 },
];

type Route = (x: Tensor, w: Tensor) => Tensor;
const subsample: Route = (x, w) => F.conv2d(x, w, null, { stride: 2 }); // the addon's route
const nchw: Route = (x, w) =>
  F.conv2d(x.contiguous("contiguous"), w.contiguous("contiguous"), null, { stride: 2 }).contiguous(
    "channels_last",
  );

function timeRoute(route: Route, input: number[], outChannels: number): number {
  const x = randn(input).contiguous("channels_last").setRequiresGrad(true);
  const w = randn([outChannels, input[1]!, 1, 1]).contiguous("channels_last").setRequiresGrad(true);
  const times: number[] = [];
  for (let step = 0; step <= steps; step++) {
    const start = process.hrtime.bigint();
    tidy(() => {
      const forward = () => route(x, w);
      const y = values.bf16 ? withAutocast(forward) : forward();
      y.float().mul(y.float()).mean().backward();
    });
    if (step > 0) times.push(Number(process.hrtime.bigint() - start) / 1e6);
    x.setGrad(null);
    w.setGrad(null);
  }
  x.dispose();
  w.dispose();
  return median(times);
}

for (const { name, input, outChannels } of SHAPES) {
  // Alternate the order so neither route always runs on a warmer cache.
  const nchwMs = timeRoute(nchw, input, outChannels);
  const subsampleMs = timeRoute(subsample, input, outChannels);
  const subsampleMs2 = timeRoute(subsample, input, outChannels);
  const nchwMs2 = timeRoute(nchw, input, outChannels);
  const sub = Math.min(subsampleMs, subsampleMs2);
  const ref = Math.min(nchwMs, nchwMs2);
  console.log(
    JSON.stringify({
      shape: name,
      input,
      outChannels,
      bf16: values.bf16,
      subsample_ms: Number(sub.toFixed(3)),
      nchw_ms: Number(ref.toFixed(3)),
      ratio: Number((ref / sub).toFixed(2)),
    }),
  );
}
