/**
 * Translates a Keras functional model in tfjs' layers format (model.json + weights, as read by
 * io.ts) into an ONNX graph cut at one layer, for onnxruntime. Supported layers are the ones
 * Keras' ResNet-50 uses up to its last layer: InputLayer, ZeroPadding2D, Conv2D (linear or
 * ReLU), BatchNormalization, Activation (ReLU), Add, MaxPooling2D. Anything else is refused
 * with the layer's name.
 *
 * Layout: the graph takes NHWC input (the tfjs encoder's input, so both share normaliseInto),
 * transposes once to NCHW (onnxruntime's native conv layout), and transposes the cut layer's
 * output back to NHWC, whose flattening is the decoder's [N, L, D].
 *
 * A BatchNormalization that is the only consumer of a linear Conv2D is folded into the conv's
 * weights and bias (foldBatchNorm): inference BN is a per-channel affine map, so this is the
 * same function with one pass over the activations fewer.
 */
import type * as tfTypes from "@tensorflow/tfjs-core";
import type { OnnxGraph, OnnxInitializer, OnnxNode } from "./onnx-proto.js";

export interface BatchNormParams {
  /** Per output channel; absent when the layer has `scale: false` (then 1). */
  gamma?: Float32Array;
  /** Absent when the layer has `center: false` (then 0). */
  beta?: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

/**
 * Folds inference-mode batch normalisation into the preceding convolution:
 * BN(W*x + b) = s * (W*x + b - mean) + beta with s = gamma / sqrt(var + eps), i.e. the conv
 * with W' = s[o] * W[o, ...] and b' = s * (b - mean) + beta. `kernel` is ONNX's [out, in, kh, kw]
 * (output channel outermost). Computed in float64 and rounded once to float32.
 */
export function foldBatchNorm(kernel: Float32Array, bias: Float32Array | null, outChannels: number, bn: BatchNormParams): { kernel: Float32Array; bias: Float32Array } {
  if (kernel.length % outChannels !== 0) throw new RangeError(`foldBatchNorm: kernel of ${kernel.length} values is not ${outChannels} output channels`);
  for (const [k, v] of Object.entries({ gamma: bn.gamma, beta: bn.beta, mean: bn.mean, variance: bn.variance, bias })) {
    if (v && v.length !== outChannels) throw new RangeError(`foldBatchNorm: ${k} has ${v.length} values, expected ${outChannels}`);
  }
  const per = kernel.length / outChannels;
  const k2 = new Float32Array(kernel.length);
  const b2 = new Float32Array(outChannels);
  for (let o = 0; o < outChannels; o++) {
    const s = (bn.gamma ? bn.gamma[o] : 1) / Math.sqrt(bn.variance[o] + bn.epsilon);
    for (let j = o * per; j < (o + 1) * per; j++) k2[j] = kernel[j] * s;
    b2[o] = ((bias ? bias[o] : 0) - bn.mean[o]) * s + (bn.beta ? bn.beta[o] : 0);
  }
  return { kernel: k2, bias: b2 };
}

/** Keras conv kernel [kh, kw, in, out] -> ONNX [out, in, kh, kw]. */
export function kerasKernelToOnnx(k: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  if (k.length !== kh * kw * cin * cout) throw new RangeError(`kernel of ${k.length} values is not ${kh}x${kw}x${cin}x${cout}`);
  const out = new Float32Array(k.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = k[((y * kw + x) * cin + i) * cout + o];
  return out;
}

/** Output size and (before, after) padding along one spatial axis, as TensorFlow computes them. */
export function convAxis(n: number, k: number, s: number, d: number, padding: "valid" | "same"): { out: number; before: number; after: number } {
  const span = (k - 1) * d + 1;
  if (padding === "valid") {
    if (n < span) throw new RangeError(`a ${k}-wide window does not fit ${n} pixels`);
    return { out: Math.floor((n - span) / s) + 1, before: 0, after: 0 };
  }
  const out = Math.ceil(n / s);
  const total = Math.max((out - 1) * s + span - n, 0);
  return { out, before: Math.floor(total / 2), after: total - Math.floor(total / 2) };
}

interface KerasLayer {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[];
}

/** A tensor of the ONNX graph: its name and NCHW shape without the batch axis. */
interface Value {
  tensor: string;
  shape: [number, number, number];
  /** ZeroPadding2D not yet applied, to be merged into the consuming conv's pads [t, l, b, r]. */
  pendingPads?: [number, number, number, number];
}

export interface KerasToOnnxResult {
  graph: OnnxGraph;
  inputSize: number;
  /** The cut layer's output, NHWC without the batch axis. */
  outShape: [number, number, number];
  /** Multiply-adds x 2 of the convolutions per image (the network's FLOP count). */
  flops: number;
  /** BatchNormalization layers folded into convolutions. */
  foldedBatchNorms: number;
}

const pair = (v: unknown, what: string): [number, number] => {
  if (typeof v === "number") return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "number")) return [v[0], v[1]];
  throw new Error(`${what}: expected a number or a pair, got ${JSON.stringify(v)}`);
};

