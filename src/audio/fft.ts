/**
 * A mixed-radix complex FFT for sizes 2^a · 3^b · 5^c · 7^d (double precision, split real and
 * imaginary Float64Arrays), for the resampler's block transforms: a 44.1 → 16 kHz block is
 * 441·K input points and 160·K output points, so a power-of-two FFT does not fit. Self-sorting
 * Stockham decimation in frequency (no bit reversal), with explicit radix-8, 4, 2, 3, 5 and 7 butterflies
 * and per-stage twiddle tables. Follows the formulation of OTFFT's Stockham FFT (each stage reads
 * x[q + s(p + k·m)] and writes y[q + s(r·p + j)]), generalised from radix 2 to radix r.
 */
import { AudioError } from "./errors.js";

const RADICES = [8, 4, 2, 3, 5, 7] as const;

/** The radices {@link MixedRadixFft} uses for n, or undefined when n has a prime factor above 7. */
export function fftRadices(n: number): number[] | undefined {
  if (!Number.isInteger(n) || n < 1) return undefined;
  const out: number[] = [];
  let rest = n;
  while (rest % 8 === 0) {
    out.push(8);
    rest /= 8;
  }
  for (const r of [4, 2, 3, 5, 7]) {
    while (rest % r === 0) {
      out.push(r);
      rest /= r;
    }
  }
  return rest === 1 ? out : undefined;
}

interface Stage {
  radix: (typeof RADICES)[number];
  /** Butterflies per stride group (n_stage / radix). */
  m: number;
  /** Stride (product of the radices of earlier stages). */
  s: number;
  /** Twiddles w^j, w = e^{-2πi p / n_stage}, interleaved [re, im] for j = 1…radix−1, p = 0…m−1. */
  tw: Float64Array;
}

/** Forward complex DFT X[k] = Σ_j x[j] e^{-2πijk/n} of a fixed size n = 2^a·3^b·5^c·7^d. */
export class MixedRadixFft {
  readonly n: number;
  private readonly stages: Stage[];
  private readonly scratchRe: Float64Array;
  private readonly scratchIm: Float64Array;

  constructor(n: number) {
    const radices = fftRadices(n);
    if (radices === undefined) {
      throw new AudioError(`MixedRadixFft: size must be 2^a·3^b·5^c·7^d, got ${n}`);
    }
    this.n = n;
    this.stages = [];
    let nStage = n;
    let s = 1;
    for (const radix of radices as Stage["radix"][]) {
      const m = nStage / radix;
      const tw = new Float64Array(m * (radix - 1) * 2);
      for (let p = 0; p < m; p++) {
        for (let j = 1; j < radix; j++) {
          const angle = (-2 * Math.PI * j * p) / nStage;
          tw[(p * (radix - 1) + j - 1) * 2] = Math.cos(angle);
          tw[(p * (radix - 1) + j - 1) * 2 + 1] = Math.sin(angle);
        }
      }
      this.stages.push({ radix, m, s, tw });
      nStage = m;
      s *= radix;
    }
    this.scratchRe = new Float64Array(n);
    this.scratchIm = new Float64Array(n);
  }

  /**
   * Writes the transform of (inRe, inIm) to (outRe, outIm); all of length n. The input is left
   * unchanged, and must not be the output.
   */
  transform(inRe: Float64Array, inIm: Float64Array, outRe: Float64Array, outIm: Float64Array): void {
    const stages = this.stages;
    if (stages.length === 0) {
      outRe.set(inRe);
      outIm.set(inIm);
      return;
    }
    // Ping-pong so that the last stage lands in the output: stage i writes to `out` when
    // (stages − i) is even, to the scratch buffer otherwise.
    let xr = inRe;
    let xi = inIm;
    for (let i = 0; i < stages.length; i++) {
      const st = stages[i]!;
      const toOut = (stages.length - 1 - i) % 2 === 0;
      const yr = toOut ? outRe : this.scratchRe;
      const yi = toOut ? outIm : this.scratchIm;
      switch (st.radix) {
        case 8:
          radix8(xr, xi, yr, yi, st.m, st.s, st.tw);
          break;
        case 4:
          radix4(xr, xi, yr, yi, st.m, st.s, st.tw);
          break;
        case 2:
          radix2(xr, xi, yr, yi, st.m, st.s, st.tw);
          break;
        case 3:
          radix3(xr, xi, yr, yi, st.m, st.s, st.tw);
          break;
        case 5:
          radix5(xr, xi, yr, yi, st.m, st.s, st.tw);
          break;
        case 7:
          radix7(xr, xi, yr, yi, st.m, st.s, st.tw);
          break;
      }
      xr = yr;
      xi = yi;
    }
  }
}

