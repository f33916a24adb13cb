/**
 * A small builder for ONNX graphs: named float32 / int64 initializers, nodes with typed attributes,
 * graph inputs and outputs with symbolic dimensions, then one ModelProto encoded by `onnx-proto`
 * (protobufjs code generated from onnx.proto). No model knowledge lives here; see onnx.ts.
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

/** An attribute value: a number is an INT unless it is written `{ float: x }`. */
export type AttributeValue = number | number[] | string | { float: number };

/** A graph input or output: its element type and dimensions (a string is a symbolic dimension). */
export interface ValueInfo {
  name: string;
  elementType: "float32" | "int64";
  dims: (number | string)[];
}

const ELEMENT_TYPE = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
} as const;

/** The newest IR version of the ONNX release that introduced each opset (onnx/docs/Versioning.md). */
export function irVersionFor(opset: number): number {
  if (opset <= 12) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

/** Collects the nodes and initializers of one graph in topological order (as they are added). */
export class GraphBuilder {
  readonly #nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  readonly #initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  readonly #used = new Set<string>();
  readonly #opCounts = new Map<string, number>();

  /** A name not used before in this graph: `base`, else `base_1`, `base_2`, … */
  uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.#used.has(name); i++) name = `${base}_${i}`;
    this.#used.add(name);
    return name;
  }

  /** Adds a float32 constant (row-major `data` of shape `dims`) and returns its name. */
  float32(name: string, data: Float32Array, dims: number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) {
      throw new RangeError(`initializer ${name}: ${data.length} values for shape [${dims.join(", ")}]`);
    }
    const unique = this.uniqueName(name);
    // Little-endian bytes, as ONNX's raw_data requires (every platform we run on is little-endian).
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.#initializers.push(
      onnx.TensorProto.create({ name: unique, dims, dataType: ELEMENT_TYPE.float32, rawData: bytes }),
    );
    return unique;
  }

  /** Adds an int64 constant (e.g. a shape for Reshape) and returns its name. */
  int64(name: string, values: number[]): string {
    const unique = this.uniqueName(name);
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.#initializers.push(
      onnx.TensorProto.create({
        name: unique,
        dims: [values.length],
        dataType: ELEMENT_TYPE.int64,
        rawData: new Uint8Array(data.buffer),
      }),
    );
    return unique;
  }

  /**
   * Adds a node of the default ONNX domain and returns its output names (`outputs` of them, named
   * after `name`).
   */
  node(
    opType: string,
    inputs: string[],
    attributes: Record<string, AttributeValue> = {},
    options: { name?: string; outputs?: number; outputNames?: string[] } = {},
  ): string[] {
    const index = this.#opCounts.get(opType) ?? 0;
    this.#opCounts.set(opType, index + 1);
    const nodeName = options.name ?? `${opType}_${index}`;
    const outputs =
      options.outputNames?.map((n) => this.uniqueName(n)) ??
      Array.from({ length: options.outputs ?? 1 }, (_, i) =>
        this.uniqueName(i === 0 ? nodeName : `${nodeName}:${i}`),
      );
    this.#nodes.push(
      onnx.NodeProto.create({
        name: nodeName,
        opType,
        input: inputs,
        output: outputs,
        attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
      }),
    );
    return outputs;
  }

  /** Adds a node with one output and returns that output's name. */
  op(
    opType: string,
    inputs: string[],
    attributes: Record<string, AttributeValue> = {},
    name?: string,
  ): string {
    return this.node(opType, inputs, attributes, name === undefined ? {} : { name })[0] as string;
  }

  /** The model as ONNX protobuf bytes. */
  encode(options: {
    graphName: string;
    inputs: ValueInfo[];
    outputs: ValueInfo[];
    opset: number;
    producerVersion: string;
    docString?: string;
    metadata: Record<string, string>;
  }): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: irVersionFor(options.opset),
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: "", version: options.opset })],
      producerName: "stemscope",
      producerVersion: options.producerVersion,
      docString: options.docString ?? "",
      graph: onnx.GraphProto.create({
        name: options.graphName,
        node: this.#nodes,
        initializer: this.#initializers,
        input: options.inputs.map(valueInfo),
        output: options.outputs.map(valueInfo),
      }),
      metadataProps: Object.entries(options.metadata).map(([key, value]) =>
        onnx.StringStringEntryProto.create({ key, value }),
      ),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function attribute(name: string, value: AttributeValue): InstanceType<typeof onnx.AttributeProto> {
  const type = onnx.AttributeProto.AttributeType;
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new RangeError(`attribute ${name}: ${value} is not an integer`);
    return onnx.AttributeProto.create({ name, type: type.INT, i: value });
  }
  if (typeof value === "string") {
    return onnx.AttributeProto.create({ name, type: type.STRING, s: new TextEncoder().encode(value) });
  }
  if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: type.INTS, ints: value });
  return onnx.AttributeProto.create({ name, type: type.FLOAT, f: value.float });
}

function valueInfo(info: ValueInfo): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name: info.name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: ELEMENT_TYPE[info.elementType],
        shape: onnx.TensorShapeProto.create({
          dim: info.dims.map((d) =>
            onnx.TensorShapeProto.Dimension.create(typeof d === "number" ? { dimValue: d } : { dimParam: d }),
          ),
        }),
      }),
    }),
  });
}