/** Keras ZeroPadding2D `padding` -> [top, bottom, left, right]. */
function zeroPadding(v: unknown, where: string): [number, number, number, number] {
  if (typeof v === "number") return [v, v, v, v];
  if (Array.isArray(v) && v.length === 2) {
    if (v.every((x) => typeof x === "number")) return [v[0], v[0], v[1], v[1]];
    const [h, w] = [pair(v[0], where), pair(v[1], where)];
    return [h[0], h[1], w[0], w[1]];
  }
  throw new Error(`${where}: padding ${JSON.stringify(v)} not understood`);
}

/** Names of the layers feeding `l` (Keras 2 inbound_nodes: [[[name, node, tensor, kwargs], ...]]). */
function inboundNames(l: KerasLayer): string[] {
  if (l.inbound_nodes.length === 0) return [];
  if (l.inbound_nodes.length !== 1) throw new Error(`layer ${l.name} is called ${l.inbound_nodes.length} times (shared layers are not supported)`);
  const node = l.inbound_nodes[0];
  if (!Array.isArray(node) || !node.every((e) => Array.isArray(e) && typeof e[0] === "string")) {
    throw new Error(`layer ${l.name}: inbound_nodes in an unknown format (only Keras 2 functional models are supported)`);
  }
  return node.map((e) => (e as [string])[0]);
}

/** Float32 weights of a tfjs layers model by name ("conv1/kernel"), sliced from the weight buffer. */
export function weightMap(a: tfTypes.io.ModelArtifacts): Map<string, Float32Array> {
  const data = a.weightData;
  if (!data || Array.isArray(data)) throw new Error("model weights: expected one concatenated weight buffer");
  const m = new Map<string, Float32Array>();
  let offset = 0;
  for (const s of a.weightSpecs ?? []) {
    const n = s.shape.reduce((x, y) => x * y, 1);
    if (s.dtype !== "float32" || s.quantization) throw new Error(`weight ${s.name}: only unquantised float32 weights are supported (got ${s.quantization ? "quantised " : ""}${s.dtype})`);
    if (offset + n * 4 > data.byteLength) throw new Error(`weight ${s.name}: past the end of the weight data`);
    // Copy: the shard buffer's offsets need not be 4-byte aligned for a Float32Array view.
    m.set(s.name, new Float32Array(data.slice(offset, offset + n * 4)));
    offset += n * 4;
  }
  return m;
}

/**
 * The ONNX graph of a Keras layers model from its input to the output of `layer`
 * (input "input" [N, S, S, 3] NHWC float; output "features" [N, h, w, C] NHWC).
 */
