/**
 * The in-browser captioning worker: loads the served model (model.ts) and its encoder
 * (encoders.ts) once, then captions preprocessed crops with the server's own decoding rules
 * (src/decode/caption-features.ts: the same beam options and caption structure as Captioner).
 */
import { captionFeaturesWith } from "../../decode/caption-features.js";
import { loadBrowserEncoder, type BrowserEncoder } from "./encoders.js";
import { loadBrowserModel, type BrowserModel } from "./model.js";
import type { FromWorker, ToWorker } from "./protocol.js";

// The worker's global scope, typed by hand: the project compiles against the DOM library,
// whose `self` is a Window.
const scope = self as unknown as { postMessage(m: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
const post = (m: FromWorker) => scope.postMessage(m);

let loaded: Promise<{ model: BrowserModel; encoder: BrowserEncoder }> | null = null;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function load(msg: Extract<ToWorker, { type: "load" }>): Promise<{ model: BrowserModel; encoder: BrowserEncoder }> {
  const t0 = performance.now();
  const model = await loadBrowserModel(msg.base, (stage, done, total) => post({ type: "progress", stage, done, total }));
  post({ type: "progress", stage: "encoder", done: 0, total: 0 });
  const encoder = await loadBrowserEncoder(model.meta.encoder, { base: msg.base, backends: msg.backends });
  post({
    type: "loaded",
    info: {
      encoder: encoder.name,
      backend: encoder.backend,
      preprocess: encoder.preprocess,
      grid: model.meta.encoder.grid,
      parameters: model.engine.params.length,
      loadMs: performance.now() - t0,
    },
  });
  return { model, encoder };
}

scope.onmessage = (e) => {
  const msg = e.data;
  if (msg.type === "load") {
    loaded ??= load(msg);
    // A failed load may be retried (the server may have been briefly unreachable).
    loaded.catch((err) => {
      loaded = null;
      post({ type: "load-error", message: message(err) });
    });
    return;
  }
  void (async () => {
    try {
      if (!loaded) throw new Error("the model is not loaded");
      const { model, encoder } = await loaded;
      const t0 = performance.now();
      const features = await encoder.encode(msg.rgb);
      const t1 = performance.now();
      const [captions] = captionFeaturesWith(model.engine, model.words, features, 1, msg.options);
      post({ type: "result", id: msg.id, result: { captions, timing: { encodeMs: t1 - t0, decodeMs: performance.now() - t1 } } });
    } catch (err) {
      post({ type: "error", id: msg.id, message: message(err) });
    }
  })();
};
