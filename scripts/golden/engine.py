#!/usr/bin/python3
"""Golden values for stemscope's engine (test/engine-golden.test.ts, test/engine-safetensors.test.ts).

Run with Debian's interpreter, which has python3-torch 1.13:

    /usr/bin/python3 scripts/golden/engine.py
    # writes test/golden/engine.json and test/golden/engine-python.safetensors

Every input is generated here from a fixed seed and stored in the JSON next to PyTorch's outputs
and gradients, so the TypeScript tests need neither Python nor a random generator that matches
torch's. float64 cases are compared at 1e-10, float32 ones at 1e-5 (the tests state the tolerance).

Each differentiable case computes loss = sum(op(inputs) * upstream) with a stored random
`upstream` of the output's shape, so the gradients are those of a generic (not all-ones) cotangent.

The Python `safetensors` package is not installed here, so the safetensors file is built by hand
from the public spec (https://github.com/huggingface/safetensors#format): an unsigned 64-bit
little-endian header length N, N bytes of UTF-8 JSON {name: {dtype, shape, data_offsets}} padded
with spaces to a multiple of 8, then the little-endian row-major bytes of every tensor.

Floats are written with Python's repr (the shortest string that round-trips a float64, at most 17
significant digits), so the JSON holds the exact float64 values.
"""
import json
import os
import struct

import torch
import torch.nn.functional as F

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT_JSON = os.path.join(ROOT, "test", "golden", "engine.json")
OUT_ST = os.path.join(ROOT, "test", "golden", "engine-python.safetensors")

torch.manual_seed(20240611)
torch.set_num_threads(1)
gen = torch.Generator().manual_seed(20240611)


def randn(*shape, dtype=torch.float64):
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def arr(t):
    """A tensor as {shape, dtype, data} with data flattened row-major."""
    t = t.detach().contiguous()
    if t.dtype == torch.bool:
        data = [bool(v) for v in t.flatten().tolist()]
    else:
        data = t.flatten().tolist()
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "data": data}


def grads_of(out, inputs):
    upstream = randn(*out.shape, dtype=out.dtype)
    (out * upstream).sum().backward()
    return upstream, [x.grad for x in inputs]


golden = {"torch_version": torch.__version__, "seed": 20240611}

# ---- conv2d: stride 2, padding 1, groups 2, with bias (float64) --------------------------------
x = randn(2, 4, 7, 7).requires_grad_()
w = randn(6, 2, 3, 3).requires_grad_()
b = randn(6).requires_grad_()
out = F.conv2d(x, w, b, stride=2, padding=1, groups=2)
up, (gx, gw, gb) = grads_of(out, [x, w, b])
golden["conv2d"] = {
    "options": {"stride": 2, "padding": 1, "groups": 2},
    "x": arr(x), "weight": arr(w), "bias": arr(b), "upstream": arr(up),
    "out": arr(out), "grad_x": arr(gx), "grad_weight": arr(gw), "grad_bias": arr(gb),
}

# ---- conv_transpose2d: stride 2, padding 1, output_padding 1, with bias (float64) --------------
x = randn(2, 3, 4, 4).requires_grad_()
w = randn(3, 2, 3, 3).requires_grad_()
b = randn(2).requires_grad_()
out = F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)
up, (gx, gw, gb) = grads_of(out, [x, w, b])
golden["conv_transpose2d"] = {
    "options": {"stride": 2, "padding": 1, "output_padding": 1},
    "x": arr(x), "weight": arr(w), "bias": arr(b), "upstream": arr(up),
    "out": arr(out), "grad_x": arr(gx), "grad_weight": arr(gw), "grad_bias": arr(gb),
}

