// Deterministic memory: scopes free intermediates, keep()/dispose() work, every test leaves the
// live native tensor count where it found it, and a training loop neither leaks tensors nor grows RSS.
import assert from "node:assert/strict";
import { describe } from "node:test";
import {
  Adam,
  AdaptiveAvgPool2d,
  allocatorStats,
  BatchNorm2d,
  Conv2d,
  dispose,
  F,
  Flatten,
  keep,
  Linear,
  liveTensorCount,
  manualSeed,
  MaxPool2d,
  ReLU,
  randn,
  releaseFreeMemory,
  Sequential,
  setAllocatorCacheLimit,
  type Tensor,
  tensor,
  tidy,
  zeros,
} from "../src/engine/index.js";
import { engineTest } from "./engine-helpers.js";

describe("scopes", () => {
  engineTest("tidy frees every intermediate and moves the result to the enclosing scope", () => {
    const start = liveTensorCount();
    let inner = 0;
    const result = tidy(() => {
      const a = tensor([1, 2, 3]);
      const b = a.mul(2);
      const c = b.add(a);
      inner = liveTensorCount() - start;
      return c.sum();
    });
    assert.equal(inner, 3, "a, b and c were alive inside the scope");
    assert.equal(liveTensorCount() - start, 1, "only the returned tensor survives");
    assert.equal(result.item(), 18);
    result.dispose();
    assert.equal(liveTensorCount(), start);
  });

  engineTest("tidy keeps tensors nested in arrays, plain objects and Maps it returns", () => {
    const start = liveTensorCount();
    const out = tidy(() => {
      const a = tensor([1, 2]);
      a.mul(3); // dropped
      return { pair: [a.add(1), a.add(2)], nested: { m: new Map([["x", a.neg()]]) }, n: 5 };
    });
    assert.equal(liveTensorCount() - start, 3);
    assert.deepEqual(out.pair[0]!.toArray(), [2, 3]);
    assert.deepEqual(out.nested.m.get("x")!.toArray(), [-1, -2]);
    dispose(out);
    assert.equal(liveTensorCount(), start);
  });

  engineTest("nested tidy: an inner result belongs to the outer scope", () => {
    const start = liveTensorCount();
    let afterInner = 0;
    tidy(() => {
      const fromInner = tidy(() => tensor([1]).add(1));
      afterInner = liveTensorCount() - start;
      assert.equal(fromInner.item(), 2);
    });
    assert.equal(afterInner, 1);
    assert.equal(liveTensorCount(), start, "the outer scope freed the inner result");
  });

  engineTest("keep() survives the scope until dispose(); dispose() is idempotent", () => {
    const start = liveTensorCount();
    let kept: Tensor | undefined;
    let inner: Tensor | undefined;
    const returned = tidy(() => {
      kept = keep(tensor([4, 5]));
      tensor([0]); // freed
      return tensor([7]);
    });
    assert.equal(liveTensorCount() - start, 2, "the kept and the returned tensor");
    tidy(() => {
      inner = tensor([1]);
      tidy(() => keep(inner!)); // keep() inside a nested scope also removes it from outer scopes
      kept!.add(0); // freed with this scope
    });
    assert.equal(liveTensorCount() - start, 3, "the tensor kept in the nested scopes outlived both");
    assert.deepEqual(kept!.toArray(), [4, 5]);
    assert.equal(returned.item(), 7);
    kept!.dispose();
    kept!.dispose();
    assert.ok(kept!.isDisposed && !returned.isDisposed);
    returned.dispose();
    assert.equal(liveTensorCount() - start, 1);
    assert.equal(inner!.item(), 1);
    inner!.dispose();
  });

  engineTest("an exception inside tidy frees the scope's tensors", () => {
    const start = liveTensorCount();
    assert.throws(
      () =>
        tidy(() => {
          tensor([1, 2]).add(1);
          throw new Error("boom");
        }),
      /boom/,
    );
    assert.equal(liveTensorCount(), start);
  });

  engineTest("tidy rejects async functions and frees what they created synchronously", () => {
    const start = liveTensorCount();
    assert.throws(
      () =>
        tidy(() => {
          tensor([1]);
          return Promise.resolve(0);
        }),
      /async/,
    );
    assert.equal(liveTensorCount(), start);
  });

  engineTest("grad handles and autograd graphs are freed by the scope", () => {
    const start = liveTensorCount();
    const w = keep(tensor([1, 2, 3], [3], { dtype: "float64" }).setRequiresGrad(true));
    for (let i = 0; i < 5; i++) {
      tidy(() => {
        w.mul(w).sum().backward();
        assert.ok(w.grad !== null);
      });
    }
    assert.deepEqual(
      tidy(() => w.grad!.toArray()),
      [10, 20, 30],
      "five accumulated 2w gradients",
    );
    w.dispose();
    assert.equal(liveTensorCount(), start);
  });
});

