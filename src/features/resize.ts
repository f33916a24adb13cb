/**
 * Bilinear resizing that matches `skimage.transform.resize(image, shape, order=1, mode="reflect",
 * anti_aliasing=False)` (skimage 0.19: scipy.ndimage.zoom with grid_mode=True, i.e. half-pixel
 * centres, and ndimage mode "mirror": index −1 reads index 1, index n reads n − 2).
 */

/** Per-output-index interpolation taps along one axis. */
export interface LinearTaps {
  i0: Int32Array;
  i1: Int32Array;
  w0: Float64Array;
  w1: Float64Array;
}

function mirror(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n - 2;
  let j = i % period;
  if (j < 0) j += period;
  return j < n ? j : period - j;
}

/**
 * Linear-interpolation taps for resampling an axis of `inSize` samples to `outSize`:
 * output j reads input position x = (j + 0.5) · inSize / outSize − 0.5, i.e.
 * out[j] = w0[j] · in[i0[j]] + w1[j] · in[i1[j]].
 */
export function linearTaps(inSize: number, outSize: number): LinearTaps {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w0 = new Float64Array(outSize);
  const w1 = new Float64Array(outSize);
  const zoom = inSize / outSize;
  for (let j = 0; j < outSize; j++) {
    const x = (j + 0.5) * zoom - 0.5;
    const f = Math.floor(x);
    const frac = x - f;
    i0[j] = mirror(f, inSize);
    i1[j] = mirror(f + 1, inSize);
    w0[j] = 1 - frac;
    w1[j] = frac;
  }
  return { i0, i1, w0, w1 };
}

/**
 * Resizes a row-major [rows, cols] image to [outRows, outCols] by bilinear interpolation with
 * half-pixel centres and mirror edges (skimage resize, order 1, mode "reflect", no anti-aliasing —
 * skimage only anti-aliases when shrinking, so this matches skimage exactly when enlarging).
 * @returns a new Float32Array [outRows, outCols]
 */
export function resizeBilinear(
  image: Float32Array,
  rows: number,
  cols: number,
  outRows: number,
  outCols: number,
): Float32Array {
  const rt = linearTaps(rows, outRows);
  const ct = linearTaps(cols, outCols);
  const tmp = new Float64Array(rows * outCols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < outCols; j++) {
      tmp[r * outCols + j] =
        (ct.w0[j] as number) * (image[r * cols + (ct.i0[j] as number)] as number) +
        (ct.w1[j] as number) * (image[r * cols + (ct.i1[j] as number)] as number);
    }
  }
  const out = new Float32Array(outRows * outCols);
  for (let i = 0; i < outRows; i++) {
    const a = (rt.i0[i] as number) * outCols;
    const b = (rt.i1[i] as number) * outCols;
    const wa = rt.w0[i] as number;
    const wb = rt.w1[i] as number;
    for (let j = 0; j < outCols; j++)
      out[i * outCols + j] = wa * (tmp[a + j] as number) + wb * (tmp[b + j] as number);
  }
  return out;
}
