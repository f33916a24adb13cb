// The process group (libtorch c10d, Gloo over loopback): two ranks in this process (each call runs on
// its own libuv thread), bucketed all-reduce and broadcast against sums computed here, the store's
// share / gather, and every rendezvous and lost-rank error naming what is wrong.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import {
  DistributedError,
  dispose,
  ProcessGroup,
  type ProcessGroupOptions,
  type Tensor,
  tensor,
  tidy,
} from "../src/engine/index.js";
import { engineTest } from "./engine-helpers.js";
import { freePort } from "./net-helpers.js";

/** Joins `worldSize` ranks in this process. */
async function group(worldSize: number, timeoutSeconds = 20): Promise<ProcessGroup[]> {
  const masterPort = await freePort();
  const options = (rank: number): ProcessGroupOptions => ({
    masterAddr: "127.0.0.1",
    masterPort,
    worldSize,
    rank,
    timeoutSeconds,
  });
  return Promise.all(Array.from({ length: worldSize }, (_, r) => ProcessGroup.create(options(r))));
}

/** Per-rank tensors of mixed shapes, layouts and dtypes; values depend on the rank and index. */
function rankTensors(rank: number): Tensor[] {
  return tidy(() => {
    const values = (n: number, k: number): number[] =>
      Array.from({ length: n }, (_, i) => ((i * 7 + k * 13) % 11) - 5 + rank * 0.25 * (i + 1));
    return [
      tensor(values(2 * 3 * 4 * 5, 1), [2, 3, 4, 5]).contiguous("channels_last"),
      tensor(values(1000, 2), [1000]),
      tensor(values(6, 3), [2, 3], { dtype: "float64" }),
      tensor(values(300, 4), [3, 100]),
      tensor([rank, 2 * rank, 7], [3], { dtype: "int64" }),
    ];
  });
}

engineTest(
  "allReduce sums and averages over ranks, bucketed, in logical order whatever the layout",
  async () => {
    const ranks = await group(2);
    try {
      for (const [op, bucketBytes] of [
        ["sum", 256],
        ["avg", 25 * 2 ** 20],
        ["sum", 1],
      ] as const) {
        const inputs = ranks.map((g) => rankTensors(g.rank));
        const expected = inputs[0]!.map((t, i) => {
          const a = t.toArray();
          const b = inputs[1]![i]!.toArray();
          return a.map((v, j) => (op === "sum" ? v + b[j]! : (v + b[j]!) / 2));
        });
        const layout = inputs[0]![0]!.isContiguous("channels_last");
        // "avg" would refuse the int64 tensor: average the floating ones only.
        const list = (r: number): Tensor[] => (op === "avg" ? inputs[r]!.slice(0, 4) : inputs[r]!);
        await Promise.all(ranks.map((g) => g.allReduce(list(g.rank), { op, bucketBytes })));
        for (const r of [0, 1]) {
          list(r).forEach((t, i) => {
            assert.deepEqual(t.toArray(), expected[i]!, `${op} rank ${r} tensor ${i}`);
          });
          assert.equal(inputs[r]![0]!.isContiguous("channels_last"), layout, "the layout is kept");
        }
        for (const list of inputs) dispose(list);
      }
    } finally {
      for (const g of ranks) g.destroy();
    }
  },
);

engineTest("broadcast copies the root's tensors; share and gather pass strings between ranks", async () => {
  const ranks = await group(3);
  try {
    const inputs = ranks.map((g) => rankTensors(g.rank));
    const root = inputs[2]!.map((t) => t.toArray());
    await Promise.all(ranks.map((g) => g.broadcast(inputs[g.rank]!, { root: 2, bucketBytes: 512 })));
    for (const list of inputs) {
      list.forEach((t, i) => assert.deepEqual(t.toArray(), root[i]));
      dispose(list);
    }
    const shared = await Promise.all(
      ranks.map((g) => g.share("config", g.rank === 0 ? '{"lr":0.5}' : "ignored")),
    );
    assert.deepEqual(shared, ['{"lr":0.5}', '{"lr":0.5}', '{"lr":0.5}']);
    const gathered = await Promise.all(ranks.map((g) => g.gather("digest", `rank-${g.rank}`)));
    for (const values of gathered) assert.deepEqual(values, ["rank-0", "rank-1", "rank-2"]);
    await Promise.all(ranks.map((g) => g.barrier()));
  } finally {
    for (const g of ranks) g.destroy();
  }
});

test("a rank that leaves mid-run is named by the others' next collective, which then fail at once", async () => {
  const [a, b] = await group(2, 30);
  try {
    const x = tensor([1, 2, 3], [3]);
    await Promise.all([a!.allReduce([x]), b!.allReduce([x])]);
    await b!.abandon("out of memory while loading batch 7");
    const started = performance.now();
    const error = await a!.allReduce([x]).then(
      () => assert.fail("the all-reduce should fail"),
      (e: unknown) => e,
    );
    const seconds = (performance.now() - started) / 1000;
    assert.ok(error instanceof DistributedError, String(error));
    assert.equal(error.kind, "lost-rank");
    assert.deepEqual(error.lostRanks, [1]);
    assert.match(error.message, /^allReduce: lost rank 1 of 2/);
    assert.match(error.message, /rank 1 failed: out of memory while loading batch 7/);
    assert.ok(
      seconds < 15,
      `named the lost rank after ${seconds.toFixed(1)} s, well before the 30-s timeout`,
    );
    const again = await a!.barrier().then(
      () => assert.fail("the barrier should fail"),
      (e: unknown) => e as Error,
    );
    assert.match(again.message, /^barrier: the process group failed earlier: allReduce: lost rank 1/);
    x.dispose();
  } finally {
    a!.destroy();
    b!.destroy();
  }
});

