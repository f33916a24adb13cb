// Data-parallel training on libtorch's c10d (Gloo): two ranks on loopback end with the weights of one
// process trained on the union of their batches; a rank killed mid-epoch is named by the other,
// which stops, keeps the last checkpoint, and --resume finishes the same run; a wrong master address
// is a clear error; a two-host run in network namespaces (scripts/two-host-netns.sh) where possible.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { buildFeatureCache, readBatch } from "../src/data/dataset/cache.js";
import { labelIndices, readTrainData, splitTrainData } from "../src/data/dataset/dataset.js";
import { buildMixtures } from "../src/data/mix/mix.js";
import {
  Adam,
  decodeSafetensors,
  dispose,
  getNumThreads,
  manualSeed,
  noGrad,
  setNumThreads,
  type Tensor,
  tensor,
  tidy,
} from "../src/engine/index.js";
import { readCheckpoint } from "../src/model/checkpoint.js";
import { readModelConfig } from "../src/model/folder.js";
import { JointModel, jointLoss } from "../src/model/joint.js";
import { shardIndices } from "../src/train/distributed.js";
import { train, TrainError } from "../src/train/index.js";
import { Random } from "../src/util/random.js";
import { makeRawData, tempDir } from "./data-helpers.js";
import { freePort } from "./net-helpers.js";

