#!/usr/bin/env -S node --max-semi-space-size=4
// Thin launcher: the compiled CLI lives in dist/ (built by `npm run prepare`).
// --max-semi-space-size=4: V8's young generation grows to 2 × 16 MB by default while separate or
// predict churn through a long file's blocks, on top of the model's buffers; capped at 2 × 4 MB, a
// 40-min 44.1 kHz stereo `separate` peaked at 398 MB instead of 433 MB (npm run bench:long passes the
// same flags). Node flags cannot be set once it runs, hence here.
import { main } from "../dist/cli/main.js";

main(process.argv).then((code) => {
  process.exitCode = code;
});
