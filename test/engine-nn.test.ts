// Modules (state-dict names as PyTorch's, strict loading, train/eval, channels-last), bf16 autocast
// and the thread setting.
import assert from "node:assert/strict";
import { describe } from "node:test";
import {
  BatchNorm2d,
  Conv2d,
  ConvTranspose2d,
  Dropout,
  Dropout2d,
  F,
  getNumThreads,
  Linear,
  manualSeed,
  Module,
  ModuleList,
  noGrad,
  ones,
  ReLU,
  randn,
  Sequential,
  setNumThreads,
  tensor,
  tidy,
  withAutocast,
} from "../src/engine/index.js";
import { assertClose, engineTest, golden } from "./engine-helpers.js";

/** The model whose torch state_dict scripts/golden/engine.py records. */
class Nested extends Module {
  constructor() {
    super();
    this.registerModule("0", new Conv2d(1, 4, 3, { padding: 1 }));
    this.registerModule("1", new BatchNorm2d(4));
    this.registerModule("2", new ReLU());
    this.registerModule("3", new Sequential(new Conv2d(4, 4, 3, { bias: false }), new BatchNorm2d(4)));
    this.registerModule(
      "4",
      new ModuleList<Module>([new Linear(4, 2), new ConvTranspose2d(4, 2, 2, { stride: 2 })]),
    );
  }
}

describe("modules", () => {
  engineTest("stateDict names, shapes and dtypes match PyTorch's", () => {
    const expected = (golden().state_dict as { entries: [string, number[], string][] }).entries;
    const model = new Nested();
    const state = model.stateDict();
    const ours = [...state].map(([k, t]) => [k, t.shape, t.dtype]);
    // Same entries; PyTorch interleaves each module's parameters and buffers, we list parameters
    // first, so compare as sets (safetensors files sort their keys anyway).
    const byName = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
    assert.deepEqual(ours.sort(byName), [...expected].sort(byName));
    model.dispose();
  });

  engineTest("Sequential(Conv2d, BatchNorm2d) lists its keys in PyTorch's order", () => {
    const model = new Sequential(new Conv2d(1, 2, 3), new BatchNorm2d(2));
    assert.deepEqual(
      [...model.stateDict().keys()],
      [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
      ],
    );
    model.dispose();
  });

  engineTest("loadStateDict copies values; strict errors name missing and unexpected keys", () => {
    const a = new Sequential(new Conv2d(1, 2, 3), new BatchNorm2d(2));
    const b = new Sequential(new Conv2d(1, 2, 3), new BatchNorm2d(2));
    tidy(() => {
      b.loadStateDict(a.stateDict());
      for (const [name, t] of a.stateDict())
        assert.deepEqual(b.stateDict().get(name)!.toArray(), t.toArray(), name);

      const partial = new Map(a.stateDict());
      partial.delete("1.running_var");
      partial.set("2.weight", ones([2]));
      assert.throws(
        () => b.loadStateDict(partial),
        (e: Error) =>
          /missing keys: 1\.running_var/.test(e.message) && /unexpected keys: 2\.weight/.test(e.message),
      );
      b.loadStateDict(partial, { strict: false }); // ignores both
      const wrongShape = new Map(a.stateDict());
      wrongShape.set("0.bias", ones([3]));
      assert.throws(() => b.loadStateDict(wrongShape), /'0\.bias' has shape \[3\], expected \[2\]/);
    });
    a.dispose();
    b.dispose();
  });

  engineTest("train() and eval() switch dropout on and off", () => {
    manualSeed(3);
    const drop = new Dropout(0.5);
    const drop2d = new Dropout2d(0.5);
    const seq = new Sequential(drop, drop2d);
    tidy(() => {
      const x = ones([4, 8, 3, 3]);
      const y = drop.forward(x).toArray();
      assert.ok(
        y.every((v) => v === 0 || v === 2),
        "training: zeros or 1/(1−p)",
      );
      const zeros = y.filter((v) => v === 0).length;
      assert.ok(
        zeros > 0.3 * y.length && zeros < 0.7 * y.length,
        `about half dropped (${zeros}/${y.length})`,
      );
      const y2 = drop2d.forward(x);
      for (let n = 0; n < 4; n++) {
        for (let c = 0; c < 8; c++) {
          const channel = y2.select(0, n).select(0, c).toArray();
          assert.ok(
            channel.every((v) => v === channel[0]),
            "Dropout2d drops whole channels",
          );
        }
      }
      seq.eval();
      assert.equal(drop.training, false, "eval() reaches children");
      assert.deepEqual(seq.forward(x).toArray(), x.toArray(), "eval: identity");
      seq.train();
      assert.notDeepEqual(seq.forward(x).toArray(), x.toArray(), "train again: active");
    });
  });

  engineTest("train() and eval() switch batch norm between batch and running statistics", () => {
    const bn = new BatchNorm2d(2, { momentum: 0.1 });
    tidy(() => {
      // [batch 2, channels 2, 2, 2]: channel 0 holds 1..8, channel 1 holds 10..80 (batch means 4.5, 45)
      const x = tensor([1, 2, 3, 4, 10, 20, 30, 40, 5, 6, 7, 8, 50, 60, 70, 80], [2, 2, 2, 2]);
      const y = bn.forward(x);
      const c0 = y.select(1, 0).toArray();
      assert.ok(Math.abs(c0.reduce((a, b) => a + b, 0)) < 1e-5, "training: batch-normalised (mean 0)");
      // running stats: 0.9·0 + 0.1·mean; 0.9·1 + 0.1·unbiased var (var of 1..8 = 6, of 10..80 = 600)
      assertClose(bn.stateDict().get("running_mean")!, [0.45, 4.5], 1e-6, "running mean");
      assertClose(bn.stateDict().get("running_var")!, [0.9 + 0.6, 0.9 + 60], 1e-5, "running var");
      assert.equal(bn.stateDict().get("num_batches_tracked")!.item(), 1);
      bn.eval();
      const e = bn.forward(x);
      // eval: (x − running_mean) / √(running_var + eps) with weight 1, bias 0
      const expected = [1, 2, 3, 4, 10, 20, 30, 40, 5, 6, 7, 8, 50, 60, 70, 80].map((v, i) => {
        const c = Math.floor(i / 4) % 2;
        return c === 0 ? (v - 0.45) / Math.sqrt(1.5 + 1e-5) : (v - 4.5) / Math.sqrt(60.9 + 1e-5);
      });
      assertClose(e, expected, 1e-5, "eval output");
      assert.equal(bn.stateDict().get("num_batches_tracked")!.item(), 1, "eval does not count batches");
    });
    bn.dispose();
  });

  engineTest("toChannelsLast keeps parameter values and the model's output", () => {
    manualSeed(5);
    const model = new Sequential(
      new Conv2d(3, 4, 3, { padding: 1 }),
      new BatchNorm2d(4),
      new ReLU(),
      new Conv2d(4, 2, 1),
    );
    model.eval();
    tidy(() => {
      const x = randn([2, 3, 6, 6]);
      const before = noGrad(() => model.forward(x).toArray());
      const weights = new Map([...model.stateDict()].map(([k, t]) => [k, t.toArray()]));
      model.toChannelsLast();
      for (const [k, t] of model.stateDict()) {
        assert.deepEqual(t.toArray(), weights.get(k), `${k} values`);
        if (t.rank === 4) assert.ok(t.isContiguous("channels_last"), `${k} is channels-last`);
      }
      assert.ok(
        model.parameters().every((p) => p.requiresGrad),
        "still parameters",
      );
      const after = noGrad(() => model.forward(x.contiguous("channels_last")).toArray());
      assertClose(after, before, 1e-5, "output (float32, 1e-5)");
    });
    model.dispose();
  });
});