const repo = fileURLToPath(new URL("..", import.meta.url));
const tsx = new URL("../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
const cliArgs = (args: string[]): string[] => ["--import", tsx, join(repo, "src/cli/main.ts"), ...args];

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Exit {
  const r = spawnSync(process.execPath, cliArgs(args), { encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SEED = 3;
const BATCH = 3;
const EPOCHS = 2;
let root = "";
let data = "";
/** The settings of every run here: tiny preset, one thread per rank, 18 train / 6 test samples. */
const runFlags = (out: string): string[] => [
  "train",
  "--data",
  data,
  "--out",
  out,
  "--preset",
  "tiny",
  "--epochs",
  String(EPOCHS),
  "--batch-size",
  String(BATCH),
  "--threads",
  "1",
  "--seed",
  String(SEED),
  "--quiet",
];

/** The uninterrupted two-rank run (`--nproc 2`), made once. */
let runA = "";
before(async () => {
  root = tempDir("stemscope-ddp-");
  makeRawData(join(root, "raw"), ["bass", "flute", "piano"], 4, 16000);
  data = join(root, "train_data");
  await buildMixtures({ data: join(root, "raw"), out: data, samplesPerCombination: 8 }, { jobs: 1 });
  runA = join(root, "runs", "a");
  const r = cli([...runFlags(runA), "--nproc", "2"]);
  assert.equal(r.code, 0, `the two-rank run failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /Epoch 02 \|/);
  assert.match(r.stdout, /trained on 2 ranks/);
  assert.doesNotMatch(r.stdout + r.stderr, /\[rank 1\]/, "rank 1 prints nothing when all goes well");
});

after(() => rmSync(root, { recursive: true, force: true }));

/**
 * One process trained on the union of the ranks' batches, as DDP defines it: every step runs the
 * forward and backward of each rank's batch (its own BatchNorm batch statistics), averages the
 * gradients, and keeps the running statistics of rank 0's batch. `ranks` = [0] trains on rank 0's
 * share alone (a run that ignores rank 1).
 */
async function reference(ranks: number[]): Promise<Map<string, Tensor>> {
  const folder = readModelConfig(runA);
  const trainData = readTrainData(data, { classes: folder.classes });
  const split = splitTrainData(trainData, "auto", { seed: SEED, testFraction: 0.2 });
  const store = await buildFeatureCache(trainData.samples, folder.features, {
    cacheDir: join(data, ".stemscope-cache"),
    jobs: 1,
  });
  const labelsOf = trainData.samples.map((s) => labelIndices(trainData, s));
  const k = trainData.sources;
  const threads = getNumThreads();
  setNumThreads(1);
  manualSeed(SEED);
  const model = new JointModel(folder.model).toChannelsLast();
  const optimizer = new Adam(model.parameters(), { lr: 0.0015, weightDecay: 1e-4 });
  const weights = { lossWeight: 0.7, referenceWeight: 0 };
  try {
    for (let epoch = 1; epoch <= EPOCHS; epoch++) {
      const order = new Random(SEED).fork(`train:shuffle:${epoch}`).shuffle(split.train.slice());
      const shares = [0, 1].map((r) => shardIndices(order, r, 2, true));
      for (let start = 0; start < shares[0]!.length; start += BATCH) {
        optimizer.zeroGrad();
        let rank0Buffers: Tensor[] = [];
        for (const r of ranks) {
          const indices = shares[r]!.slice(start, start + BATCH);
          const n = indices.length;
          const batch = readBatch({
            entries: indices.map((i) => store.entries[i]!),
            planes: store.planes,
            rows: store.rows,
            cols: store.cols,
          });
          tidy(() => {
            const mixture = tensor(batch.mixture, [n, 1, store.rows, store.cols]).contiguous("channels_last");
            const sources = tensor(batch.sources, [n, k, store.rows, store.cols]);
            const labels = tensor(
              BigInt64Array.from(
                indices.flatMap((i) => labelsOf[i]!),
                (v) => BigInt(v),
              ),
              [n, k],
            );
            jointLoss(model.forward(mixture), { sources, labels }, weights).objective.backward();
          });
          if (r === 0) rank0Buffers = noGrad(() => model.namedBuffers().map(([, b]) => b.clone()));
        }
        noGrad(() => {
          model.namedBuffers().forEach(([, b], i) => b.copyFrom(rank0Buffers[i]!));
          for (const p of model.parameters()) {
            const g = p.grad!;
            p.setGrad(tidy(() => g.mul(1 / ranks.length)));
            g.dispose();
          }
        });
        dispose(rank0Buffers);
        optimizer.step();
      }
    }
    return new Map([...model.stateDict()].map(([name, t]) => [name, noGrad(() => t.clone())]));
  } finally {
    optimizer.dispose();
    model.dispose();
    setNumThreads(threads);
  }
}

/** max over tensors of max|a − b| / max|b| (b: the reference). */
function maxRelativeDiff(
  weightsFile: string,
  expected: Map<string, Tensor>,
): { worst: number; name: string } {
  const { tensors } = decodeSafetensors(readFileSync(weightsFile));
  let worst = { worst: 0, name: "" };
  try {
    assert.deepEqual([...tensors.keys()].sort(), [...expected.keys()].sort());
    for (const [name, b] of expected) {
      const a = tensors.get(name)!.toArray();
      const e = b.toArray();
      let diff = 0;
      let scale = 1e-12;
      e.forEach((v, i) => {
        diff = Math.max(diff, Math.abs(a[i]! - v));
        scale = Math.max(scale, Math.abs(v));
      });
      if (diff / scale > worst.worst) worst = { worst: diff / scale, name };
    }
    return worst;
  } finally {
    dispose([...tensors.values()]);
  }
}

test("two ranks on loopback end with the weights of one process trained on the union of their batches", async () => {
  const union = await reference([0, 1]);
  const rankZeroOnly = await reference([0]);
  try {
    const last = join(runA, "last.safetensors");
    const same = maxRelativeDiff(last, union);
    assert.ok(
      same.worst <= 1e-5,
      `${same.name} differs by ${same.worst} (relative) from the union of the batches`,
    );
    // The comparison can tell: training on rank 0's share alone ends elsewhere.
    const other = maxRelativeDiff(last, rankZeroOnly);
    assert.ok(other.worst > 1e-3, `rank 0's share alone gives nearly the same weights (${other.worst})`);
  } finally {
    dispose([...union.values(), ...rankZeroOnly.values()]);
  }
  const config = readModelConfig(runA);
  assert.equal(config.training?.worldSize, 2);
  const log = readFileSync(join(runA, "train_log.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { worldSize: number; steps: number });
  assert.deepEqual(
    log.map((r) => [r.worldSize, r.steps]),
    [
      [2, 3],
      [2, 3],
    ],
    "each epoch: 2 ranks × 3 steps of 3 samples (18 training samples)",
  );
  // A run of 2 ranks resumes with 2 ranks only.
  await assert.rejects(train({ out: runA, resume: true, epochs: 3 }), (error: unknown) => {
    assert.ok(error instanceof TrainError);
    assert.match(error.message, /was trained with `worldSize` 2; resume it with that many ranks, not 1/);
    return true;
  });
});

test("a rank killed mid-epoch is named by the other, which stops; the checkpoint stays and --resume finishes the run", async () => {
  const out = join(root, "runs", "killed");
  const port = await freePort();
  const flags = [...runFlags(out), "--dist-timeout", "60"];
  // Rank 0 by flags; rank 1 as torchrun starts it, by environment variables.
  const rank0 = spawn(
    process.execPath,
    cliArgs([...flags, "--world-size", "2", "--rank", "0", "--master-port", String(port)]),
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const rank1 = spawn(process.execPath, cliArgs(flags), {
    stdio: ["ignore", "ignore", "ignore"],
    env: {
      ...process.env,
      WORLD_SIZE: "2",
      RANK: "1",
      LOCAL_RANK: "1",
      MASTER_ADDR: "127.0.0.1",
      MASTER_PORT: String(port),
    },
  });
  let stdout = "";
  let stderr = "";
  rank0.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  let killedAt = 0;
  const exited = new Promise<number | null>((resolve) => rank0.once("close", (code) => resolve(code)));
  const killed = await new Promise<boolean>((resolve) => {
    rank0.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (killedAt === 0 && stdout.includes("Epoch 01 |")) {
        killedAt = performance.now();
        resolve(rank1.kill("SIGKILL"));
      }
    });
    void exited.then(() => resolve(false));
  });
  assert.ok(killed, `rank 1 could not be killed in epoch 2: ${stdout}\n${stderr}`);
  const code = await exited;
  const seconds = (performance.now() - killedAt) / 1000;
  assert.notEqual(code, 0, "rank 0 must fail when rank 1 is lost");
  assert.match(
    stderr,
    /lost rank 1 of 2 \(no heartbeat for 3 s: the process ended or its host is unreachable\)/,
  );
  assert.ok(seconds < 60, `rank 0 stopped ${seconds.toFixed(1)} s after the kill: within the 60-s timeout`);
  assert.doesNotMatch(stdout, /Epoch 02/);

  const checkpoint = readCheckpoint(out)!;
  assert.equal(checkpoint.state.epoch, 1, "the checkpoint of epoch 1 is intact");
  assert.equal(checkpoint.state.config.worldSize, 2);
  dispose([...checkpoint.model.values(), ...checkpoint.optimizer.values()]);

  const resumed = cli(["train", "--out", out, "--resume", "--threads", "1", "--quiet", "--nproc", "2"]);
  assert.equal(resumed.code, 0, `--resume failed:\n${resumed.stdout}\n${resumed.stderr}`);
  assert.match(resumed.stdout, /Epoch 02 \|/);
  assert.ok(
    readFileSync(join(out, "last.safetensors")).equals(readFileSync(join(runA, "last.safetensors"))),
    "kill + resume must end with the weights of the uninterrupted two-rank run",
  );
});

test("a wrong --master-addr is a clear error within the timeout, not a hang", async () => {
  const port = await freePort();
  const started = performance.now();
  const r = cli([
    ...runFlags(join(root, "runs", "lonely")),
    "--world-size",
    "2",
    "--rank",
    "1",
    "--master-addr",
    "127.0.0.2",
    "--master-port",
    String(port),
    "--dist-timeout",
    "2",
  ]);
  const seconds = (performance.now() - started) / 1000;
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^stemscope: rank 1 could not reach the rendezvous store of rank 0 at 127\.0\.0\.2:\d+ within 2 s: .*\(check the master address and port, and that rank 0 is running\)\n$/,
  );
  assert.ok(seconds < 30, `gave up after ${seconds.toFixed(1)} s`);
  const unknown = cli([...runFlags(join(root, "runs", "lonely")), "--world-size", "2", "--rank", "1"], {
    MASTER_ADDR: "no-such-host.invalid",
  });
  assert.match(unknown.stderr, /^stemscope: cannot resolve the master address 'no-such-host\.invalid'/);
  const badRank = cli([...runFlags(join(root, "runs", "lonely")), "--world-size", "2", "--rank", "2"]);
  assert.match(badRank.stderr, /^stemscope: --rank 2 is not below --world-size 2: ranks are 0 to 1\n$/);
  assert.ok(!existsSync(join(root, "runs", "lonely")), "no model folder for a run that never started");
});

test("two hosts: ranks in two network namespaces joined by a veth pair train the weights of the loopback run", (t) => {
  const probe = spawnSync("ip", ["netns", "add", `sscheck${process.pid}`], { encoding: "utf8" });
  if (probe.status !== 0) {
    t.skip(
      `network namespaces cannot be created here (${(probe.stderr || probe.error?.message || "").trim()}); run scripts/two-host-netns.sh as root`,
    );
    return;
  }
  spawnSync("ip", ["netns", "del", `sscheck${process.pid}`]);
  const r = spawnSync("bash", [join(repo, "scripts/two-host-netns.sh"), data, join(root, "two-host")], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /same weights over the veth pair and over loopback/);
});
