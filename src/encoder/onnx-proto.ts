/**
 * Serialising an ONNX model (a `ModelProto`) with protobufjs. The schema below is the subset
 * of ONNX's onnx.proto that a feed-forward graph of float tensors needs, with ONNX's own field
 * numbers (the wire format is defined by those numbers, so a subset is a valid reader and
 * writer of the full message for the fields it names).
 */
import protobuf from "protobufjs";

const SCHEMA = `
syntax = "proto2";
package onnx;
message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; FLOATS = 6; INTS = 7; STRINGS = 8; }
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  repeated float floats = 7;
  repeated int64 ints = 8;
  optional AttributeType type = 20;
}
message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
}
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
}
message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
}
message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}
message TensorProto {
  enum DataType { UNDEFINED = 0; FLOAT = 1; INT64 = 7; }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional string name = 8;
  optional bytes raw_data = 9;
}
message TensorShapeProto {
  message Dimension {
    oneof value { int64 dim_value = 1; string dim_param = 2; }
  }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value { Tensor tensor_type = 1; }
}
message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

/** ONNX element types used here (TensorProto.DataType). */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;

export type OnnxAttribute = number | string | number[];

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  /** Numbers become INT attributes when integral and FLOAT otherwise; arrays become INTS. */
  attrs?: Record<string, OnnxAttribute>;
  /** Attribute names whose numeric value must be written as FLOAT even if integral. */
  floatAttrs?: string[];
}

export interface OnnxInitializer {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

export interface OnnxValueInfo {
  name: string;
  /** A number is a fixed size, a string a symbolic one (e.g. the batch "N"). */
  shape: (number | string)[];
}

export interface OnnxGraph {
  name: string;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  nodes: OnnxNode[];
  initializers: OnnxInitializer[];
}

/** IR version 8 and opset 13: every operator used here has its current semantics there. */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 13;

let root: protobuf.Root | null = null;
function schema(): protobuf.Root {
  root ??= protobuf.parse(SCHEMA, { keepCase: true }).root;
  return root;
}

const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

function attribute(name: string, v: OnnxAttribute, asFloat: boolean): Record<string, unknown> {
  if (typeof v === "string") return { name, type: AttributeType.STRING, s: Buffer.from(v, "utf8") };
  if (Array.isArray(v)) {
    if (asFloat) return { name, type: AttributeType.FLOATS, floats: v };
    if (!v.every(Number.isInteger)) throw new TypeError(`ONNX attribute ${name}: [${v.join(", ")}] is not a list of integers`);
    return { name, type: AttributeType.INTS, ints: v };
  }
  if (asFloat || !Number.isInteger(v)) return { name, type: AttributeType.FLOAT, f: v };
  return { name, type: AttributeType.INT, i: v };
}

function valueInfo(v: OnnxValueInfo): Record<string, unknown> {
  return {
    name: v.name,
    type: { tensor_type: { elem_type: ONNX_FLOAT, shape: { dim: v.shape.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d })) } } },
  };
}

/** Little-endian bytes of a typed array (ONNX raw_data is little-endian whatever the host). */
function rawBytes(a: Float32Array | BigInt64Array): Uint8Array {
  const out = new Uint8Array(a.byteLength);
  const dv = new DataView(out.buffer);
  if (a instanceof Float32Array) for (let i = 0; i < a.length; i++) dv.setFloat32(i * 4, a[i], true);
  else for (let i = 0; i < a.length; i++) dv.setBigInt64(i * 8, a[i], true);
  return out;
}

/** The serialised ModelProto of a graph: the bytes onnxruntime's InferenceSession loads. */
export function encodeOnnxModel(g: OnnxGraph, producer = "show-attend-tell"): Uint8Array {
  const Model = schema().lookupType("onnx.ModelProto");
  const message = {
    ir_version: ONNX_IR_VERSION,
    producer_name: producer,
    opset_import: [{ domain: "", version: ONNX_OPSET }],
    graph: {
      name: g.name,
      node: g.nodes.map((n, k) => ({
        name: n.name ?? `${n.op}_${k}`,
        op_type: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([name, v]) => attribute(name, v, n.floatAttrs?.includes(name) ?? false)),
      })),
      initializer: g.initializers.map((t) => {
        const size = t.dims.reduce((a, b) => a * b, 1);
        if (size !== t.data.length) throw new RangeError(`ONNX initializer ${t.name}: dims [${t.dims.join(", ")}] hold ${size} values, data has ${t.data.length}`);
        return { name: t.name, dims: t.dims, data_type: t.data instanceof Float32Array ? ONNX_FLOAT : ONNX_INT64, raw_data: rawBytes(t.data) };
      }),
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
  };
  const err = Model.verify(message);
  if (err) throw new Error(`ONNX model does not fit the schema: ${err}`);
  return Model.encode(Model.fromObject(message)).finish();
}

/** Parses bytes written by encodeOnnxModel back into a plain object (tests inspect it). */
export function decodeOnnxModel(bytes: Uint8Array): Record<string, unknown> {
  const Model = schema().lookupType("onnx.ModelProto");
  return Model.toObject(Model.decode(bytes), { longs: Number, bytes: Array, defaults: false });
}