# ---- batch_norm: training (batch statistics, running stats updated) and eval (float64) ---------
for mode in ("train", "eval"):
    x = (randn(4, 3, 3, 3) * 2 + 0.5).requires_grad_()
    w = randn(3).requires_grad_()
    b = randn(3).requires_grad_()
    rm0 = randn(3) * 0.1
    rv0 = randn(3).abs() + 0.5
    rm, rv = rm0.clone(), rv0.clone()
    out = F.batch_norm(x, rm, rv, w, b, training=(mode == "train"), momentum=0.1, eps=1e-5)
    up, (gx, gw, gb) = grads_of(out, [x, w, b])
    golden[f"batch_norm_{mode}"] = {
        "options": {"training": mode == "train", "momentum": 0.1, "eps": 1e-5},
        "x": arr(x), "weight": arr(w), "bias": arr(b), "running_mean": arr(rm0), "running_var": arr(rv0),
        "upstream": arr(up), "out": arr(out), "running_mean_after": arr(rm), "running_var_after": arr(rv),
        "grad_x": arr(gx), "grad_weight": arr(gw), "grad_bias": arr(gb),
    }

# ---- cross_entropy: mean reduction, label smoothing 0.1; class indices and probabilities -------
logits = randn(5, 4).requires_grad_()
target = torch.tensor([0, 3, 1, 1, 2], dtype=torch.int64)
loss = F.cross_entropy(logits, target, reduction="mean", label_smoothing=0.1)
loss.backward()
golden["cross_entropy_indices"] = {
    "options": {"reduction": "mean", "label_smoothing": 0.1},
    "logits": arr(logits), "target": arr(target), "loss": loss.item(), "grad_logits": arr(logits.grad),
}
logits = randn(5, 4).requires_grad_()
probs = torch.softmax(randn(5, 4), dim=1)
loss = F.cross_entropy(logits, probs, reduction="mean", label_smoothing=0.1)
loss.backward()
golden["cross_entropy_probs"] = {
    "options": {"reduction": "mean", "label_smoothing": 0.1},
    "logits": arr(logits), "target": arr(probs), "loss": loss.item(), "grad_logits": arr(logits.grad),
}

# ---- Adam (lr 0.0015, weight_decay 1e-4: the seed's settings) and AdamW: two steps (float64) ----
# Two steps with different gradients, so the bias corrections of step 1 and step 2 are both checked.
for name, cls, kwargs in (
    ("adam", torch.optim.Adam, {"lr": 0.0015, "weight_decay": 1e-4}),
    ("adamw", torch.optim.AdamW, {"lr": 0.0015, "weight_decay": 1e-2}),
):
    p0 = [randn(3, 4), randn(5)]
    grads = [[randn(3, 4), randn(5)], [randn(3, 4), randn(5)]]
    params = [p.clone().requires_grad_() for p in p0]
    opt = cls(params, betas=(0.9, 0.999), eps=1e-8, foreach=False, **kwargs)
    after = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        opt.step()
        after.append([arr(p) for p in params])
    golden[name] = {
        "options": {**kwargs, "betas": [0.9, 0.999], "eps": 1e-8},
        "params": [arr(p) for p in p0],
        "grads": [[arr(g) for g in gs] for gs in grads],
        "after": after,
    }

# ---- float32 conv2d + batch norm (eval) forward, as a reference for NCHW and channels-last -----
x = randn(2, 8, 9, 9, dtype=torch.float32)
w = randn(16, 8, 3, 3, dtype=torch.float32) * 0.2
b = randn(16, dtype=torch.float32)
bw = randn(16, dtype=torch.float32)
bb = randn(16, dtype=torch.float32)
rm = randn(16, dtype=torch.float32) * 0.1
rv = randn(16, dtype=torch.float32).abs() + 0.5
with torch.no_grad():
    y = F.conv2d(x, w, b, padding=1)
    y = F.batch_norm(y, rm, rv, bw, bb, training=False, eps=1e-5)
    xl = x.contiguous(memory_format=torch.channels_last)
    wl = w.contiguous(memory_format=torch.channels_last)
    yl = F.batch_norm(F.conv2d(xl, wl, b, padding=1), rm, rv, bw, bb, training=False, eps=1e-5)
    assert yl.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(y, yl, atol=1e-5, rtol=0)
