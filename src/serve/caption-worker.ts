/**
 * A caption worker thread: holds one Captioner (decoder engine + image encoder) and captions
 * one uploaded image at a time. The native engine and the tfjs encoder are synchronous, so
 * they run here, never on the server's event loop. Overlays are rendered here too: the
 * Gaussian upsampling of one map is ~15 ms of synchronous JavaScript, 60 maps a request at
 * beam 3 / 20 words, which would stall the event loop as much as the encoder.
 *
 * Captions are computed exactly as Captioner.captionImages does (prepareImage with the
 * encoder's preprocessing, encode, captionFeatures), so the API and `sat caption` agree.
 */
import { parentPort } from "node:worker_threads";
import sharp from "sharp";
import { UserError } from "../errors.js";
import { Captioner } from "../decode/captioner.js";
import { attentionSigma } from "../decode/defaults.js";
import { ImageError, prepareImage } from "../data/images.js";
import type { Encoder } from "../encoder/encoder.js";
import { ModelFileError } from "../model/model-dir.js";
import { renderSingleMap } from "../viz/index.js";
import type { CaptionMessage, CaptionResult, FromWorker, ServedCaption, ToWorker } from "./protocol.js";

const port = parentPort!;
let captioner: Captioner | null = null;
let encoder: Encoder | null = null;

/** Overlays are drawn at the paper's 224-pixel crop whatever the encoder's input size. */
const OVERLAY_SIZE = 224;

async function overlays(captions: ServedCaption[], crop: Uint8Array, inputSize: number, grid: [number, number]): Promise<void> {
  // renderSingleMap takes raw RGB only at its own size; other crops go in as PNG to be scaled.
  const image = inputSize === OVERLAY_SIZE ? crop : await sharp(crop, { raw: { width: inputSize, height: inputSize, channels: 3 } }).png().toBuffer();
  for (const c of captions) {
    for (const a of c.attention) {
      const { png } = await renderSingleMap({ image, alpha: a.alpha, location: a.location, grid: grid[0], size: OVERLAY_SIZE, sigma: attentionSigma(OVERLAY_SIZE) });
      a.overlayPng = png.toString("base64");
    }
  }
}

async function caption(msg: CaptionMessage): Promise<CaptionResult> {
  const c = captioner!;
  const enc = encoder!;
  const t0 = performance.now();
  const img = await prepareImage(msg.bytes, enc.preprocess, "uploaded image");
  const t1 = performance.now();
  const feats = enc.encode([img.pixels]);
  const t2 = performance.now();
  const o = msg.options;
  const [captions] = c.captionFeatures(feats, 1, { beamWidth: o.beamWidth, topN: o.topN, maxLength: o.maxLength });
  const t3 = performance.now();
  if (o.overlay) await overlays(captions, img.pixels, enc.inputSize, c.grid);
  const t4 = performance.now();
  return {
    captions,
    image: { width: img.width, height: img.height, format: img.format },
    timing: { prepareMs: t1 - t0, encodeMs: t2 - t1, decodeMs: t3 - t2, overlayMs: t4 - t3 },
  };
}

function send(m: FromWorker): void {
  port.postMessage(m);
}

// One message at a time: the pool never sends a job to a busy worker.
port.on("message", (msg: ToWorker) => {
  void (async () => {
    if (msg.type === "close") {
      // Free the engine's and the encoder's native memory, then let the thread end by itself.
      captioner?.dispose();
      captioner = null;
      port.close();
      return;
    }
    if (msg.type === "init") {
      try {
        captioner = Captioner.load(msg.modelDir, { engine: msg.engine });
        encoder = await captioner.getEncoder();
        send({ type: "ready", info: { meta: captioner.meta, engine: captioner.engine.kind, inputSize: encoder.inputSize } });
      } catch (e) {
        send({ type: "init-error", message: (e as Error)?.message ?? String(e), user: e instanceof ModelFileError || e instanceof UserError });
      }
      return;
    }
    try {
      send({ type: "result", id: msg.id, result: await caption(msg) });
    } catch (e) {
      if (e instanceof ImageError) send({ type: "failure", id: msg.id, image: true, reason: e.reason, message: e.message });
      else send({ type: "failure", id: msg.id, image: false, reason: "internal", message: (e as Error)?.message ?? String(e) });
    }
  })();
});