// ---------------------------------------------------------------- training

/** A tiny conv net: [batch, 1, 16, 16] → 3 logits. */
function tinyNet(): Sequential {
  return new Sequential(
    new Conv2d(1, 8, 3, { padding: 1 }),
    new BatchNorm2d(8),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(8, 8, 3, { padding: 1 }),
    new ReLU(),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(8, 3),
  );
}

/** One Adam step on (x, y); returns the loss before the step. */
function trainStep(model: Sequential, opt: Adam, x: Tensor, y: Tensor): number {
  const loss = tidy(() => {
    const l = F.crossEntropy(model.forward(x), y);
    l.backward();
    return l.item();
  });
  opt.step();
  opt.zeroGrad();
  return loss;
}

function fixedBatch(): { x: Tensor; y: Tensor } {
  return tidy(() => ({
    x: randn([8, 1, 16, 16]),
    y: tensor([0, 1, 2, 0, 1, 2, 0, 1], [8], { dtype: "int64" }),
  }));
}

describe("training", () => {
  engineTest("a tiny conv net's loss falls on a fixed batch", () => {
    manualSeed(7);
    const model = tinyNet();
    const opt = new Adam(model.parameters(), { lr: 0.02 });
    const { x, y } = fixedBatch();
    const losses = Array.from({ length: 60 }, () => trainStep(model, opt, x, y));
    dispose(x, y);
    opt.dispose();
    model.dispose();
    const first = losses[0]!;
    const last = losses[losses.length - 1]!;
    assert.ok(Number.isFinite(first) && first > 0.5, `initial loss ${first} is a plausible 3-class loss`);
    assert.ok(last < 0.25 * first, `loss fell from ${first} to ${last} (expected below a quarter)`);
  });

  // Bound: RSS may grow by less than 30 MB between step 100 and step 300 (a leak of one 8×8×16×16
  // float32 activation per step alone would add ~1.6 MB per 200 steps per tensor; a leaked autograd
  // graph per step adds far more). The live-tensor count must be exactly constant from step 1 on.
  engineTest(
    "a 300-step training loop keeps the live-tensor count constant and RSS flat (< 30 MB growth)",
    () => {
      manualSeed(11);
      const model = tinyNet();
      const opt = new Adam(model.parameters(), { lr: 0.001, weightDecay: 1e-4 });
      const { x, y } = fixedBatch();
      trainStep(model, opt, x, y);
      const live = liveTensorCount();
      let rssAt100 = 0;
      for (let step = 2; step <= 300; step++) {
        trainStep(model, opt, x, y);
        assert.equal(liveTensorCount(), live, `live tensors changed at step ${step}`);
        if (step === 100) rssAt100 = process.memoryUsage.rss();
      }
      const growthMb = (process.memoryUsage.rss() - rssAt100) / 2 ** 20;
      dispose(x, y);
      opt.dispose();
      model.dispose();
      assert.ok(growthMb < 30, `RSS grew ${growthMb.toFixed(1)} MB between step 100 and step 300`);
    },
  );
});

engineTest("caching allocator: freed large buffers are reused, capped, and released on request", (t) => {
  if (!allocatorStats().caching) {
    // STEMSCOPE_ALLOCATOR=default (scripts/test-heap-checked.sh): libtorch's own allocator runs.
    assert.equal(process.env.STEMSCOPE_ALLOCATOR, "default");
    t.skip("STEMSCOPE_ALLOCATOR=default: the caching allocator is not installed");
    return;
  }
  releaseFreeMemory();
  const before = allocatorStats();
  // 1 MiB float32 buffers, allocated and freed 10 times: the first comes from the system, the rest
  // from the cache.
  for (let i = 0; i < 10; i++) zeros([256, 1024]).dispose();
  const after = allocatorStats();
  assert.equal(after.misses - before.misses, 1);
  assert.equal(after.hits - before.hits, 9);
  assert.equal(after.cachedBytes, 1 << 20);
  // A size within the same class (≤ 25% above the power of two) reuses the block too.
  zeros([256, 1000]).dispose();
  assert.equal(allocatorStats().hits - after.hits, 1);
  assert.equal(releaseFreeMemory(), 1 << 20);
  assert.equal(allocatorStats().cachedBytes, 0);
  // With a zero cap nothing is kept.
  setAllocatorCacheLimit(0);
  try {
    zeros([256, 1024]).dispose();
    assert.equal(allocatorStats().cachedBytes, 0);
  } finally {
    setAllocatorCacheLimit(8 * 2 ** 30);
  }
  assert.throws(() => setAllocatorCacheLimit(-1), /setAllocatorCacheLimit: bytes must be ≥ 0/);
});