export function kerasToOnnx(a: tfTypes.io.ModelArtifacts, layer: string): KerasToOnnxResult {
  type Config = { class_name?: string; config?: { layers?: KerasLayer[] } };
  // Keras' converter wraps the model config in model_config; tfjs' own save does not.
  const topo = a.modelTopology as (Config & { model_config?: Config }) | undefined;
  const layers = (topo?.model_config ?? topo)?.config?.layers;
  if (!Array.isArray(layers)) throw new Error("not a Keras functional model (no config.layers in the topology)");
  const byName = new Map(layers.map((l) => [l.name, l]));
  const target = byName.get(layer);
  if (!target) throw new Error(`no layer named '${layer}'`);
  const weights = weightMap(a);
  const weight = (l: string, w: string): Float32Array => {
    const v = weights.get(`${l}/${w}`);
    if (!v) throw new Error(`layer ${l}: weight '${l}/${w}' missing from the model`);
    return v;
  };

  // The layers the cut needs, in the file's (topological) order, and who consumes each.
  const needed = new Set<string>();
  const stack = [layer];
  while (stack.length) {
    const n = stack.pop()!;
    if (needed.has(n)) continue;
    const l = byName.get(n);
    if (!l) throw new Error(`layer '${n}' is referenced but not defined`);
    needed.add(n);
    stack.push(...inboundNames(l));
  }
  const consumers = new Map<string, KerasLayer[]>();
  for (const l of layers) if (needed.has(l.name) && l.name !== layer) for (const i of inboundNames(l)) consumers.set(i, [...(consumers.get(i) ?? []), l]);
  const soleConsumer = (n: string) => (n !== layer && consumers.get(n)?.length === 1 ? consumers.get(n)![0] : undefined);

  const nodes: OnnxNode[] = [];
  const inits: OnnxInitializer[] = [];
  const values = new Map<string, Value>();
  const folded = new Set<string>();
  let inputSize = 0;
  let flops = 0;
  const input = (l: KerasLayer, k = 0): Value => {
    const v = values.get(inboundNames(l)[k]);
    if (!v) throw new Error(`layer ${l.name}: input not computed`);
    return v;
  };
  const applyPending = (l: KerasLayer, v: Value): Value => {
    if (!v.pendingPads) return v;
    // A ZeroPadding2D whose only consumer could not absorb it: an explicit Pad.
    const [t, le, b, r] = v.pendingPads;
    const name = `${l.name}__pad`;
    inits.push({ name: `${name}_amounts`, dims: [8], data: BigInt64Array.from([0, 0, t, le, 0, 0, b, r].map(BigInt)) });
    nodes.push({ op: "Pad", inputs: [v.tensor, `${name}_amounts`], outputs: [name], attrs: { mode: "constant" } });
    return { tensor: name, shape: [v.shape[0], v.shape[1] + t + b, v.shape[2] + le + r] };
  };
  const channelsLast = (l: KerasLayer) => {
    const f = l.config.data_format;
    if (f !== undefined && f !== "channels_last") throw new Error(`layer ${l.name}: data_format ${String(f)} is not supported (channels_last only)`);
  };

  for (const l of layers) {
    if (!needed.has(l.name)) continue;
    const c = l.config;
    const where = `layer ${l.name} (${l.class_name})`;
    switch (l.class_name) {
      case "InputLayer": {
        const s = c.batch_input_shape as (number | null)[] | undefined;
        if (!s || s.length !== 4 || s[3] !== 3 || !s[1] || s[1] !== s[2]) throw new Error(`${where}: input shape [${s?.join(", ")}] must be [N, S, S, 3]`);
        if (inputSize) throw new Error("more than one input layer");
        inputSize = s[1];
        nodes.push({ op: "Transpose", inputs: ["input"], outputs: [l.name], attrs: { perm: [0, 3, 1, 2] } });
        values.set(l.name, { tensor: l.name, shape: [3, inputSize, inputSize] });
        break;
      }
      case "ZeroPadding2D": {
        channelsLast(l);
        const v = applyPending(l, input(l));
        const [t, b, le, r] = zeroPadding(c.padding, where);
        const next = soleConsumer(l.name);
        // Zero padding then a 'valid' conv is the conv with those pads (ONNX pads with zeros).
        values.set(l.name, next?.class_name === "Conv2D" && next.config.padding === "valid" ? { ...v, pendingPads: [t, le, b, r] } : applyPending(l, { ...v, pendingPads: [t, le, b, r] }));
        break;
      }
      case "Conv2D": {
        channelsLast(l);
        const v = input(l);
        const [kh, kw] = pair(c.kernel_size, where);
        const [sh, sw] = pair(c.strides ?? 1, where);
        const [dh, dw] = pair(c.dilation_rate ?? 1, where);
        if ((c.groups ?? 1) !== 1) throw new Error(`${where}: grouped convolutions are not supported`);
        const cin = v.shape[0];
        const cout = c.filters as number;
        const padding = c.padding as "valid" | "same";
        if (padding !== "valid" && padding !== "same") throw new Error(`${where}: padding '${String(padding)}' is not supported`);
        if (v.pendingPads && padding !== "valid") throw new Error(`${where}: internal: pending zero padding before a 'same' conv`);
        const [pt, pl, pb, pr] = v.pendingPads ?? [0, 0, 0, 0];
        const ah = convAxis(v.shape[1] + pt + pb, kh, sh, dh, padding);
        const aw = convAxis(v.shape[2] + pl + pr, kw, sw, dw, padding);
        let kernel = kerasKernelToOnnx(weight(l.name, "kernel"), kh, kw, cin, cout);
        let bias: Float32Array | null = c.use_bias === false ? null : weight(l.name, "bias");
        const act = (c.activation as string | undefined) ?? "linear";
        if (act !== "linear" && act !== "relu") throw new Error(`${where}: activation '${act}' is not supported`);
        let outName = l.name;
        const next = soleConsumer(l.name);
        if (act === "linear" && next?.class_name === "BatchNormalization") {
          const bn = batchNormParams(next, weight);
          ({ kernel, bias } = foldBatchNorm(kernel, bias, cout, bn));
          folded.add(next.name);
          outName = next.name;
        }
        inits.push({ name: `${l.name}/W`, dims: [cout, cin, kh, kw], data: kernel });
        if (bias) inits.push({ name: `${l.name}/B`, dims: [cout], data: bias });
        const convOut = act === "relu" ? `${l.name}__linear` : outName;
        nodes.push({
          op: "Conv",
          name: l.name,
          inputs: [v.tensor, `${l.name}/W`, ...(bias ? [`${l.name}/B`] : [])],
          outputs: [convOut],
          attrs: { kernel_shape: [kh, kw], strides: [sh, sw], dilations: [dh, dw], pads: [pt + ah.before, pl + aw.before, pb + ah.after, pr + aw.after] },
        });
        if (act === "relu") nodes.push({ op: "Relu", inputs: [convOut], outputs: [outName] });
        flops += 2 * kh * kw * cin * cout * ah.out * aw.out;
        values.set(outName, { tensor: outName, shape: [cout, ah.out, aw.out] });
        break;
      }
      case "BatchNormalization": {
        if (folded.has(l.name)) break;
        const v = applyPending(l, input(l));
        const axis = Array.isArray(c.axis) ? c.axis : [c.axis];
        if (axis.length !== 1 || (axis[0] !== 3 && axis[0] !== -1)) throw new Error(`${where}: only normalisation over the channel axis is supported`);
        const bn = batchNormParams(l, weight);
        const C = v.shape[0];
        inits.push(
          { name: `${l.name}/scale`, dims: [C], data: bn.gamma ?? new Float32Array(C).fill(1) },
          { name: `${l.name}/offset`, dims: [C], data: bn.beta ?? new Float32Array(C) },
          { name: `${l.name}/mean`, dims: [C], data: bn.mean },
          { name: `${l.name}/var`, dims: [C], data: bn.variance },
        );
        nodes.push({
          op: "BatchNormalization",
          inputs: [v.tensor, `${l.name}/scale`, `${l.name}/offset`, `${l.name}/mean`, `${l.name}/var`],
          outputs: [l.name],
          attrs: { epsilon: bn.epsilon },
          floatAttrs: ["epsilon"],
        });
        values.set(l.name, { tensor: l.name, shape: v.shape });
        break;
      }
      case "Activation": {
        if (c.activation !== "relu") throw new Error(`${where}: activation '${String(c.activation)}' is not supported`);
        const v = applyPending(l, input(l));
        nodes.push({ op: "Relu", inputs: [v.tensor], outputs: [l.name] });
        values.set(l.name, { tensor: l.name, shape: v.shape });
        break;
      }
      case "Add": {
        const ins = inboundNames(l).map((_, k) => applyPending(l, input(l, k)));
        if (ins.length < 2) throw new Error(`${where}: needs at least 2 inputs`);
        if (!ins.every((v) => v.shape.join() === ins[0].shape.join())) throw new Error(`${where}: inputs of different shapes ${ins.map((v) => `[${v.shape.join(", ")}]`).join(", ")}`);
        nodes.push({ op: ins.length === 2 ? "Add" : "Sum", inputs: ins.map((v) => v.tensor), outputs: [l.name] });
        values.set(l.name, { tensor: l.name, shape: ins[0].shape });
        break;
      }
      case "MaxPooling2D": {
        channelsLast(l);
        const v = applyPending(l, input(l));
        const [kh, kw] = pair(c.pool_size, where);
        const [sh, sw] = pair(c.strides ?? c.pool_size, where);
        const padding = c.padding as "valid" | "same";
        if (padding !== "valid" && padding !== "same") throw new Error(`${where}: padding '${String(padding)}' is not supported`);
        const ah = convAxis(v.shape[1], kh, sh, 1, padding);
        const aw = convAxis(v.shape[2], kw, sw, 1, padding);
        // ONNX MaxPool's pads never win the max, as in TensorFlow's 'same' pooling.
        nodes.push({ op: "MaxPool", inputs: [v.tensor], outputs: [l.name], attrs: { kernel_shape: [kh, kw], strides: [sh, sw], pads: [ah.before, aw.before, ah.after, aw.after] } });
        values.set(l.name, { tensor: l.name, shape: [v.shape[0], ah.out, aw.out] });
        break;
      }
      default:
        throw new Error(`${where} is not supported by the ONNX translation`);
    }
  }
  const out = values.get(layer);
  if (!out) throw new Error(`layer ${layer}: output not computed`);
  const fin = applyPending(target, out);
  const [C, H, W] = fin.shape;
  nodes.push({ op: "Transpose", inputs: [fin.tensor], outputs: ["features"], attrs: { perm: [0, 2, 3, 1] } });
  return {
    graph: {
      name: `keras-to-${layer}`,
      inputs: [{ name: "input", shape: ["N", inputSize, inputSize, 3] }],
      outputs: [{ name: "features", shape: ["N", H, W, C] }],
      nodes,
      initializers: inits,
    },
    inputSize,
    outShape: [H, W, C],
    flops,
    foldedBatchNorms: folded.size,
  };
}

function batchNormParams(l: KerasLayer, weight: (l: string, w: string) => Float32Array): BatchNormParams {
  const c = l.config;
  const eps = c.epsilon;
  if (typeof eps !== "number") throw new Error(`layer ${l.name}: BatchNormalization without an epsilon`);
  return {
    gamma: c.scale === false ? undefined : weight(l.name, "gamma"),
    beta: c.center === false ? undefined : weight(l.name, "beta"),
    mean: weight(l.name, "moving_mean"),
    variance: weight(l.name, "moving_variance"),
    epsilon: eps,
  };
}
