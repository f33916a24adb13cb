#!/usr/bin/python3
"""Golden outputs for stemscope's resampler (test/audio-resample.test.ts).

Run with Debian's interpreter (numpy, scipy):

    /usr/bin/python3 scripts/golden/resample.py  # writes test/golden/resample.json

The filter is resampy's `kaiser_best` design (64 zero crossings, roll-off 0.9475937, Kaiser
beta 14.769656459379492), written here in numpy from its formula: in units of input samples,
h(t) = c * sinc(c * t) * I0(beta * sqrt(1 - (t / T)^2)) / I0(beta) for |t| < T, with c = rolloff *
min(1, to / from) and T = 64 / c. scipy.signal.resample_poly(x, L, M, window=g) then resamples with
the FIR g[n] = h(n / L) / L, n = -L*ceil(T) ... L*ceil(T) (resample_poly multiplies the window by L and
centres it, so output m sits at input time m * M / L, as in stemscope). scipy.signal.freqz of the same
taps gives the filter's frequency response at a few frequencies.

Inputs are noise from a 32-bit LCG (state = 1664525 * state + 1013904223 mod 2^32, value =
state / 2^32 * 2 - 1, cast to float32), which the test regenerates, so no audio is stored. Outputs
are base64 of little-endian float64.
"""
import base64
import json
import math
import os

import numpy as np
import scipy
import scipy.signal

ZERO_CROSSINGS = 64
ROLLOFF = 0.9475937
BETA = 14.769656459379492

# (from Hz, to Hz, input samples, LCG seed)
CASES = [
    (44100, 16000, 4410, 1),
    (48000, 16000, 4800, 2),
    (22050, 16000, 2205, 3),
    (8000, 16000, 800, 4),
    (16000, 44100, 800, 5),
    (11025, 16000, 1103, 6),
]


def lcg_noise(n, seed):
    state = seed
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        state = (1664525 * state + 1013904223) % 2**32
        out[i] = state / 2**32 * 2 - 1
    return out.astype(np.float32)


def fine_taps(from_rate, to_rate):
    g = math.gcd(from_rate, to_rate)
    up, down = to_rate // g, from_rate // g
    c = ROLLOFF * min(1.0, to_rate / from_rate)
    half = ZERO_CROSSINGS / c
    reach = math.ceil(half)
    t = np.arange(-up * reach, up * reach + 1, dtype=np.float64) / up
    r = t / half
    inside = np.abs(r) < 1
    w = np.zeros_like(t)
    w[inside] = np.i0(BETA * np.sqrt(1 - r[inside] ** 2)) / np.i0(BETA)
    h = c * np.sinc(c * t) * w
    return up, down, h, c, half


def b64(a):
    return base64.b64encode(np.asarray(a, dtype="<f8").tobytes()).decode("ascii")


def main():
    cases = []
    for from_rate, to_rate, n, seed in CASES:
        up, down, h, _, _ = fine_taps(from_rate, to_rate)
        x = lcg_noise(n, seed).astype(np.float64)
        y = scipy.signal.resample_poly(x, up, down, window=h / up)
        assert y.size == math.ceil(n * up / down)
        cases.append({"from": from_rate, "to": to_rate, "n": n, "seed": seed, "y": b64(y)})

    # Frequency response of the 44.1 -> 16 kHz design, f in cycles per input sample.
    up, _, h, c, half = fine_taps(44100, 16000)
    freqs = [0.0, 0.05, 0.12, 0.15, c / 2 - 0.01, c / 2, c / 2 + 0.005, c / 2 + 0.02, 0.3, 0.45]
    _, resp = scipy.signal.freqz(h / up, worN=2 * np.pi * np.asarray(freqs) / up)
    # The taps are symmetric about their middle sample; undo freqz's linear phase.
    centre = (h.size - 1) // 2
    real = (resp * np.exp(1j * 2 * np.pi * np.asarray(freqs) / up * centre)).real

    out = {
        "generator": "scripts/golden/resample.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "design": {"zeroCrossings": ZERO_CROSSINGS, "rolloff": ROLLOFF, "beta": BETA},
        "cases": cases,
        "response": {"from": 44100, "to": 16000, "cutoff": c, "half": half, "f": freqs, "h": real.tolist()},
    }
    path = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "resample.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
