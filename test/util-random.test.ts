import assert from "node:assert/strict";
import { test } from "node:test";
import { Random, hash32, hashUnit } from "../src/util/random.js";

/** xoshiro128** written from the reference C code with BigInt arithmetic (an independent path). */
function referenceXoshiro128ss(state: bigint[], count: number): number[] {
  const M = 0xffffffffn;
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M;
  const s = state.slice();
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const result = (rotl((s[1]! * 5n) & M, 7n) * 9n) & M;
    const t = (s[1]! << 9n) & M;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11n);
    out.push(Number(result));
  }
  return out;
}

test("uint32 matches the xoshiro128** reference", () => {
  const states: [number, number, number, number][] = [
    [1, 2, 3, 4],
    [0xdeadbeef, 0x12345678, 0xffffffff, 0x80000000],
  ];
  for (const st of states) {
    const r = Random.fromState(st);
    const got = Array.from({ length: 100 }, () => r.uint32());
    assert.deepEqual(
      got,
      referenceXoshiro128ss(
        st.map((x) => BigInt(x >>> 0)),
        100,
      ),
    );
  }
  // Known first output for state {1,2,3,4}: rotl(2*5, 7) * 9 = 11520.
  assert.equal(Random.fromState([1, 2, 3, 4]).uint32(), 11520);
});

test("same seed gives the same stream; different seeds differ", () => {
  const a = new Random(0);
  const b = new Random(0);
  const c = new Random(1);
  const xa = Array.from({ length: 20 }, () => a.uint32());
  assert.deepEqual(
    xa,
    Array.from({ length: 20 }, () => b.uint32()),
  );
  assert.notDeepEqual(
    xa,
    Array.from({ length: 20 }, () => c.uint32()),
  );
  assert.notDeepEqual(
    Array.from({ length: 5 }, () => new Random("0").uint32()),
    Array.from({ length: 5 }, () => new Random(0).uint32()),
  );
  // Large and negative seeds are distinct.
  assert.notEqual(new Random(2 ** 40).uint32(), new Random(0).uint32());
  assert.notEqual(new Random(-1).uint32(), new Random(1).uint32());
  assert.throws(() => new Random(1.5), /safe integer/);
});

test("fork depends on the label and the parent key, not on draws made", () => {
  const root = new Random(7);
  const f1 = root.fork("sample:3").uint32();
  root.uint32();
  root.float();
  assert.equal(root.fork("sample:3").uint32(), f1);
  assert.notEqual(root.fork("sample:4").uint32(), f1);
  assert.notEqual(new Random(8).fork("sample:3").uint32(), f1);
  assert.equal(new Random(7).fork("a").fork("b").uint32(), new Random(7).fork("a").fork("b").uint32());
  assert.notEqual(new Random(7).fork("a").fork("b").uint32(), new Random(7).fork("b").fork("a").uint32());
});

test("float, int, intBetween, normal have the right ranges and moments", () => {
  const r = new Random(123);
  const n = 20000;
  let sum = 0;
  const counts = new Array<number>(5).fill(0);
  let nsum = 0;
  let nsq = 0;
  for (let i = 0; i < n; i++) {
    const f = r.float();
    assert.ok(f >= 0 && f < 1);
    sum += f;
    const k = r.int(5);
    counts[k] = counts[k]! + 1;
    const m = r.intBetween(-2, 2);
    assert.ok(m >= -2 && m <= 2 && Number.isInteger(m));
    const g = r.normal(1, 2);
    nsum += g;
    nsq += (g - 1) ** 2;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.01, `mean of float() ${sum / n}`);
  for (const c of counts) assert.ok(Math.abs(c / n - 0.2) < 0.015, `int(5) counts ${counts.join(",")}`);
  assert.ok(Math.abs(nsum / n - 1) < 0.05, `normal mean ${nsum / n}`);
  assert.ok(Math.abs(Math.sqrt(nsq / n) - 2) < 0.05, `normal std ${Math.sqrt(nsq / n)}`);
  assert.throws(() => r.int(0), /n must be/);
  assert.equal(r.int(1), 0);
});

test("shuffle is a permutation, choice picks members", () => {
  const r = new Random(5);
  const items = Array.from({ length: 50 }, (_, i) => i);
  const shuffled = r.shuffle(items.slice());
  assert.deepEqual(
    shuffled.slice().sort((a, b) => a - b),
    items,
  );
  assert.notDeepEqual(shuffled, items);
  for (let i = 0; i < 100; i++) assert.ok(["a", "b", "c"].includes(r.choice(["a", "b", "c"])));
  assert.throws(() => r.choice([]), /empty/);
});

test("hash32 and hashUnit are stable and spread", () => {
  assert.equal(hash32("piano/0001.wav", 0), hash32("piano/0001.wav", 0));
  assert.notEqual(hash32("piano/0001.wav", 0), hash32("piano/0001.wav", 1));
  assert.notEqual(hash32("piano/0001.wav"), hash32("piano/0002.wav"));
  let below = 0;
  for (let i = 0; i < 10000; i++) if (hashUnit(`clip${i}`, 3) < 0.2) below++;
  assert.ok(Math.abs(below / 10000 - 0.2) < 0.02, `hashUnit fraction ${below / 10000}`);
});