golden["conv_bn_float32"] = {
    "x": arr(x), "weight": arr(w), "bias": arr(b), "bn_weight": arr(bw), "bn_bias": arr(bb),
    "running_mean": arr(rm), "running_var": arr(rv), "out": arr(y),
}

# ---- state_dict names and shapes of a small nested model (test/engine-nn.test.ts builds the same) ---
model = torch.nn.Sequential(
    torch.nn.Conv2d(1, 4, 3, padding=1),
    torch.nn.BatchNorm2d(4),
    torch.nn.ReLU(),
    torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, bias=False), torch.nn.BatchNorm2d(4)),
    torch.nn.ModuleList([torch.nn.Linear(4, 2), torch.nn.ConvTranspose2d(4, 2, 2, stride=2)]),
)
golden["state_dict"] = {
    "model": "Sequential(Conv2d(1,4,3,p1), BatchNorm2d(4), ReLU, Sequential(Conv2d(4,4,3,no bias), BatchNorm2d(4)), "
    "ModuleList[Linear(4,2), ConvTranspose2d(4,2,2,s2)])",
    "entries": [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()],
}

# ---- a safetensors file written independently of our TypeScript encoder -------------------------
st_tensors = {
    "f32": randn(2, 3, dtype=torch.float32),
    "f64": randn(4),
    "bf16": randn(3, 2).to(torch.bfloat16),
    "i64": torch.tensor([[-(2**40), 7], [0, 2**50 + 3]], dtype=torch.int64),
    "i32": torch.tensor([-5, 2**31 - 1, 0], dtype=torch.int32),
    "u8": torch.tensor([0, 17, 255, 128], dtype=torch.uint8),
    "bool": torch.tensor([True, False, True], dtype=torch.bool),
    "scalar": torch.tensor(3.25, dtype=torch.float32),
}
codes = {torch.float32: "F32", torch.float64: "F64", torch.bfloat16: "BF16", torch.int64: "I64",
         torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    if t.dtype == torch.bool:
        return t.to(torch.uint8).numpy().tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


header, blobs, offset = {"__metadata__": {"writer": "scripts/golden/engine.py", "format": "pt"}}, [], 0
for name in sorted(st_tensors):  # sorted, as the reference implementation orders them
    t = st_tensors[name]
    data = raw_bytes(t)
    header[name] = {"dtype": codes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
header_json = json.dumps(header, separators=(",", ":")).encode("utf-8")
header_json += b" " * ((8 - len(header_json) % 8) % 8)
with open(OUT_ST, "wb") as f:
    f.write(struct.pack("<Q", len(header_json)))
    f.write(header_json)
    for blob in blobs:
        f.write(blob)

expected = {}
for name, t in st_tensors.items():
    entry = arr(t.to(torch.float64) if t.dtype == torch.bfloat16 else t)
    entry["dtype"] = str(t.dtype).replace("torch.", "")
    if t.dtype == torch.bfloat16:
        entry["bits"] = t.view(torch.int16).to(torch.int32).bitwise_and(0xFFFF).flatten().tolist()
    if t.dtype == torch.int64:
        entry["data"] = [str(v) for v in t.flatten().tolist()]  # exact beyond 2^53
    expected[name] = entry
golden["safetensors_python"] = {
    "file": "engine-python.safetensors",
    "header_length": len(header_json),
    "metadata": header["__metadata__"],
    "tensors": expected,
}

with open(OUT_JSON, "w") as f:
    json.dump(golden, f, separators=(",", ":"))
    f.write("\n")
print(f"wrote {OUT_JSON} ({os.path.getsize(OUT_JSON)} bytes) and {OUT_ST} ({os.path.getsize(OUT_ST)} bytes)")