const SQRT1_2 = Math.SQRT1_2;

function radix8(
  xr: Float64Array,
  xi: Float64Array,
  yr: Float64Array,
  yi: Float64Array,
  m: number,
  s: number,
  tw: Float64Array,
): void {
  for (let p = 0; p < m; p++) {
    const t = 14 * p;
    const w1r = tw[t]!;
    const w1i = tw[t + 1]!;
    const w2r = tw[t + 2]!;
    const w2i = tw[t + 3]!;
    const w3r = tw[t + 4]!;
    const w3i = tw[t + 5]!;
    const w4r = tw[t + 6]!;
    const w4i = tw[t + 7]!;
    const w5r = tw[t + 8]!;
    const w5i = tw[t + 9]!;
    const w6r = tw[t + 10]!;
    const w6i = tw[t + 11]!;
    const w7r = tw[t + 12]!;
    const w7i = tw[t + 13]!;
    const i0 = s * p;
    const sm = s * m;
    const o0 = s * 8 * p;
    for (let q = 0; q < s; q++) {
      const i = i0 + q;
      const a0r = xr[i]!;
      const a0i = xi[i]!;
      const a1r = xr[i + sm]!;
      const a1i = xi[i + sm]!;
      const a2r = xr[i + 2 * sm]!;
      const a2i = xi[i + 2 * sm]!;
      const a3r = xr[i + 3 * sm]!;
      const a3i = xi[i + 3 * sm]!;
      const a4r = xr[i + 4 * sm]!;
      const a4i = xi[i + 4 * sm]!;
      const a5r = xr[i + 5 * sm]!;
      const a5i = xi[i + 5 * sm]!;
      const a6r = xr[i + 6 * sm]!;
      const a6i = xi[i + 6 * sm]!;
      const a7r = xr[i + 7 * sm]!;
      const a7i = xi[i + 7 * sm]!;
      // b_k = a_k + a_{k+4} → even outputs; c_k = (a_k − a_{k+4})·e^{−iπk/4} → odd outputs
      const b0r = a0r + a4r;
      const b0i = a0i + a4i;
      const b1r = a1r + a5r;
      const b1i = a1i + a5i;
      const b2r = a2r + a6r;
      const b2i = a2i + a6i;
      const b3r = a3r + a7r;
      const b3i = a3i + a7i;
      const c0r = a0r - a4r;
      const c0i = a0i - a4i;
      const d1r = a1r - a5r;
      const d1i = a1i - a5i;
      const c1r = SQRT1_2 * (d1r + d1i); // ·(1 − i)/√2
      const c1i = SQRT1_2 * (d1i - d1r);
      const c2r = a2i - a6i; // ·(−i)
      const c2i = a6r - a2r;
      const d3r = a3r - a7r;
      const d3i = a3i - a7i;
      const c3r = SQRT1_2 * (d3i - d3r); // ·(−1 − i)/√2
      const c3i = -SQRT1_2 * (d3r + d3i);
      // DFT4(u) = [u0+u1+u2+u3, u0−i·u1−u2+i·u3, u0−u1+u2−u3, u0+i·u1−u2−i·u3]
      const e0r = b0r + b2r;
      const e0i = b0i + b2i;
      const e1r = b0r - b2r;
      const e1i = b0i - b2i;
      const e2r = b1r + b3r;
      const e2i = b1i + b3i;
      const e3r = b1i - b3i; // −i·(b1 − b3)
      const e3i = b3r - b1r;
      const f0r = c0r + c2r;
      const f0i = c0i + c2i;
      const f1r = c0r - c2r;
      const f1i = c0i - c2i;
      const f2r = c1r + c3r;
      const f2i = c1i + c3i;
      const f3r = c1i - c3i; // −i·(c1 − c3)
      const f3i = c3r - c1r;
      yr[o0 + q] = e0r + e2r;
      yi[o0 + q] = e0i + e2i;
      const y1r = f0r + f2r;
      const y1i = f0i + f2i;
      const y2r = e1r + e3r;
      const y2i = e1i + e3i;
      const y3r = f1r + f3r;
      const y3i = f1i + f3i;
      const y4r = e0r - e2r;
      const y4i = e0i - e2i;
      const y5r = f0r - f2r;
      const y5i = f0i - f2i;
      const y6r = e1r - e3r;
      const y6i = e1i - e3i;
      const y7r = f1r - f3r;
      const y7i = f1i - f3i;
      const o = o0 + q;
      yr[o + s] = y1r * w1r - y1i * w1i;
      yi[o + s] = y1r * w1i + y1i * w1r;
      yr[o + 2 * s] = y2r * w2r - y2i * w2i;
      yi[o + 2 * s] = y2r * w2i + y2i * w2r;
      yr[o + 3 * s] = y3r * w3r - y3i * w3i;
      yi[o + 3 * s] = y3r * w3i + y3i * w3r;
      yr[o + 4 * s] = y4r * w4r - y4i * w4i;
      yi[o + 4 * s] = y4r * w4i + y4i * w4r;
      yr[o + 5 * s] = y5r * w5r - y5i * w5i;
      yi[o + 5 * s] = y5r * w5i + y5i * w5r;
      yr[o + 6 * s] = y6r * w6r - y6i * w6i;
      yi[o + 6 * s] = y6r * w6i + y6i * w6r;
      yr[o + 7 * s] = y7r * w7r - y7i * w7i;
      yi[o + 7 * s] = y7r * w7i + y7i * w7r;
    }
  }
}

