// safetensors I/O: round trips of every dtype, the byte layout against the public spec
// (https://github.com/huggingface/safetensors#format), a file written independently by
// scripts/golden/engine.py (torch tensors serialised by hand with struct + json), and corrupt files.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe } from "node:test";
import {
  decodeSafetensors,
  dispose,
  encodeSafetensors,
  loadSafetensors,
  SafetensorsError,
  saveSafetensors,
  type Tensor,
  tensor,
  tidy,
} from "../src/engine/index.js";
import { engineTest, GOLDEN_DIR, golden } from "./engine-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "stemscope-st-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** One tensor of every supported dtype, with values that exercise each (signs, extremes, > 2^53). */
function everyDtype(): Map<string, Tensor> {
  return tidy(
    () =>
      new Map<string, Tensor>([
        ["f32", tensor([1.5, -0.25, 3.4028234663852886e38, 1e-45, 0, -7], [2, 3])],
        ["f64", tensor(Float64Array.from([Math.PI, -1e-300, 1e300, 0.1]), [4])],
        ["bf16", tensor([1, -2.5, 0.15625, 65280], [2, 2]).to("bfloat16")],
        ["i64", tensor(BigInt64Array.from([-(2n ** 62n), 2n ** 53n + 1n, 0n]), [3])],
        ["i32", tensor(Int32Array.from([-(2 ** 31), 2 ** 31 - 1]), [2, 1])],
        ["u8", tensor(Uint8Array.from([0, 1, 128, 255]), [4])],
        ["bool", tensor([1, 0, 0, 1, 1], [5], { dtype: "bool" })],
        ["scalar", tensor([2.5], [])],
        ["empty", tensor([], [0, 3])],
      ]),
  );
}

function bytesOf(t: Tensor): number[] {
  return Array.from(new Uint8Array(t.data().buffer));
}

