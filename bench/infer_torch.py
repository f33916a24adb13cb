#!/usr/bin/python3
"""Inference baseline of `npm run bench:infer`: the same joint model in PyTorch (bench/torch_joint.py,
built from the same JointModelConfig JSON), weights read from the model folder's weights.safetensors,
in eval mode under torch.no_grad(), channels-last, forward passes over `windows` inputs of
[1, 128, 128] in batches of `batch` — the model work of `stemscope predict` on one file.

  /usr/bin/python3 bench/infer_torch.py --model <dir> [--windows 59] [--batch 16] [--threads 2] [--repeats 3]

Prints one JSON line: {"forward_s": [...], "median_s": ..., "load_s": ..., "params": ...}."""
import argparse, json, os, statistics, struct, sys, time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_joint import Joint  # noqa: E402

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "F16": np.float16}


def read_safetensors(path):
    """A minimal safetensors reader (8-byte little-endian header length, JSON header, raw data)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        arr = np.frombuffer(data[base + start:base + end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--windows", type=int, default=59)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    with open(os.path.join(a.model, "config.json")) as f:
        cfg = json.load(f)
    model = Joint(cfg["model"])
    state = read_safetensors(os.path.join(a.model, "weights.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    # torch keeps num_batches_tracked buffers that our engine may not store; nothing else may differ
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"state dict mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model = model.to(memory_format=torch.channels_last).eval()
    load_s = time.perf_counter() - t0
    f = cfg["features"]
    x = torch.rand(a.windows, 1, f["nMels"], f["size"])

    def run():
        with torch.no_grad():
            for b in range(0, a.windows, a.batch):
                xb = x[b:b + a.batch].contiguous(memory_format=torch.channels_last)
                sep, logits = model(xb)
                torch.softmax(logits, 2)

    run()  # warm-up
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"forward_s": [round(t, 4) for t in times], "median_s": round(statistics.median(times), 4),
                      "load_s": round(load_s, 4), "params": params}))


if __name__ == "__main__":
    main()
