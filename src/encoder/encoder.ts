/**
 * The image encoder: a frozen CNN cut at a convolutional layer, giving for each image the
 * annotation vectors a_1..a_L in R^D (paper Sec. 3.1.1). Any tfjs layers or graph model on
 * disk plus a layer (or node) name makes one; ResNet-50 is the default (resnet.ts).
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { UserError } from "../errors.js";
import type { EncoderIdentity, Normalisation } from "../data/encoder-identity.js";
import { preprocessFor, type PreprocessOptions } from "../data/images.js";
import { tf, tfReady } from "./backend.js";
import { IdentifiedEncoder } from "./identified.js";
import { artifactsHandler, readModelArtifacts } from "./io.js";

export type { EncoderIdentity, Normalisation } from "../data/encoder-identity.js";

export interface Encoder {
  readonly id: EncoderIdentity;
  readonly L: number;
  readonly D: number;
  /** Side of the square input (224 for ResNet-50). */
  readonly inputSize: number;
  readonly preprocess: PreprocessOptions;
  /**
   * Encodes N preprocessed images (each inputSize x inputSize x 3, RGB, 0..255) into one
   * Float32Array laid out [N, L, D] (location-major, the order the decoder reads).
   */
  encode(images: readonly Uint8Array[]): Float32Array;
  dispose(): void;
}

export const IDENTITY_NORMALISATION: Normalisation = { channelOrder: "rgb", scale: 1, mean: [0, 0, 0], std: [1, 1, 1] };

export interface TfjsEncoderOptions {
  /** Path of a tfjs model.json (layers or graph model). */
  modelPath: string;
  /** Layer name (layers model) or node name (graph model) whose output is the feature map. */
  layer: string;
  normalisation?: Normalisation;
  /** Name recorded in the identity; default `<model folder>-<layer>`. */
  name?: string;
}

/** Fills a [N, S, S, 3] float input from RGB bytes with the given normalisation. */
export function normaliseInto(images: readonly Uint8Array[], size: number, n: Normalisation, out = new Float32Array(images.length * size * size * 3)): Float32Array {
  const px = size * size;
  const [c0, c1, c2] = n.channelOrder === "bgr" ? [2, 1, 0] : [0, 1, 2];
  const k0 = n.scale / n.std[0], k1 = n.scale / n.std[1], k2 = n.scale / n.std[2];
  const b0 = n.mean[0] / n.std[0], b1 = n.mean[1] / n.std[1], b2 = n.mean[2] / n.std[2];
  images.forEach((img, b) => {
    if (img.length !== px * 3) throw new RangeError(`image ${b} has ${img.length} bytes, expected ${size}x${size}x3`);
    let o = b * px * 3;
    for (let i = 0; i < px * 3; i += 3) {
      out[o++] = img[i + c0] * k0 - b0;
      out[o++] = img[i + c1] * k1 - b1;
      out[o++] = img[i + c2] * k2 - b2;
    }
  });
  return out;
}

type Runner = (x: tf.Tensor4D) => tf.Tensor;

class TfjsEncoder extends IdentifiedEncoder {
  constructor(
    readonly id: EncoderIdentity,
    private readonly run: Runner,
    private readonly disposer: () => void,
  ) {
    super();
  }
  encode(images: readonly Uint8Array[]): Float32Array {
    if (images.length === 0) return new Float32Array(0);
    const s = this.inputSize;
    const input = normaliseInto(images, s, this.id.normalisation);
    const y = tf.tidy(() => this.run(tf.tensor4d(input, [images.length, s, s, 3])));
    try {
      const expect = images.length * this.L * this.D;
      if (y.size !== expect) throw new Error(`encoder produced ${y.shape.join("x")}, expected ${images.length}x${this.L}x${this.D}`);
      // NHWC output flattened is already [N, h*w, C] = [N, L, D].
      return y.dataSync() as Float32Array;
    } finally {
      y.dispose();
    }
  }
  dispose(): void {
    this.disposer();
  }
}