function radix2(
  xr: Float64Array,
  xi: Float64Array,
  yr: Float64Array,
  yi: Float64Array,
  m: number,
  s: number,
  tw: Float64Array,
): void {
  for (let p = 0; p < m; p++) {
    const w1r = tw[2 * p]!;
    const w1i = tw[2 * p + 1]!;
    const i0 = s * p;
    const i1 = s * (p + m);
    const o0 = s * 2 * p;
    const o1 = o0 + s;
    for (let q = 0; q < s; q++) {
      const ar = xr[i0 + q]!;
      const ai = xi[i0 + q]!;
      const br = xr[i1 + q]!;
      const bi = xi[i1 + q]!;
      yr[o0 + q] = ar + br;
      yi[o0 + q] = ai + bi;
      const dr = ar - br;
      const di = ai - bi;
      yr[o1 + q] = dr * w1r - di * w1i;
      yi[o1 + q] = dr * w1i + di * w1r;
    }
  }
}

function radix4(
  xr: Float64Array,
  xi: Float64Array,
  yr: Float64Array,
  yi: Float64Array,
  m: number,
  s: number,
  tw: Float64Array,
): void {
  for (let p = 0; p < m; p++) {
    const t = 6 * p;
    const w1r = tw[t]!;
    const w1i = tw[t + 1]!;
    const w2r = tw[t + 2]!;
    const w2i = tw[t + 3]!;
    const w3r = tw[t + 4]!;
    const w3i = tw[t + 5]!;
    const i0 = s * p;
    const i1 = s * (p + m);
    const i2 = s * (p + 2 * m);
    const i3 = s * (p + 3 * m);
    const o0 = s * 4 * p;
    const o1 = o0 + s;
    const o2 = o1 + s;
    const o3 = o2 + s;
    for (let q = 0; q < s; q++) {
      const a0r = xr[i0 + q]!;
      const a0i = xi[i0 + q]!;
      const a1r = xr[i1 + q]!;
      const a1i = xi[i1 + q]!;
      const a2r = xr[i2 + q]!;
      const a2i = xi[i2 + q]!;
      const a3r = xr[i3 + q]!;
      const a3i = xi[i3 + q]!;
      const t0r = a0r + a2r;
      const t0i = a0i + a2i;
      const t1r = a0r - a2r;
      const t1i = a0i - a2i;
      const t2r = a1r + a3r;
      const t2i = a1i + a3i;
      // −i·(a1 − a3)
      const t3r = a1i - a3i;
      const t3i = a3r - a1r;
      yr[o0 + q] = t0r + t2r;
      yi[o0 + q] = t0i + t2i;
      const y1r = t1r + t3r;
      const y1i = t1i + t3i;
      const y2r = t0r - t2r;
      const y2i = t0i - t2i;
      const y3r = t1r - t3r;
      const y3i = t1i - t3i;
      yr[o1 + q] = y1r * w1r - y1i * w1i;
      yi[o1 + q] = y1r * w1i + y1i * w1r;
      yr[o2 + q] = y2r * w2r - y2i * w2i;
      yi[o2 + q] = y2r * w2i + y2i * w2r;
      yr[o3 + q] = y3r * w3r - y3i * w3i;
      yi[o3 + q] = y3r * w3i + y3i * w3r;
    }
  }
}

