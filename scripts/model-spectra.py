#!/usr/bin/python3
"""How our models' clips sound next to the recorded ones, by long-term spectrum; and a library whose
model clips are re-equalised to the recordings' spectrum (a diagnostic of docs/quality.md).

Usage:
  /usr/bin/python3 scripts/model-spectra.py report <raw_data> [--hold-out G]
  /usr/bin/python3 scripts/model-spectra.py match <raw_data> <out_raw_data> --hold-out G

`report` prints, per class, the median spectral centroid (Hz) and the median share of the power above
4 kHz (dB) of its recorded clips (every group but `physical` and the held-out one), of the held-out
group's, and of the `physical` group's (up to 40 clips each, in manifest order).

`match` copies the library (hard links) and rewrites every `physical` clip through a zero-phase
filter per class: half the difference of the mean log band-power shapes (1/6-octave bands,
40 Hz–8 kHz; each clip's shape is its band power over its total) of the class's recorded clips (up
to 200; the held-out group never counts) and of its model clips, smoothed over 5 bands and clipped
to ±20 dB — so that the models' mean spectrum matches the recordings' — at the clip's own RMS.
Needs Debian's python3-numpy and python3-scipy (scripts/setup.sh installs them; they belong to
/usr/bin/python3).
"""
import argparse
import collections
import json
import os
import shutil

import numpy as np
from scipy.io import wavfile

EDGES = 40 * 2 ** (np.arange(0, 7.7, 1 / 6))  # 1/6-octave band edges, 40 Hz … ~8 kHz
CENTRES = np.sqrt(EDGES[:-1] * EDGES[1:])
MAX_GAIN = np.log(10)  # ±20 dB of amplitude, as a natural log


def read(root, entry):
    rate, x = wavfile.read(os.path.join(root, entry["file"]))
    return rate, x.astype(np.float64)


def power_spectrum(x, rate):
    return np.abs(np.fft.rfft(x)) ** 2, np.fft.rfftfreq(len(x), 1 / rate)


def band_shape(x, rate):
    """log(band power / total power) per band: the clip's spectral shape, level-free."""
    p, f = power_spectrum(x, rate)
    bands = np.array([p[(f >= lo) & (f < hi)].mean() + 1e-12 for lo, hi in zip(EDGES[:-1], EDGES[1:])])
    return np.log(bands / (p.sum() + 1e-9))


def kind_of(entry, held_out):
    group = entry.get("group", entry.get("soundfont"))
    return "model" if group == "physical" else "held out" if group == held_out else "recorded"


def report(root, held_out):
    entries = [json.loads(line) for line in open(os.path.join(root, "manifest.jsonl"))]
    stats = collections.defaultdict(list)
    for e in entries:
        key = (e["class"], kind_of(e, held_out))
        if len(stats[key]) >= 40:
            continue
        rate, x = read(root, e)
        p, f = power_spectrum(x, rate)
        total = p.sum() + 1e-9
        stats[key].append(((p * f).sum() / total, p[f > 4000].sum() / total))
    kinds = ["recorded", "held out", "model"]
    print("| class | " + " | ".join(f"{k}: centroid, >4 kHz" for k in kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for cls in sorted({c for c, _ in stats}):
        cells = []
        for k in kinds:
            v = np.array(stats.get((cls, k), []))
            cells.append(
                "–" if len(v) == 0 else f"{np.median(v[:, 0]):.0f} Hz, {10 * np.log10(np.median(v[:, 1]) + 1e-12):.1f} dB"
            )
        print(f"| {cls} | " + " | ".join(cells) + " |")


def match(root, out, held_out):
    entries = [json.loads(line) for line in open(os.path.join(root, "manifest.jsonl"))]
    shapes = collections.defaultdict(list)
    for e in entries:
        key = (e["class"], kind_of(e, held_out))
        if key[1] == "held out" or len(shapes[key]) >= 200:
            continue
        rate, x = read(root, e)
        shapes[key].append(band_shape(x, rate))
    gains = {}
    for (cls, kind) in list(shapes):
        if kind != "model":
            continue
        d = 0.5 * (np.mean(shapes[(cls, "recorded")], 0) - np.mean(shapes[(cls, "model")], 0))
        d = np.convolve(np.pad(d, 2, mode="edge"), np.ones(5) / 5, mode="valid")
        gains[cls] = np.clip(d, -MAX_GAIN, MAX_GAIN)
        print(cls, "gain dB every half octave:", " ".join(f"{20 * v / np.log(10):+.0f}" for v in gains[cls][::3]))
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(root):
        if name.startswith("."):
            continue
        path = os.path.join(root, name)
        if os.path.isfile(path):
            shutil.copy(path, os.path.join(out, name))
            continue
        os.makedirs(os.path.join(out, name), exist_ok=True)
        for f in os.listdir(path):
            target = os.path.join(out, name, f)
            if not os.path.exists(target):
                os.link(os.path.join(path, f), target)
    for e in entries:
        if kind_of(e, held_out) != "model":
            continue
        rate, x = read(root, e)
        spectrum = np.fft.rfft(x)
        f = np.fft.rfftfreq(len(x), 1 / rate)
        g = np.interp(np.log(np.maximum(f, 1)), np.log(CENTRES), gains[e["class"]])
        y = np.fft.irfft(spectrum * np.exp(g), len(x))
        y *= np.sqrt((x**2).mean() / max((y**2).mean(), 1e-12))
        peak = np.abs(y).max()
        if peak > 32767:
            y *= 32767 / peak
        target = os.path.join(out, e["file"])
        os.unlink(target)  # a hard link to the original: write a new file, never through the link
        wavfile.write(target, rate, np.round(y).astype(np.int16))


parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("command", choices=["report", "match"])
parser.add_argument("data")
parser.add_argument("out", nargs="?")
parser.add_argument("--hold-out", default="")
args = parser.parse_args()
if args.command == "report":
    report(args.data, args.hold_out)
elif args.out is None or args.hold_out == "":
    parser.error("match needs <out_raw_data> and --hold-out")
else:
    match(args.data, args.out, args.hold_out)
