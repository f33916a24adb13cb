#!/usr/bin/python3
"""numpy/scipy/skimage baseline for bench/features.ts: the seed feature pipeline on the same clips.

Run by bench/features.ts with Debian's /usr/bin/python3. Prints one JSON line with clips/s for
  - perClip: the seed's own loop, one clip at a time (librosa 0.10's math in numpy, as in
    scripts/golden/features.py, and skimage.transform.resize), and
  - batched: the same math vectorised over the whole batch (one rfft, one einsum), resize per clip.
Writes the features of the first clips to --out (.npy) so the TypeScript side can compare values.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "golden"))
import features as golden  # noqa: E402  (scripts/golden/features.py)
from skimage.transform import resize  # noqa: E402


def make_clips(count, n=32000, sr=16000):
    """Same clips as bench/features.ts: a chord whose pitch depends on the clip index, plus LCG noise."""
    t = np.arange(n, dtype=np.float64) / sr
    noise = golden.lcg_noise(n, 2024)
    clips = np.empty((count, n), dtype=np.float32)
    for b in range(count):
        f = 110.0 * (1 + (b % 24) / 12)
        clips[b] = (0.3 * np.sin(2 * np.pi * f * t) + 0.2 * np.sin(2 * np.pi * 2.5 * f * t) + 0.05 * noise).astype(np.float32)
    return clips


def per_clip(clips):
    return np.stack([golden.seed_features(y)[0] for y in clips])


def batched(clips):
    window = golden.scipy.signal.get_window("hann", golden.N_FFT, fftbins=True)
    mel_basis = golden.mel_filters(golden.SR, golden.N_FFT, golden.N_MELS, golden.FMIN, golden.FMAX)
    yp = np.pad(clips, ((0, 0), (golden.N_FFT // 2, golden.N_FFT // 2)), mode="constant")
    n_frames = 1 + (yp.shape[1] - golden.N_FFT) // golden.HOP
    frames = np.lib.stride_tricks.as_strided(
        yp,
        shape=(yp.shape[0], golden.N_FFT, n_frames),
        strides=(yp.strides[0], yp.strides[1], yp.strides[1] * golden.HOP),
        writeable=False,
    )
    S = np.abs(np.fft.rfft(window[None, :, None] * frames, axis=1).astype(np.complex64)) ** 2
    mel = np.einsum("bft,mf->bmt", S, mel_basis, optimize=True)
    ref = mel.max(axis=(1, 2), keepdims=True)
    db = 10.0 * np.log10(np.maximum(golden.AMIN, mel)) - 10.0 * np.log10(np.maximum(golden.AMIN, ref))
    db = np.maximum(db, db.max(axis=(1, 2), keepdims=True) - golden.TOP_DB)
    lo = db.min(axis=(1, 2), keepdims=True)
    hi = db.max(axis=(1, 2), keepdims=True)
    norm = np.where(hi > lo, (db - lo) / np.where(hi > lo, hi - lo, 1), 0).astype(np.float32)
    return np.stack([resize(m, (golden.SIZE, golden.SIZE)) for m in norm])


def best_rate(fn, clips, repeats):
    """Best wall-clock rate of `repeats` runs, and the process CPU ms per clip (all threads)."""
    best = float("inf")
    cpu = float("inf")
    out = None
    for _ in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        out = fn(clips)
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return len(clips) / best, 1000 * cpu / len(clips), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    ap.add_argument("--save", type=int, default=8)
    args = ap.parse_args()
    clips = make_clips(args.clips)
    per_rate, per_cpu, per_out = best_rate(per_clip, clips, args.repeats)
    batch_rate, batch_cpu, batch_out = best_rate(batched, clips, args.repeats)
    if args.out:
        np.save(args.out, per_out[: args.save].astype(np.float32))
    print(json.dumps({
        "perClipClipsPerSecond": per_rate,
        "perClipCpuMsPerClip": round(per_cpu, 3),
        "batchedClipsPerSecond": batch_rate,
        "batchedCpuMsPerClip": round(batch_cpu, 3),
        "batchedVsPerClipMaxAbsDiff": float(np.max(np.abs(per_out - batch_out))),
        "numpy": np.__version__,
        "blasThreads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    }))


if __name__ == "__main__":
    main()
