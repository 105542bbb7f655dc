/**
 * The default encoder: Keras ResNet-50 (ImageNet weights), cut at `activation_39`, the last
 * ReLU of conv4: 14x14x1024 for a 224x224 input. Keras' ResNet-50 expects BGR with the ImageNet channel means subtracted
 * and no scaling ("caffe" preprocessing).
 *
 * Two backends compute the same features (same identity, float32 rounding apart): onnxruntime-
 * node (onnx.ts, multi-threaded, the default where it loads) and tfjs-wasm (single-threaded,
 * the fallback). SAT_ENCODER_BACKEND=onnx|tfjs|auto or the `backend` option chooses.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ModelFileError, OptionError, UserError } from "../errors.js";
import { packageRoot } from "../util/package-root.js";
import { loadTfjsEncoder, type Encoder, type Normalisation } from "./encoder.js";
import { loadOnnxKerasEncoder, onnxRuntimeStatus } from "./onnx.js";

export const RESNET50_LAYER = "activation_39";

export const RESNET50_NORMALISATION: Normalisation = {
  channelOrder: "bgr",
  scale: 1,
  mean: [103.939, 116.779, 123.68],
  std: [1, 1, 1],
};

/**
 * model.json of the ResNet-50 this package ships: the Keras ImageNet weights cut at
 * activation_39 (scripts/build-encoder-weights.mjs writes it into dist/weights/resnet50 at
 * build time; the licence is beside it).
 */
export function resnet50ModelPath(): string {
  const p = join(packageRoot(), "dist", "weights", "resnet50", "model.json");
  if (!existsSync(p)) throw new ModelFileError(`${p}: missing; the packaged ResNet-50 was not built (in a clone: npm run build)`);
  return p;
}

/** The layers of the packaged model: it ends at RESNET50_LAYER, so later layers are not in it. */
function checkPackagedLayer(layer: string): void {
  const mj = JSON.parse(readFileSync(resnet50ModelPath(), "utf8")) as { modelTopology: { model_config: { config: { layers: { name: string }[] } } } };
  if (!mj.modelTopology.model_config.config.layers.some((l) => l.name === layer)) {
    throw new OptionError(`ResNet-50 layer '${layer}': the packaged model ends at ${RESNET50_LAYER}; for a later layer use a tfjs encoder spec with a full model.json`);
  }
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
  if (layer !== RESNET50_LAYER) checkPackagedLayer(layer);
  const { backend, fallback } = resolveBackend(opts.backend ?? requestedBackend());
  const common = { modelPath: resnet50ModelPath(), layer, normalisation: RESNET50_NORMALISATION, name: `resnet50-${layer}` };
  if (backend === "onnx") return loadOnnxKerasEncoder({ ...common, threads: opts.threads });
  if (fallback && !fallbackNoted) {
    fallbackNoted = true;
    process.stderr.write(`sat: onnxruntime-node unavailable (${fallback}); ResNet-50 runs on tfjs-wasm, several times slower\n`);
  }
  return Object.assign(await loadTfjsEncoder(common), { backend: "tfjs" as const });
}
