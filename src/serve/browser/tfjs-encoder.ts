/**
 * ResNet-50 in the browser (a chunk of its own, loaded only for resnet50 models): the
 * server's copy of the Keras network (/v1/encoder/files/model.json and its weight shards),
 * cut at the model's layer, fed with the model's recorded normalisation through the same
 * normaliseInto the server uses. tfjs runs on WebGL where the browser has it, else on
 * WebAssembly (binaries served from the page's own assets), else on plain JS.
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { preprocessFor } from "../../data/images.js";
import { normaliseInto } from "../../encoder/encoder.js";
import { RESNET50_LAYER, RESNET50_NORMALISATION } from "../../encoder/resnet.js";
import type { BrowserEncoder, EncoderInfo, LoadOptions, TfjsBackend } from "./encoders.js";

/** Where build-web.mjs puts tfjs-backend-wasm's binaries. */
const WASM_DIR = "/assets/wasm/";

async function pickBackend(base: string, order: readonly TfjsBackend[]): Promise<TfjsBackend> {
  for (const b of order) {
    if (b === "wasm") setWasmPaths(new URL(WASM_DIR, base || self.location.origin).href);
    try {
      if (await tf.setBackend(b)) {
        await tf.ready();
        return b;
      }
    } catch {
      // This backend cannot start here (no WebGL context, no WebAssembly): try the next.
    }
  }
  throw new Error(`none of the tfjs backends ${order.join(", ")} could start in this browser`);
}

export async function loadResNetInBrowser(info: EncoderInfo, o: LoadOptions): Promise<BrowserEncoder> {
  const backend = await pickBackend(o.base, o.backends ?? ["webgl", "wasm", "cpu"]);
  const layer = (info.spec as { layer?: string }).layer ?? RESNET50_LAYER;
  // The normalisation the training features were made with, as model.json records it.
  const norm = info.identity?.normalisation ?? RESNET50_NORMALISATION;
  const m = await tf.loadLayersModel(`${o.base}/v1/encoder/files/model.json`);
  let sub: tf.LayersModel;
  try {
    sub = tf.model({ inputs: m.inputs, outputs: m.getLayer(layer).output as tf.SymbolicTensor });
  } catch {
    m.dispose();
    throw new Error(`the served ResNet-50 has no layer '${layer}'`);
  }
  const size = m.inputs[0].shape[1] ?? 224;
  const out = sub.outputs[0].shape;
  const L = (out[1] ?? 0) * (out[2] ?? 0);
  const D = out[3] ?? 0;
  return {
    name: `resnet50-${layer}`,
    L,
    D,
    preprocess: info.identity?.preprocess ?? preprocessFor(size),
    backend,
    async encode(rgb: Uint8Array): Promise<Float32Array> {
      const x = tf.tensor4d(normaliseInto([rgb], size, norm), [1, size, size, 3]);
      const y = sub.predict(x) as tf.Tensor;
      try {
        // NHWC flattened is [L, D], the order the decoder reads.
        return (await y.data()) as Float32Array;
      } finally {
        x.dispose();
        y.dispose();
      }
    },
    dispose: () => m.dispose(),
  };
}