describe("safetensors", () => {
  engineTest(
    "round trip of every dtype keeps dtype, shape and bytes (encode/decode and save/load)",
    async () => {
      const original = everyDtype();
      const metadata = { format: "pt", note: "ünïcode ok" };
      const path = join(dir, "roundtrip.safetensors");
      await saveSafetensors(path, original, metadata);
      const fromFile = await loadSafetensors(path);
      const fromBytes = decodeSafetensors(encodeSafetensors(original, metadata));
      for (const loaded of [fromFile, fromBytes]) {
        assert.deepEqual(loaded.metadata, metadata);
        assert.deepEqual([...loaded.tensors.keys()].sort(), [...original.keys()].sort());
        for (const [name, t] of original) {
          const u = loaded.tensors.get(name)!;
          assert.equal(u.dtype, t.dtype, `${name} dtype`);
          assert.deepEqual(u.shape, t.shape, `${name} shape`);
          assert.deepEqual(bytesOf(u), bytesOf(t), `${name} bytes`);
        }
        dispose(loaded.tensors);
      }
      // Spot-check values independently of the bytes comparison.
      const back = decodeSafetensors(encodeSafetensors(original)).tensors;
      assert.deepEqual(Array.from(back.get("i64")!.data() as BigInt64Array), [
        -(2n ** 62n),
        2n ** 53n + 1n,
        0n,
      ]);
      assert.deepEqual(back.get("bf16")!.toFloat32Array(), Float32Array.from([1, -2.5, 0.15625, 65280]));
      assert.deepEqual(back.get("bool")!.toArray(), [1, 0, 0, 1, 1]);
      dispose(back, original);
    },
  );

  engineTest("a channels-last tensor is stored in logical (row-major NCHW) order", () => {
    tidy(() => {
      const t = tensor(
        Array.from({ length: 24 }, (_, i) => i),
        [1, 2, 3, 4],
      );
      const cl = t.contiguous("channels_last");
      const back = decodeSafetensors(encodeSafetensors(new Map([["x", cl]]))).tensors.get("x")!;
      assert.deepEqual(back.toArray(), t.toArray());
    });
  });

  engineTest(
    "byte layout follows the spec: u64 LE length, JSON header, 8-byte alignment, packed LE data",
    () => {
      tidy(() => {
        const bytes = encodeSafetensors(
          new Map([
            ["b", tensor(Float64Array.from([1.5, -2]), [2])],
            ["a", tensor(Int32Array.from([1, -1, 258]), [3])],
          ]),
          { k: "v" },
        );
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const n = Number(view.getBigUint64(0, true));
        assert.equal((8 + n) % 8, 0, "data starts on an 8-byte boundary");
        const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + n));
        assert.ok(headerText.startsWith("{"), "header starts with '{'");
        assert.match(headerText, /^[^\n]*\}\s*$/, "header is JSON padded only with trailing spaces");
        assert.ok(/ *$/.exec(headerText)![0].length < 8, "padding is under 8 bytes");
        const header = JSON.parse(headerText) as Record<
          string,
          { dtype: string; shape: number[]; data_offsets: number[] }
        >;
        assert.deepEqual(header.__metadata__, { k: "v" });
        assert.deepEqual(header.a, { dtype: "I32", shape: [3], data_offsets: [0, 12] });
        assert.deepEqual(header.b, { dtype: "F64", shape: [2], data_offsets: [12, 28] });
        assert.equal(bytes.byteLength, 8 + n + 28, "no bytes after the last tensor");
        // Expected little-endian bytes, written with DataView (independent of the engine).
        const expected = new DataView(new ArrayBuffer(28));
        [1, -1, 258].forEach((v, i) => expected.setInt32(4 * i, v, true));
        [1.5, -2].forEach((v, i) => expected.setFloat64(12 + 8 * i, v, true));
        assert.deepEqual(Array.from(bytes.subarray(8 + n)), Array.from(new Uint8Array(expected.buffer)));
      });
    },
  );

  engineTest("reads a file written by scripts/golden/engine.py from torch tensors", async () => {
    const g = golden().safetensors_python as {
      file: string;
      header_length: number;
      metadata: Record<string, string>;
      tensors: Record<
        string,
        { shape: number[]; dtype: string; data: (number | boolean | string)[]; bits?: number[] }
      >;
    };
    const { tensors, metadata } = await loadSafetensors(join(GOLDEN_DIR, g.file));
    try {
      assert.deepEqual(metadata, g.metadata);
      assert.deepEqual([...tensors.keys()].sort(), Object.keys(g.tensors).sort());
      for (const [name, e] of Object.entries(g.tensors)) {
        const t = tensors.get(name)!;
        assert.equal(t.dtype, e.dtype, `${name} dtype`);
        assert.deepEqual(t.shape, e.shape, `${name} shape`);
        if (e.dtype === "int64") {
          assert.deepEqual(Array.from(t.data() as BigInt64Array, String), e.data, `${name} values`);
        } else if (e.dtype === "bfloat16") {
          assert.deepEqual(Array.from(t.data() as Uint16Array), e.bits, `${name} bits`);
          assert.deepEqual(Array.from(t.toFloat32Array()), e.data, `${name} values`);
        } else {
          assert.deepEqual(t.toArray(), e.data.map(Number), `${name} values`);
        }
      }
    } finally {
      dispose(tensors);
    }
  });

  describe("corrupt files raise SafetensorsError naming the file", () => {
    const good = (): Uint8Array =>
      tidy(() => encodeSafetensors(new Map([["w", tensor([1, 2, 3, 4], [2, 2])]])));
    const withHeader = (header: string, data: Uint8Array): Uint8Array => {
      const h = Buffer.from(header);
      const out = new Uint8Array(8 + h.byteLength + data.byteLength);
      new DataView(out.buffer).setBigUint64(0, BigInt(h.byteLength), true);
      out.set(h, 8);
      out.set(data, 8 + h.byteLength);
      return out;
    };
    const cases: [string, () => Uint8Array, RegExp][] = [
      ["shorter than the length prefix", () => good().subarray(0, 5), /only 5 bytes/],
      ["truncated in the data", () => good().subarray(0, good().byteLength - 3), /data_offsets/],
      [
        "header length beyond the file",
        () => {
          const b = good().slice();
          new DataView(b.buffer).setBigUint64(0, 1n << 40n, true);
          return b;
        },
        /header length/,
      ],
      ["header that is not JSON", () => withHeader('{"w": {"dtype": "F32",', new Uint8Array(16)), /JSON/],
      [
        "data_offsets beyond the file",
        () => withHeader('{"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}', new Uint8Array(16)),
        /data_offsets/,
      ],
      [
        "data_offsets that do not match the shape",
        () => withHeader('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}', new Uint8Array(16)),
        /data_offsets/,
      ],
      [
        "negative offsets",
        () => withHeader('{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}', new Uint8Array(16)),
        /data_offsets/,
      ],
      [
        "an unknown dtype",
        () => withHeader('{"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}', new Uint8Array(8)),
        /dtype/,
      ],
      [
        "a header entry that is not an object",
        () => withHeader('{"w":null}', new Uint8Array(8)),
        /tensor 'w' is not an object/,
      ],
      [
        "a header that is not an object",
        () => withHeader("[1, 2]", new Uint8Array(8)),
        /JSON header is not an object/,
      ],
      [
        // the first tensor decodes; the second fails: the first must not leak (engineTest checks)
        "a bad second tensor after a good one",
        () =>
          withHeader(
            '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[9],"data_offsets":[8,44]}}',
            new Uint8Array(16),
          ),
        /'b'/,
      ],
    ];
    for (const [label, make, pattern] of cases) {
      engineTest(label, async () => {
        const path = join(dir, `${label.replace(/\W+/g, "-")}.safetensors`);
        writeFileSync(path, make());
        await assert.rejects(loadSafetensors(path), (error: unknown) => {
          assert.ok(
            error instanceof SafetensorsError,
            `${label}: ${String(error)} is not a SafetensorsError`,
          );
          assert.ok(error.message.includes(path), `message names the file: ${error.message}`);
          assert.match(error.message, pattern);
          return true;
        });
      });
    }
    engineTest("a missing file", async () => {
      const path = join(dir, "nope.safetensors");
      await assert.rejects(
        loadSafetensors(path),
        (e: unknown) => e instanceof SafetensorsError && e.message.includes(path),
      );
    });
  });
});