test("rendezvous errors: unreachable master, unknown host, missing rank, mixed world sizes, a rank twice", async () => {
  const port = await freePort();
  const join = (o: Partial<ProcessGroupOptions>): Promise<unknown> =>
    ProcessGroup.create({
      masterAddr: "127.0.0.1",
      masterPort: port,
      worldSize: 2,
      rank: 1,
      timeoutSeconds: 2,
      ...o,
    }).then(
      (g) => {
        g.destroy();
        assert.fail("the rendezvous should fail");
      },
      (e: unknown) => e,
    );
  const expectError = async (
    o: Partial<ProcessGroupOptions>,
    pattern: RegExp,
    lost?: number[],
  ): Promise<void> => {
    const error = await join(o);
    assert.ok(error instanceof DistributedError, String(error));
    assert.match(error.message, pattern);
    if (lost !== undefined) assert.deepEqual(error.lostRanks, lost);
  };
  // Nothing listens on 127.0.0.2:<port>: rank 1 retries until its timeout, then says where it looked.
  await expectError(
    { masterAddr: "127.0.0.2" },
    /^rank 1 could not reach the rendezvous store of rank 0 at 127\.0\.0\.2:\d+ within 2 s: .*check the master address and port/,
  );
  await expectError(
    { masterAddr: "no-such-host.invalid" },
    /^cannot resolve the master address 'no-such-host\.invalid'/,
  );
  await expectError(
    { rank: 0 },
    /^the rendezvous at 127\.0\.0\.1:\d+: rank 1 did not arrive within 2 s/,
    [1],
  );

  // Rank 0 of 3 is up; a rank that believes in 2 ranks finds the disagreement at once. Rank 0 waits
  // 8 s for the others (it gives up then, closing its store): with 3 s, a machine busy with training
  // once let it close before rank 1 had connected.
  const host = ProcessGroup.create({
    masterAddr: "127.0.0.1",
    masterPort: port,
    worldSize: 3,
    rank: 0,
    timeoutSeconds: 8,
  });
  host.catch(() => undefined);
  await expectError(
    { worldSize: 2, rank: 1, timeoutSeconds: 10 },
    /^rank 0 was started with world size 3, rank 1 with 2; every rank needs the same world size/,
  );
  await host.then(
    (g) => g.destroy(),
    () => undefined,
  );

  const second = await freePort();
  const ranks = await Promise.all(
    [0, 1, 2].map((rank) =>
      ProcessGroup.create({
        masterAddr: "127.0.0.1",
        masterPort: second,
        worldSize: 3,
        rank,
        timeoutSeconds: 20,
      }),
    ),
  );
  try {
    const twice = await ProcessGroup.create({
      masterAddr: "127.0.0.1",
      masterPort: second,
      worldSize: 3,
      rank: 1,
      timeoutSeconds: 20,
    }).then(
      (g) => {
        g.destroy();
        assert.fail("two processes joined as rank 1");
      },
      (e: unknown) => e as Error,
    );
    assert.match(
      twice.message,
      /^rank 1 was started twice: pid \d+ on .+ already joined the rendezvous at 127\.0\.0\.1:\d+ as rank 1/,
    );
  } finally {
    for (const g of ranks) g.destroy();
  }
});

test(
  "a stopped rank 0 (its sockets open, its store silent) is named after the timeout, not waited on forever",
  { timeout: 60_000 },
  async () => {
    const masterPort = await freePort();
    const engine = new URL("../src/engine/index.ts", import.meta.url).href;
    // Rank 0 in a child process: joins, then all-reduces until it is stopped. It says "joining" once
    // loaded, and rank 1 joins only then: loading the engine can take longer than the 3-s timeout on
    // a busy machine, which would fail the rendezvous, not the collective under test.
    const script = `
    const { ProcessGroup, tensor } = await import(${JSON.stringify(engine)});
    process.stdout.write("joining\\n");
    const g = await ProcessGroup.create({ masterAddr: "127.0.0.1", masterPort: ${masterPort}, worldSize: 2, rank: 0, timeoutSeconds: 3 });
    const x = tensor([1], [1]);
    for (;;) await g.allReduce([x]);`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        let said = "";
        child.stdout.on("data", (chunk: Buffer) => {
          said += chunk.toString();
          if (said.includes("joining\n")) resolve();
        });
        child.once("exit", (code) => reject(new Error(`rank 0's process exited (${code}) before joining`)));
      });
      const g = await ProcessGroup.create({
        masterAddr: "127.0.0.1",
        masterPort,
        worldSize: 2,
        rank: 1,
        timeoutSeconds: 3,
      });
      const x = tensor([1], [1]);
      try {
        await g.allReduce([x]);
        child.kill("SIGSTOP");
        const started = performance.now();
        const error = await (async () => {
          for (;;) await g.allReduce([x]);
        })().catch((e: unknown) => e);
        const seconds = (performance.now() - started) / 1000;
        assert.ok(error instanceof DistributedError, String(error));
        assert.deepEqual(error.lostRanks, [0]);
        assert.match(
          error.message,
          /^allReduce: lost rank 0 of 2 \(its rendezvous store at 127\.0\.0\.1:\d+ no longer answers/,
        );
        assert.match(error.message, /Timed out waiting 3000ms/);
        assert.ok(
          seconds < 20,
          `named rank 0 after ${seconds.toFixed(1)} s: the 3-s timeout plus at most 8 s of checking`,
        );
      } finally {
        x.dispose();
        g.destroy();
      }
    } finally {
      child.kill("SIGKILL");
    }
  },
);
