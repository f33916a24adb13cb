// Errors: libtorch failures become JS Errors naming the op and its input shapes; disposed tensors
// and bad dtype names are rejected with clear messages; the live-tensor count is unchanged after each.
import assert from "node:assert/strict";
import { describe } from "node:test";
import { cat, F, ones, tensor, tidy, zeros } from "../src/engine/index.js";
import { engineTest } from "./engine-helpers.js";

/** Asserts that `fn` throws an instance of `kind` whose message matches every pattern. */
function throwsWith(
  fn: () => unknown,
  kind: ErrorConstructor | TypeErrorConstructor,
  ...patterns: RegExp[]
): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof kind, `expected a ${kind.name}, got ${String(error)}`);
    for (const p of patterns) assert.match(error.message, p);
    return true;
  });
}

describe("errors", () => {
  engineTest("matmul of [2,3] and [4,5] names the op and both shapes", () => {
    tidy(() =>
      throwsWith(
        () => zeros([2, 3]).matmul(zeros([4, 5])),
        Error,
        /^matmul\(float32\[2, 3\], float32\[4, 5\]\): /,
        /cannot be multiplied/,
      ),
    );
  });

  engineTest("conv2d with mismatched channels names the op, both shapes and the channel counts", () => {
    tidy(() =>
      throwsWith(
        () => F.conv2d(zeros([1, 3, 8, 8]), zeros([4, 2, 3, 3])),
        Error,
        /^conv2d\(float32\[1, 3, 8, 8\], float32\[4, 2, 3, 3\]\): /,
        /2 channels, but got 3/,
      ),
    );
  });

  engineTest("broadcast failures, bad dims and dtype mismatches name op and shapes", () => {
    tidy(() => {
      throwsWith(() => zeros([2, 3]).add(zeros([4])), Error, /^add\(float32\[2, 3\], float32\[4\]\): /);
      throwsWith(
        () => zeros([2, 3]).sum([5]),
        Error,
        /^sum\(float32\[2, 3\]\): /,
        /[Dd]imension out of range/,
      );
      throwsWith(
        () => cat([zeros([2, 3]), zeros([2, 4])], 0),
        Error,
        /^cat\(float32\[2, 3\], float32\[2, 4\]\): /,
      );
      throwsWith(
        () => zeros([2, 3], { dtype: "float64" }).matmul(zeros([3, 2])),
        Error,
        /^matmul\(float64\[2, 3\], float32\[3, 2\]\): /,
      );
      throwsWith(
        () => F.crossEntropy(zeros([4, 3]), tensor([0, 1, 2], [3], { dtype: "int64" })),
        Error,
        /^crossEntropy\(float32\[4, 3\], int64\[3\]\): /,
      );
      throwsWith(
        () => zeros([2, 3]).reshape([4, 2]),
        Error,
        /^reshape\(float32\[2, 3\]\): /,
        /invalid for input of size 6/,
      );
    });
  });

  engineTest("backward of a non-scalar without a gradient argument is an error naming backward", () => {
    tidy(() => {
      const x = ones([3]).setRequiresGrad(true);
      throwsWith(() => x.mul(2).backward(), Error, /^backward\(float32\[3\]\): /, /scalar/);
    });
  });

  engineTest("using a disposed tensor raises a clear error", () => {
    const t = zeros([2]);
    t.dispose();
    assert.ok(t.isDisposed);
    throwsWith(() => t.add(1), Error, /^add: argument 0 is a tensor that was already disposed$/);
    throwsWith(() => t.toArray(), Error, /already disposed/);
    tidy(() => {
      throwsWith(() => ones([2]).mul(t), Error, /^mul: argument 1 is a tensor that was already disposed$/);
      throwsWith(() => cat([ones([2]), t]), Error, /^cat: tensor 1 of argument 0 was already disposed$/);
    });
  });

  engineTest("bad dtype names are rejected with the list of valid ones", () => {
    const valid = /expected float32, float64, bfloat16, float16, int64, int32, uint8 or bool/;
    throwsWith(
      () => zeros([2], { dtype: "float128" as never }),
      TypeError,
      /^zeros: unknown dtype 'float128'/,
      valid,
    );
    tidy(() => {
      throwsWith(
        () => ones([2]).to("complex64" as never),
        TypeError,
        /^to: unknown dtype 'complex64'/,
        valid,
      );
      throwsWith(
        () => tensor(new Float32Array(2), [2], { dtype: "f32" as never }),
        TypeError,
        /^fromBuffer: unknown dtype 'f32'/,
      );
    });
    throwsWith(
      () => tensor([1, 2], [2], { dtype: "bfloat16" }),
      TypeError,
      /cannot be converted to bfloat16/,
    );
  });

  engineTest("data whose size does not match shape and dtype is rejected", () => {
    throwsWith(
      () => tensor(new Float32Array(5), [2, 3]),
      RangeError,
      /20 bytes given but shape and dtype float32 need 24/,
    );
  });

  engineTest("argument type errors name the op and the argument", () => {
    tidy(() => {
      throwsWith(() => ones([2]).add("x" as never), TypeError, /^add: argument 1 must be a tensor$/);
      throwsWith(
        () => ones([2, 2]).transpose(0.5, 1),
        TypeError,
        /^transpose: argument 1 must be an integer$/,
      );
    });
  });
});
