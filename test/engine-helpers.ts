// Shared helpers of the engine tests (test/engine*.test.ts): a leak-checked test wrapper, golden-file
// access and closeness assertions with explicit tolerances.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { type DType, liveTensorCount, type Tensor, tensor } from "../src/engine/index.js";

export const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), "golden");

/** Asserts that `fn` leaves the live native tensor count where it found it. */
export async function assertNoLeak<R>(label: string, fn: () => R | Promise<R>): Promise<R> {
  const before = liveTensorCount();
  const result = await fn();
  const after = liveTensorCount();
  assert.equal(
    after,
    before,
    `${label}: ${after - before} native tensor(s) leaked (live count ${before} → ${after})`,
  );
  return result;
}

/** A `node:test` test whose body must leave the live-tensor count unchanged. */
export function engineTest(name: string, fn: (t: TestContext) => void | Promise<void>): void {
  test(name, (t) => assertNoLeak(name, () => fn(t)));
}

/** A golden array as written by scripts/golden/engine.py: row-major data and its shape. */
export interface GoldenArray {
  shape: number[];
  dtype: string;
  data: number[];
}

let goldenCache: Record<string, unknown> | undefined;
/** test/golden/engine.json (written by scripts/golden/engine.py with torch 1.13). */
export function golden(): Record<string, unknown> {
  goldenCache ??= JSON.parse(readFileSync(join(GOLDEN_DIR, "engine.json"), "utf8")) as Record<
    string,
    unknown
  >;
  return goldenCache;
}

/** A tensor holding a golden array (float64 unless `dtype` is given). */
export function fromGolden(a: GoldenArray, dtype?: DType): Tensor {
  const d = dtype ?? (a.dtype === "int64" ? "int64" : a.dtype === "float32" ? "float32" : "float64");
  return tensor(a.data, a.shape, { dtype: d });
}

/**
 * Asserts |actual − expected| ≤ tol · max(1, |expected|) elementwise (a relative tolerance that
 * becomes absolute below 1), and that the shapes agree.
 */
export function assertClose(
  actual: Tensor | ArrayLike<number>,
  expected: GoldenArray | ArrayLike<number>,
  tol: number,
  label: string,
): void {
  const a = "native" in actual ? (actual as Tensor).toArray() : Array.from(actual as ArrayLike<number>);
  const e =
    "shape" in expected && "data" in expected ? expected.data : Array.from(expected as ArrayLike<number>);
  if ("native" in actual && "shape" in expected && "data" in expected) {
    assert.deepEqual((actual as Tensor).shape, expected.shape, `${label}: shape`);
  }
  assert.equal(a.length, e.length, `${label}: ${a.length} values, expected ${e.length}`);
  let worst = 0;
  let worstIndex = -1;
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i]! - e[i]!) / Math.max(1, Math.abs(e[i]!));
    if (!(err <= worst)) {
      worst = err;
      worstIndex = i;
    }
  }
  assert.ok(
    worst <= tol,
    `${label}: error ${worst.toExponential(3)} > ${tol} at index ${worstIndex} (got ${a[worstIndex]}, expected ${e[worstIndex]})`,
  );
}
