/**
 * Seeded pseudo-random numbers that give the same sequence on every machine and Node version.
 *
 * The generator is xoshiro128** (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c):
 * 128 bits of state, 32-bit outputs, period 2^128 − 1, all in 32-bit integer arithmetic
 * (`Math.imul`, `>>>`), so results never depend on floating-point rounding. The state is seeded
 * from a key through splitmix32, and every stream has a *key* as well as a state:
 *
 * - `new Random(seed)` starts the root stream of `seed` (an integer or a string);
 * - `rng.fork(label)` returns an independent stream whose key is derived from this stream's key
 *   and `label` only, never from how many numbers were drawn. So `rng.fork("sample:17")` gives the
 *   same numbers whether samples 0–16 were generated before, in another thread, or not at all.
 *   That is what makes parallel work reproducible: fork one stream per unit of work.
 *
 * ```ts
 * const root = new Random(0);
 * const r = root.fork("pair:piano,violin").fork("sample:3");
 * r.float(); // [0, 1)
 * r.int(10); // 0..9, unbiased
 * ```
 */

/** Golden-ratio increment of splitmix32. */
const GOLDEN = 0x9e3779b9;

/** splitmix32's output function: a strong 32-bit mixer (bijective on uint32). */
function mix32(value: number): number {
  let z = value >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/**
 * A 32-bit hash of `text` (UTF-16 code units), keyed by `seed`: murmur3-style mixing of each code
 * unit and a splitmix32 finaliser. Stable across platforms; not cryptographic.
 * @returns an unsigned 32-bit integer.
 */
export function hash32(text: string, seed = 0): number {
  let h = mix32((seed >>> 0) ^ 0x6a09e667) ^ text.length;
  for (let i = 0; i < text.length; i++) {
    let k = Math.imul(text.charCodeAt(i), 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) >>> 0;
  }
  return mix32(h);
}

/**
 * `hash32` scaled to a number in [0, 1): a stable pseudo-random "coin" for a name, e.g. to assign a
 * file to train or test by its name and a seed.
 */
export function hashUnit(text: string, seed = 0): number {
  return hash32(text, seed) / 4294967296;
}

/** Turns a seed (integer or string) into a 4-word key. Integers use all 53 bits. */
function keyFromSeed(seed: number | string): Uint32Array {
  let lo: number;
  let hi: number;
  if (typeof seed === "number") {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`Random: the seed must be a safe integer or a string, got ${seed}`);
    }
    const negative = seed < 0;
    const magnitude = Math.abs(seed);
    lo = magnitude >>> 0;
    hi = (Math.floor(magnitude / 4294967296) >>> 0) ^ (negative ? 0x80000000 : 0);
  } else {
    lo = hash32(seed, 0x5eed);
    hi = hash32(seed, 0x5eed + 1) ^ 0x40000000; // keeps string seeds apart from integer seeds
  }
  const key = new Uint32Array(4);
  let s = (lo ^ mix32(hi)) >>> 0;
  for (let i = 0; i < 4; i++) {
    s = (s + GOLDEN) >>> 0;
    key[i] = mix32(s ^ Math.imul(i + 1, hi | 1));
  }
  return key;
}

/** A seeded random stream (xoshiro128**). See the module comment for how streams are forked. */
export class Random {
  /** The stream's identity: fixed at construction, used by `fork`. */
  private readonly key: Uint32Array;
  /** xoshiro128** state (never all zero). */
  private readonly s: Uint32Array;

  /**
   * @param seed an integer (any safe integer, e.g. the `--seed` flag) or a string.
   */
  constructor(seed: number | string) {
    this.key = keyFromSeed(seed);
    this.s = Random.stateFromKey(this.key);
  }

  /** Builds a stream directly from a key (used by `fork`). */
  private static fromKey(key: Uint32Array): Random {
    const r = Object.create(Random.prototype) as Random;
    (r as unknown as { key: Uint32Array }).key = key;
    (r as unknown as { s: Uint32Array }).s = Random.stateFromKey(key);
    return r;
  }

  /**
   * A stream that starts from a raw xoshiro128** state (four uint32 words, not all zero), for
   * checking against the reference C implementation. Its forks derive from the state as key.
   */
  static fromState(state: readonly [number, number, number, number]): Random {
    if (state.every((w) => w >>> 0 === 0))
      throw new RangeError("Random.fromState: the state must not be all zero");
    const r = Random.fromKey(Uint32Array.from(state, (w) => w >>> 0));
    r.s.set(state.map((w) => w >>> 0));
    return r;
  }

  private static stateFromKey(key: Uint32Array): Uint32Array {
    const s = new Uint32Array(4);
    let x = (key[0]! ^ key[1]! ^ key[2]! ^ key[3]!) >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + GOLDEN) >>> 0;
      s[i] = (mix32(x) ^ key[i]!) >>> 0;
    }
    if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) s[0] = GOLDEN;
    return s;
  }

  /**
   * An independent stream named `label`, derived from this stream's key (not its position): the
   * same parent and label always give the same child stream, and different labels give unrelated
   * streams.
   */
  fork(label: string | number): Random {
    const text = String(label);
    const key = new Uint32Array(4);
    for (let i = 0; i < 4; i++) {
      key[i] = mix32(hash32(text, this.key[i]!) ^ Math.imul(this.key[(i + 1) & 3]!, GOLDEN));
    }
    return Random.fromKey(key);
  }

  /** The next raw output: an unsigned 32-bit integer, uniform over [0, 2^32). */
  uint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2] = (s[2]! ^ s[0]!) >>> 0;
    s[3] = (s[3]! ^ s[1]!) >>> 0;
    s[1] = (s[1]! ^ s[2]!) >>> 0;
    s[0] = (s[0]! ^ s[3]!) >>> 0;
    s[2] = (s[2]! ^ t) >>> 0;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** A float uniform over [0, 1) with 53 random bits (two draws). */
  float(): number {
    const a = this.uint32() >>> 5; // 27 bits
    const b = this.uint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** A float uniform over [min, max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.float();
  }

  /**
   * An integer uniform over [0, n), without modulo bias (rejection sampling).
   * @param n a positive integer ≤ 2^32.
   */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) {
      throw new RangeError(`Random.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    if (n === 1) return 0;
    const limit = 4294967296 - (4294967296 % n); // largest multiple of n that fits
    for (;;) {
      const x = this.uint32();
      if (x < limit) return x % n;
    }
  }

  /** An integer uniform over [min, max], both ends included. */
  intBetween(min: number, max: number): number {
    if (!Number.isInteger(min) || !Number.isInteger(max) || max < min) {
      throw new RangeError(`Random.intBetween: need integers min ≤ max, got ${min}, ${max}`);
    }
    return min + this.int(max - min + 1);
  }

  /** true with probability `p` (0 ≤ p ≤ 1). */
  bool(p = 0.5): boolean {
    return this.float() < p;
  }

  /**
   * A normal (Gaussian) draw by the Box–Muller transform. Uses two uniforms per call and keeps no
   * spare value, so the stream position after a call is always the same.
   */
  normal(mean = 0, std = 1): number {
    const u1 = 1 - this.float(); // (0, 1], so log is finite
    const u2 = this.float();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** One element of a non-empty array, uniformly. */
  choice<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Random.choice: the array is empty");
    return items[this.int(items.length)]!;
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
