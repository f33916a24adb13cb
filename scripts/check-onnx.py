#!/usr/bin/python3
"""Checks ONNX files written by `stemscope export` with the reference ONNX library.

Usage: /usr/bin/python3 scripts/check-onnx.py model.onnx [more.onnx ...]

For each file: onnx.checker.check_model(full_check=True) (the structural checks plus strict shape
inference), then the graph's interface — input "features" [batch, 1, nMels, size] float32, outputs
"separated" [batch, K, nMels, size] and "logits" [batch, K, classes] — and the inferred output
shapes must agree with the stemscope.* metadata. Prints one JSON line per file; exits 1 on the
first failure with a message naming the file. Needs Debian's python3-onnx (it belongs to
/usr/bin/python3, not to the python3 first on PATH).
"""
import json
import sys

import onnx

FLOAT = onnx.TensorProto.FLOAT


def dims(value_info):
    return [d.dim_param if d.dim_param else d.dim_value for d in value_info.type.tensor_type.shape.dim]


def check(path):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    for key in ("stemscope.export_version", "stemscope.classes", "stemscope.features", "stemscope.model"):
        if key not in meta:
            raise ValueError(f"metadata {key} is missing")
    classes = json.loads(meta["stemscope.classes"])
    features = json.loads(meta["stemscope.features"])
    sources = json.loads(meta["stemscope.model"])["sources"]
    n_mels, size = features["nMels"], features["size"]
    graph = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True).graph
    inputs = {v.name: v for v in graph.input}
    outputs = {v.name: v for v in graph.output}
    expected = {
        "features": (inputs, ["batch", 1, n_mels, size]),
        "separated": (outputs, ["batch", sources, n_mels, size]),
        "logits": (outputs, ["batch", sources, len(classes)]),
    }
    for name, (table, shape) in expected.items():
        if name not in table:
            raise ValueError(f'no graph {"input" if table is inputs else "output"} "{name}"')
        if table[name].type.tensor_type.elem_type != FLOAT:
            raise ValueError(f'"{name}" is not float32')
        if dims(table[name]) != shape:
            raise ValueError(f'"{name}" has shape {dims(table[name])}, expected {shape}')
    # Every intermediate value gets a full static shape from inference (batch stays symbolic).
    unknown = [v.name for v in graph.value_info if not v.type.tensor_type.HasField("shape")]
    if unknown:
        raise ValueError(f"shape inference left {len(unknown)} values without a shape: {unknown[:5]}")
    return {
        "file": path,
        "ok": True,
        "onnx": onnx.__version__,
        "ir_version": model.ir_version,
        "opset": [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")][0],
        "nodes": len(model.graph.node),
        "ops": sorted({n.op_type for n in model.graph.node}),
        "classes": classes,
        "sources": sources,
    }


def main(paths):
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for path in paths:
        try:
            print(json.dumps(check(path)))
        except Exception as error:  # the checker raises several types; all mean "invalid"
            print(f"check-onnx: {path}: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
