/**
 * Tiny tfjs layers models the tests build and save to disk, standing in for ResNet-50 where
 * the question is the plumbing (loading from a path, cutting at a layer, layout, storage)
 * rather than the weights.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tf, tfReady } from "../../src/encoder/backend.js";
import { directorySaveHandler } from "../../src/encoder/io.js";
import { IDENTITY_NORMALISATION } from "../../src/encoder/encoder.js";
import { Vocabulary } from "../../src/data/vocab.js";
import { resolveModelConfig } from "../../src/model/config.js";
import { initParams } from "../../src/model/init.js";
import { saveModel } from "../../src/model/model-dir.js";

/**
 * input [S, S, 3] -> `feat`: 1x1 conv with an identity kernel (features = the normalised
 * input, so expected values are known exactly) -> `pooled`: 2x2 average pooling -> `mixed`:
 * 3x3 conv with seeded random weights + ReLU -> flatten -> dense(4) softmax.
 */
export async function buildTinyModel(dir: string, size = 16): Promise<string> {
  await tfReady();
  const input = tf.input({ shape: [size, size, 3] });
  const feat = tf.layers.conv2d({ filters: 3, kernelSize: 1, useBias: false, name: "feat", weights: [tf.reshape(tf.eye(3), [1, 1, 3, 3])] }).apply(input) as tf.SymbolicTensor;
  const pooled = tf.layers.averagePooling2d({ poolSize: 2, name: "pooled" }).apply(feat) as tf.SymbolicTensor;
  const mixed = tf.layers
    .conv2d({ filters: 5, kernelSize: 3, padding: "same", activation: "relu", name: "mixed", kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })
    .apply(pooled) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(mixed) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(flat) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: out });
  await m.save(directorySaveHandler(dir));
  m.dispose();
  return join(dir, "model.json");
}

/**
 * A hand-written tfjs graph model (the converter's format for TF SavedModels):
 * input [N, 8, 8, 3] -> `conv` (1x1, 2 filters, weights W below) -> `relu`.
 */
export const GRAPH_KERNEL = [
  [1, -1],
  [0.5, 2],
  [-2, 0.25],
]; // [in channel][out channel]

export function writeTinyGraphModel(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const s = (v: string) => Buffer.from(v).toString("base64");
  const f32 = { type: "DT_FLOAT" };
  const dims = (d: number[]) => ({ dim: d.map((n) => ({ size: String(n) })) });
  const model = {
    format: "graph-model",
    generatedBy: "show-attend-tell tests",
    convertedBy: "hand-written",
    modelTopology: {
      node: [
        { name: "input", op: "Placeholder", attr: { dtype: f32, shape: { shape: dims([-1, 8, 8, 3]) } } },
        { name: "w", op: "Const", attr: { dtype: f32, value: { tensor: { dtype: "DT_FLOAT", tensorShape: dims([1, 1, 3, 2]) } } } },
        {
          name: "conv",
          op: "Conv2D",
          input: ["input", "w"],
          attr: { T: f32, strides: { list: { i: ["1", "1", "1", "1"] } }, padding: { s: s("VALID") }, data_format: { s: s("NHWC") }, dilations: { list: { i: ["1", "1", "1", "1"] } } },
        },
        { name: "relu", op: "Relu", input: ["conv"], attr: { T: f32 } },
      ],
      library: {},
      versions: { producer: 1 },
    },
    weightsManifest: [{ paths: ["w.bin"], weights: [{ name: "w", shape: [1, 1, 3, 2], dtype: "float32" }] }],
  };
  writeFileSync(join(dir, "w.bin"), Buffer.from(new Float32Array(GRAPH_KERNEL.flat()).buffer));
  writeFileSync(join(dir, "model.json"), JSON.stringify(model));
  return join(dir, "model.json");
}

/**
 * A captioning model directory on the tiny encoder (16x16 input -> `mixed`: 8x8 grid, 5
 * channels, L = 64, D = 5) with a tiny randomly initialised decoder whose vocabulary comes from
 * `captions`. Returns the model directory (`<dir>/model`; the encoder goes to `<dir>/encoder`).
 */
export async function buildTinyCaptionModel(dir: string, captions: string[], training?: Record<string, unknown>): Promise<string> {
  const encoderPath = await buildTinyModel(join(dir, "encoder"), 16);
  const vocab = Vocabulary.build(captions);
  const config = resolveModelConfig({ vocabSize: vocab.size, embedDim: 8, hiddenDim: 12, attnDim: 6, featureDim: 5, numLocations: 64 });
  const params = initParams(config, 3);
  // Larger output weights than the init's 0.01, so captions differ by image and are not all "<end>".
  for (let i = params.length - config.vocabSize * (config.embedDim + 1); i < params.length; i++) params[i] *= 100;
  const model = join(dir, "model");
  saveModel(model, {
    config,
    vocab: vocab.toJSON(),
    encoder: { spec: { kind: "tfjs", modelPath: encoderPath, layer: "mixed", normalisation: IDENTITY_NORMALISATION }, name: "tiny-mixed", grid: [8, 8], L: 64, D: 5 },
    training,
    params,
  });
  return model;
}