describe("bf16 autocast", () => {
  engineTest(
    "conv2d runs in bfloat16 under withAutocast; float32 loss and grads on float32 parameters",
    () => {
      manualSeed(9);
      const conv = new Conv2d(2, 4, 3);
      tidy(() => {
        const x = randn([2, 2, 8, 8]);
        const target = randn([2, 4, 6, 6]);
        const loss = withAutocast(() => {
          const y = conv.forward(x);
          assert.equal(y.dtype, "bfloat16");
          const l = F.mseLoss(y.float(), target);
          assert.equal(l.dtype, "float32");
          return l;
        });
        loss.backward();
        assert.equal(conv.weight.dtype, "float32");
        assert.equal(conv.weight.grad!.dtype, "float32");
        assert.equal(conv.bias!.grad!.dtype, "float32");
        assert.ok(conv.weight.grad!.toArray().some((g) => g !== 0));
        // Outside autocast everything is float32 again, also after nested regions.
        assert.equal(conv.forward(x).dtype, "float32");
        withAutocast(() => withAutocast(() => assert.equal(conv.forward(x).dtype, "bfloat16")));
        assert.equal(conv.forward(x).dtype, "float32");
        assert.throws(
          () =>
            withAutocast(() => {
              throw new Error("inside");
            }),
          /inside/,
        );
        assert.equal(conv.forward(x).dtype, "float32", "restored after an exception");
      });
      conv.dispose();
    },
  );

  engineTest(
    "autocast does not reuse stale bf16 copies of weights updated between regions (also after nesting)",
    () => {
      const conv = new Conv2d(1, 1, 1, { bias: false });
      tidy(() => {
        const x = ones([1, 1, 2, 2]);
        const run = (nested: boolean): number[] =>
          withAutocast(() =>
            (nested ? withAutocast(() => conv.forward(x)) : conv.forward(x)).float().toArray(),
          );
        for (const nested of [false, true, false]) {
          for (const w of [0.5, 2, -1]) {
            noGrad(() => conv.weight.fill(w));
            assert.deepEqual(run(nested), [w, w, w, w], `weight ${w} (nested ${nested})`);
          }
        }
      });
      conv.dispose();
    },
  );
});

describe("threads", () => {
  engineTest("setNumThreads / getNumThreads round trip; invalid counts are rejected", () => {
    const original = getNumThreads();
    assert.ok(original >= 1);
    try {
      setNumThreads(1);
      assert.equal(getNumThreads(), 1);
      setNumThreads(2);
      assert.equal(getNumThreads(), 2);
      assert.throws(() => setNumThreads(0), RangeError);
      assert.throws(() => setNumThreads(1.5), RangeError);
      assert.equal(getNumThreads(), 2);
    } finally {
      setNumThreads(original);
    }
    assert.equal(getNumThreads(), original);
  });
});