function shapeToGrid(shape: readonly (number | null)[], where: string): { grid: [number, number]; D: number } {
  if (shape.length === 4 && shape[1] && shape[2] && shape[3]) return { grid: [shape[1], shape[2]], D: shape[3] };
  if (shape.length === 2 && shape[1]) return { grid: [1, 1], D: shape[1] };
  throw new UserError(`${where}: output shape [${shape.join(", ")}] is neither [N, h, w, D] nor [N, D]`);
}

/**
 * Loads a tfjs model from disk and cuts it at `layer`. Layers models (Keras) are cut with a
 * sub-model ending at the layer's output; graph models are executed up to the named node.
 */
export async function loadTfjsEncoder(opts: TfjsEncoderOptions): Promise<Encoder> {
  await tfReady();
  const path = resolve(opts.modelPath);
  const { artifacts, sha256 } = readModelArtifacts(path);
  const norm = opts.normalisation ?? IDENTITY_NORMALISATION;
  const topo = artifacts.modelTopology as Record<string, unknown>;
  const isGraph = artifacts.format === "graph-model" || Array.isArray(topo?.node);
  let run: Runner;
  let disposer: () => void;
  let inputSize: number;
  let outShape: (number | null)[];
  if (!isGraph) {
    const m = await tf.loadLayersModel(artifactsHandler(artifacts));
    let layer: tf.layers.Layer;
    try {
      layer = m.getLayer(opts.layer);
    } catch {
      m.dispose();
      throw new UserError(`${path}: no layer named '${opts.layer}'`);
    }
    const sub = tf.model({ inputs: m.inputs, outputs: layer.output as tf.SymbolicTensor });
    const inShape = m.inputs[0].shape;
    if (inShape.length !== 4 || inShape[3] !== 3 || !inShape[1] || inShape[1] !== inShape[2]) {
      m.dispose();
      throw new UserError(`${path}: input shape [${inShape.join(", ")}] must be [N, S, S, 3]`);
    }
    inputSize = inShape[1];
    outShape = sub.outputs[0].shape;
    run = (x) => sub.predict(x) as tf.Tensor;
    disposer = () => m.dispose();
  } else {
    const g = await tf.loadGraphModel(artifactsHandler(artifacts));
    const inShape = g.inputs[0]?.shape ?? [];
    if (inShape.length !== 4 || inShape[3] !== 3 || !inShape[1] || inShape[1] !== inShape[2]) {
      g.dispose();
      throw new UserError(`${path}: input shape [${inShape.join(", ")}] must be [N, S, S, 3]`);
    }
    inputSize = inShape[1];
    run = (x) => g.execute(x, opts.layer) as tf.Tensor;
    // A graph model does not tell a node's shape statically: run one blank image to learn it.
    let probe: tf.Tensor;
    try {
      probe = tf.tidy(() => run(tf.zeros([1, inputSize, inputSize, 3])));
    } catch (e) {
      g.dispose();
      throw new UserError(`${path}: cannot execute node '${opts.layer}' (${(e as Error).message.split("\n")[0]})`);
    }
    outShape = probe.shape;
    probe.dispose();
    disposer = () => g.dispose();
  }
  const { grid, D } = shapeToGrid(outShape, `${path} layer '${opts.layer}'`);
  const id: EncoderIdentity = {
    name: opts.name ?? `${path.split("/").slice(-2, -1)[0] ?? "model"}-${opts.layer}`,
    modelSha256: sha256,
    layer: opts.layer,
    L: grid[0] * grid[1],
    D,
    grid,
    inputSize,
    normalisation: norm,
    preprocess: preprocessFor(inputSize),
  };
  return new TfjsEncoder(id, run, disposer);
}

/** A short stable digest of an identity, for file names and quick comparisons. */
export function identityDigest(id: EncoderIdentity): string {
  return createHash("sha256").update(JSON.stringify(id)).digest("hex").slice(0, 16);
}