const S3 = Math.sin((2 * Math.PI) / 3);

function radix3(
  xr: Float64Array,
  xi: Float64Array,
  yr: Float64Array,
  yi: Float64Array,
  m: number,
  s: number,
  tw: Float64Array,
): void {
  for (let p = 0; p < m; p++) {
    const t = 4 * p;
    const w1r = tw[t]!;
    const w1i = tw[t + 1]!;
    const w2r = tw[t + 2]!;
    const w2i = tw[t + 3]!;
    const i0 = s * p;
    const i1 = s * (p + m);
    const i2 = s * (p + 2 * m);
    const o0 = s * 3 * p;
    const o1 = o0 + s;
    const o2 = o1 + s;
    for (let q = 0; q < s; q++) {
      const a0r = xr[i0 + q]!;
      const a0i = xi[i0 + q]!;
      const a1r = xr[i1 + q]!;
      const a1i = xi[i1 + q]!;
      const a2r = xr[i2 + q]!;
      const a2i = xi[i2 + q]!;
      const sr = a1r + a2r;
      const si = a1i + a2i;
      yr[o0 + q] = a0r + sr;
      yi[o0 + q] = a0i + si;
      const ur = a0r - 0.5 * sr;
      const ui = a0i - 0.5 * si;
      // −i·sin(2π/3)·(a1 − a2)
      const vr = S3 * (a1i - a2i);
      const vi = S3 * (a2r - a1r);
      const y1r = ur + vr;
      const y1i = ui + vi;
      const y2r = ur - vr;
      const y2i = ui - vi;
      yr[o1 + q] = y1r * w1r - y1i * w1i;
      yi[o1 + q] = y1r * w1i + y1i * w1r;
      yr[o2 + q] = y2r * w2r - y2i * w2i;
      yi[o2 + q] = y2r * w2i + y2i * w2r;
    }
  }
}

const C51 = Math.cos((2 * Math.PI) / 5);
const C52 = Math.cos((4 * Math.PI) / 5);
const S51 = Math.sin((2 * Math.PI) / 5);
const S52 = Math.sin((4 * Math.PI) / 5);

