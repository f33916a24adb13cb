// Helpers shared by the training benchmarks. (The engine-alone training loop they time is the
// library's trainingRate in src/model/precision.ts, which the trainer's `bf16: "auto"` uses too.)

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
