#!/usr/bin/python3
"""Golden arrays for stemscope's `seed` feature pipeline (test/features.test.ts).

Run with Debian's interpreter (numpy, scipy, python3-skimage; librosa is not installed):

    /usr/bin/python3 scripts/golden/features.py  # writes test/golden/features_seed.json

librosa 0.10's formulas are re-implemented here in numpy, step by step, with librosa's dtypes
(float32 audio -> complex64 STFT -> float32 power, mel and dB), citing the librosa source each step
follows. skimage's own `resize` does the final resize, exactly as the seed does.

The test clips are generated from formulas the TypeScript test repeats: sines and a chirp computed in
float64 and cast to float32, and noise from a 32-bit LCG (state = 1664525 * state + 1013904223 mod 2^32,
value = state / 2^32 * 2 - 1), so no audio needs to be stored. Outputs are stored as base64 of
little-endian float32 (exact float32 values, smaller than decimal text).
"""
import base64
import json
import os
import sys

import numpy as np
import scipy
import scipy.signal
import skimage
from skimage.transform import resize

SR = 16000
SECONDS = 2
N_FFT = 2048
HOP = 512
N_MELS = 128
FMIN = 0.0
FMAX = 8000.0
TOP_DB = 80.0
AMIN = 1e-10
SIZE = 128


# ---- test signals (mirrored in test/features.test.ts) ----------------------------------------
def lcg_noise(n, seed):
    out = np.empty(n, dtype=np.float64)
    state = seed & 0xFFFFFFFF
    for i in range(n):
        state = (1664525 * state + 1013904223) & 0xFFFFFFFF
        out[i] = state / 2**32 * 2 - 1
    return out


def signals():
    n = SR * SECONDS
    t = np.arange(n, dtype=np.float64) / SR
    sine = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    f0, f1 = 100.0, 7000.0
    chirp = 0.8 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * SECONDS)))
    chord = 0.3 * (np.sin(2 * np.pi * 261.63 * t) + np.sin(2 * np.pi * 329.63 * t) + np.sin(2 * np.pi * 392.0 * t))
    chord = chord + 0.05 * lcg_noise(n, 12345)
    m = 20000  # 1.25 s: exercises fix_length's zero padding
    tm = np.arange(m, dtype=np.float64) / SR
    burst = 0.5 * np.exp(-3.0 * tm) * lcg_noise(m, 777)
    return [
        ("sine440", sine.astype(np.float32)),
        ("chirp100to7000", chirp.astype(np.float32)),
        ("chord_plus_noise", chord.astype(np.float32)),
        ("short_noise_burst", burst.astype(np.float32)),
    ]


# ---- librosa 0.10 re-implementation ----------------------------------------------------------
def fix_length(y, size):
    # librosa.util.fix_length(data, size=size): np.pad(..., mode="constant") at the end, or slice.
    if len(y) > size:
        return y[:size]
    return np.pad(y, (0, size - len(y)), mode="constant")


def hz_to_mel(f):
    # librosa.core.convert.hz_to_mel, htk=False (Slaney)
    f = np.asanyarray(f, dtype=np.float64)
    f_min, f_sp = 0.0, 200.0 / 3
    mels = (f - f_min) / f_sp
    min_log_hz = 1000.0
    min_log_mel = (min_log_hz - f_min) / f_sp
    logstep = np.log(6.4) / 27.0
    if f.ndim:
        log_t = f >= min_log_hz
        mels[log_t] = min_log_mel + np.log(f[log_t] / min_log_hz) / logstep
    elif f >= min_log_hz:
        mels = min_log_mel + np.log(f / min_log_hz) / logstep
    return mels


def mel_to_hz(mels):
    # librosa.core.convert.mel_to_hz, htk=False
    mels = np.asanyarray(mels, dtype=np.float64)
    f_min, f_sp = 0.0, 200.0 / 3
    freqs = f_min + f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = (min_log_hz - f_min) / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(logstep * (mels[log_t] - min_log_mel))
    return freqs


def mel_filters(sr, n_fft, n_mels, fmin, fmax):
    # librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False,
    #                     norm="slaney", dtype=np.float32)
    weights = np.zeros((n_mels, int(1 + n_fft // 2)), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)  # librosa.fft_frequencies
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))  # librosa.mel_frequencies
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    return weights


def stft(y, n_fft, hop_length):
    # librosa.stft(y, n_fft, hop_length, window="hann", center=True, pad_mode="constant"):
    # the window is scipy's periodic Hann (float64); frames are padded by n_fft // 2 zeros at both
    # ends (0.10 pads only the edge blocks, which gives the same numbers); np.fft.rfft runs in
    # float64 and the result is stored in a complex64 matrix (util.dtype_r2c(float32)).
    window = scipy.signal.get_window("hann", n_fft, fftbins=True)
    yp = np.pad(y, n_fft // 2, mode="constant")
    n_frames = 1 + (len(yp) - n_fft) // hop_length
    frames = np.lib.stride_tricks.as_strided(
        yp, shape=(n_fft, n_frames), strides=(yp.strides[0], yp.strides[0] * hop_length), writeable=False
    )
    return np.fft.rfft(window[:, None] * frames, axis=0).astype(np.complex64)


def melspectrogram(y):
    # librosa.feature.melspectrogram: S = np.abs(stft)**2 (float32), then
    # np.einsum("...ft,mf->...mt", S, mel_basis, optimize=True)
    S = np.abs(stft(y, N_FFT, HOP)) ** 2
    mel_basis = mel_filters(SR, N_FFT, N_MELS, FMIN, FMAX)
    return np.einsum("...ft,mf->...mt", S, mel_basis, optimize=True)


def power_to_db(S, amin=AMIN, top_db=TOP_DB):
    # librosa.power_to_db(S, ref=np.max, amin=1e-10, top_db=80.0)
    magnitude = S
    ref_value = np.max(magnitude)
    log_spec = 10.0 * np.log10(np.maximum(amin, magnitude))
    log_spec -= 10.0 * np.log10(np.maximum(amin, ref_value))
    log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec


def seed_features(y):
    y = fix_length(y, SR * SECONDS)
    mel = power_to_db(melspectrogram(y))
    lo, hi = mel.min(), mel.max()
    mel = (mel - lo) / (hi - lo) if hi > lo else np.zeros_like(mel)
    return resize(mel, (SIZE, SIZE)), y  # skimage: order=1, mode="reflect", no anti-aliasing when enlarging


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out_path = os.path.join(root, "test", "golden", "features_seed.json")
    clips = []
    for name, y in signals():
        feats, yfix = seed_features(y)
        assert feats.shape == (SIZE, SIZE), feats.shape
        entry = {"name": name, "length": int(len(y)), "shape": list(feats.shape), "features": b64(feats)}
        if name == "chord_plus_noise":
            mel = melspectrogram(yfix)
            entry["melPowerShape"] = list(mel.shape)
            entry["melPower"] = b64(mel)
        clips.append(entry)
    doc = {
        "about": "seed features of generated clips; see scripts/golden/features.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "skimage": skimage.__version__, "python": sys.version.split()[0]},
        "config": {"sampleRate": SR, "seconds": SECONDS, "nFft": N_FFT, "hopLength": HOP, "nMels": N_MELS, "fmin": FMIN, "fmax": FMAX, "topDb": TOP_DB, "size": SIZE},
        "encoding": "base64 of little-endian float32, row-major",
        "clips": clips,
    }
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")


if __name__ == "__main__":
    main()