function radix5(
  xr: Float64Array,
  xi: Float64Array,
  yr: Float64Array,
  yi: Float64Array,
  m: number,
  s: number,
  tw: Float64Array,
): void {
  for (let p = 0; p < m; p++) {
    const t = 8 * p;
    const w1r = tw[t]!;
    const w1i = tw[t + 1]!;
    const w2r = tw[t + 2]!;
    const w2i = tw[t + 3]!;
    const w3r = tw[t + 4]!;
    const w3i = tw[t + 5]!;
    const w4r = tw[t + 6]!;
    const w4i = tw[t + 7]!;
    const i0 = s * p;
    const i1 = s * (p + m);
    const i2 = s * (p + 2 * m);
    const i3 = s * (p + 3 * m);
    const i4 = s * (p + 4 * m);
    const o0 = s * 5 * p;
    const o1 = o0 + s;
    const o2 = o1 + s;
    const o3 = o2 + s;
    const o4 = o3 + s;
    for (let q = 0; q < s; q++) {
      const a0r = xr[i0 + q]!;
      const a0i = xi[i0 + q]!;
      const a1r = xr[i1 + q]!;
      const a1i = xi[i1 + q]!;
      const a2r = xr[i2 + q]!;
      const a2i = xi[i2 + q]!;
      const a3r = xr[i3 + q]!;
      const a3i = xi[i3 + q]!;
      const a4r = xr[i4 + q]!;
      const a4i = xi[i4 + q]!;
      const t1r = a1r + a4r;
      const t1i = a1i + a4i;
      const t2r = a2r + a3r;
      const t2i = a2i + a3i;
      const d1r = a1r - a4r;
      const d1i = a1i - a4i;
      const d2r = a2r - a3r;
      const d2i = a2i - a3i;
      yr[o0 + q] = a0r + t1r + t2r;
      yi[o0 + q] = a0i + t1i + t2i;
      const u1r = a0r + C51 * t1r + C52 * t2r;
      const u1i = a0i + C51 * t1i + C52 * t2i;
      const u2r = a0r + C52 * t1r + C51 * t2r;
      const u2i = a0i + C52 * t1i + C51 * t2i;
      const v1r = S51 * d1r + S52 * d2r;
      const v1i = S51 * d1i + S52 * d2i;
      const v2r = S52 * d1r - S51 * d2r;
      const v2i = S52 * d1i - S51 * d2i;
      // y_j = U_j − i·V_j, y_{5−j} = U_j + i·V_j
      const y1r = u1r + v1i;
      const y1i = u1i - v1r;
      const y4r = u1r - v1i;
      const y4i = u1i + v1r;
      const y2r = u2r + v2i;
      const y2i = u2i - v2r;
      const y3r = u2r - v2i;
      const y3i = u2i + v2r;
      yr[o1 + q] = y1r * w1r - y1i * w1i;
      yi[o1 + q] = y1r * w1i + y1i * w1r;
      yr[o2 + q] = y2r * w2r - y2i * w2i;
      yi[o2 + q] = y2r * w2i + y2i * w2r;
      yr[o3 + q] = y3r * w3r - y3i * w3i;
      yi[o3 + q] = y3r * w3i + y3i * w3r;
      yr[o4 + q] = y4r * w4r - y4i * w4i;
      yi[o4 + q] = y4r * w4i + y4i * w4r;
    }
  }
}

const C71 = Math.cos((2 * Math.PI) / 7);
const C72 = Math.cos((4 * Math.PI) / 7);
const C73 = Math.cos((6 * Math.PI) / 7);
const S71 = Math.sin((2 * Math.PI) / 7);
const S72 = Math.sin((4 * Math.PI) / 7);
const S73 = Math.sin((6 * Math.PI) / 7);

function radix7(
  xr: Float64Array,
  xi: Float64Array,
  yr: Float64Array,
  yi: Float64Array,
  m: number,
  s: number,
  tw: Float64Array,
): void {
  for (let p = 0; p < m; p++) {
    const t = 12 * p;
    const w1r = tw[t]!;
    const w1i = tw[t + 1]!;
    const w2r = tw[t + 2]!;
    const w2i = tw[t + 3]!;
    const w3r = tw[t + 4]!;
    const w3i = tw[t + 5]!;
    const w4r = tw[t + 6]!;
    const w4i = tw[t + 7]!;
    const w5r = tw[t + 8]!;
    const w5i = tw[t + 9]!;
    const w6r = tw[t + 10]!;
    const w6i = tw[t + 11]!;
    const i0 = s * p;
    const i1 = s * (p + m);
    const i2 = s * (p + 2 * m);
    const i3 = s * (p + 3 * m);
    const i4 = s * (p + 4 * m);
    const i5 = s * (p + 5 * m);
    const i6 = s * (p + 6 * m);
    const o0 = s * 7 * p;
    const o1 = o0 + s;
    const o2 = o1 + s;
    const o3 = o2 + s;
    const o4 = o3 + s;
    const o5 = o4 + s;
    const o6 = o5 + s;
    for (let q = 0; q < s; q++) {
      const a0r = xr[i0 + q]!;
      const a0i = xi[i0 + q]!;
      const a1r = xr[i1 + q]!;
      const a1i = xi[i1 + q]!;
      const a2r = xr[i2 + q]!;
      const a2i = xi[i2 + q]!;
      const a3r = xr[i3 + q]!;
      const a3i = xi[i3 + q]!;
      const a4r = xr[i4 + q]!;
      const a4i = xi[i4 + q]!;
      const a5r = xr[i5 + q]!;
      const a5i = xi[i5 + q]!;
      const a6r = xr[i6 + q]!;
      const a6i = xi[i6 + q]!;
      const t1r = a1r + a6r;
      const t1i = a1i + a6i;
      const t2r = a2r + a5r;
      const t2i = a2i + a5i;
      const t3r = a3r + a4r;
      const t3i = a3i + a4i;
      const d1r = a1r - a6r;
      const d1i = a1i - a6i;
      const d2r = a2r - a5r;
      const d2i = a2i - a5i;
      const d3r = a3r - a4r;
      const d3i = a3i - a4i;
      yr[o0 + q] = a0r + t1r + t2r + t3r;
      yi[o0 + q] = a0i + t1i + t2i + t3i;
      // cos(2πjk/7) and sin(2πjk/7) for jk mod 7 ∈ {1…6}: cos(6·2π/7) = C71, sin(4·2π/7) = −S73, …
      const u1r = a0r + C71 * t1r + C72 * t2r + C73 * t3r;
      const u1i = a0i + C71 * t1i + C72 * t2i + C73 * t3i;
      const u2r = a0r + C72 * t1r + C73 * t2r + C71 * t3r;
      const u2i = a0i + C72 * t1i + C73 * t2i + C71 * t3i;
      const u3r = a0r + C73 * t1r + C71 * t2r + C72 * t3r;
      const u3i = a0i + C73 * t1i + C71 * t2i + C72 * t3i;
      const v1r = S71 * d1r + S72 * d2r + S73 * d3r;
      const v1i = S71 * d1i + S72 * d2i + S73 * d3i;
      const v2r = S72 * d1r - S73 * d2r - S71 * d3r;
      const v2i = S72 * d1i - S73 * d2i - S71 * d3i;
      const v3r = S73 * d1r - S71 * d2r + S72 * d3r;
      const v3i = S73 * d1i - S71 * d2i + S72 * d3i;
      const y1r = u1r + v1i;
      const y1i = u1i - v1r;
      const y6r = u1r - v1i;
      const y6i = u1i + v1r;
      const y2r = u2r + v2i;
      const y2i = u2i - v2r;
      const y5r = u2r - v2i;
      const y5i = u2i + v2r;
      const y3r = u3r + v3i;
      const y3i = u3i - v3r;
      const y4r = u3r - v3i;
      const y4i = u3i + v3r;
      yr[o1 + q] = y1r * w1r - y1i * w1i;
      yi[o1 + q] = y1r * w1i + y1i * w1r;
      yr[o2 + q] = y2r * w2r - y2i * w2i;
      yi[o2 + q] = y2r * w2i + y2i * w2r;
      yr[o3 + q] = y3r * w3r - y3i * w3i;
      yi[o3 + q] = y3r * w3i + y3i * w3r;
      yr[o4 + q] = y4r * w4r - y4i * w4i;
      yi[o4 + q] = y4r * w4i + y4i * w4r;
      yr[o5 + q] = y5r * w5r - y5i * w5i;
      yi[o5 + q] = y5r * w5i + y5i * w5r;
      yr[o6 + q] = y6r * w6r - y6i * w6i;
      yi[o6 + q] = y6r * w6i + y6i * w6r;
    }
  }
}
