/**
 * A caption worker thread: holds one Captioner (decoder engine + image encoder) and captions
 * the batches of uploaded images the pool sends it: the images of a batch go through the
 * encoder together and through one beam search, all their beams in each engine step (beam
 * search keeps images independent, so every image gets the captions it would get alone).
 * The native engine and the encoder are synchronous, so they run here, never on the server's
 * event loop. Overlays are rendered here too: the Gaussian upsampling of one map is ~15 ms
 * of synchronous JavaScript, 60 maps a request at beam 3 / 20 words, which would stall the
 * event loop as much as the encoder.
 *
 * Captions are computed exactly as Captioner.captionImages does (prepareImage with the
 * encoder's preprocessing, encode, captionFeatures), so the API and `sat caption` agree.
 */
import { parentPort } from "node:worker_threads";
import sharp from "sharp";
import { UserError } from "../errors.js";
import { Captioner } from "../decode/captioner.js";
import { attentionSigma } from "../viz/attention-sigma.js";
import { ImageError, prepareImage, type PreparedImage } from "../data/images.js";
import type { Encoder } from "../encoder/encoder.js";
import { ModelFileError } from "../model/model-dir.js";
import { renderSingleMap } from "../viz/index.js";
import { releaseUpload, type CaptionJob, type CaptionMessage, type CaptionResult, type FromWorker, type ServedCaption, type ToWorker } from "./protocol.js";

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

function failure(id: number, e: unknown): FromWorker {
  if (e instanceof ImageError) return { type: "failure", id, image: true, reason: e.reason, message: e.message };
  return { type: "failure", id, image: false, reason: "internal", message: (e as Error)?.message ?? String(e) };
}

/** Captions a batch, answering each job as soon as its own result (or failure) is known. */
async function captionBatch(msg: CaptionMessage): Promise<void> {
  const c = captioner!;
  const enc = encoder!;
  const prepared: { job: CaptionJob; img: PreparedImage; prepareMs: number }[] = [];
  for (const job of msg.jobs) {
    const t = performance.now();
    try {
      prepared.push({ job, img: await prepareImage(job.bytes, enc.preprocess, "uploaded image"), prepareMs: performance.now() - t });
    } catch (e) {
      send(failure(job.id, e));
    } finally {
      releaseUpload(job); // decoded into img.pixels; the file itself is not needed again
    }
  }
  if (prepared.length === 0) return;
  let captions: ServedCaption[][];
  const t1 = performance.now();
  let t2 = t1;
  try {
    const feats = enc.encode(prepared.map((p) => p.img.pixels));
    t2 = performance.now();
    // The pool batches only jobs whose decoding options agree.
    const o = prepared[0].job.options;
    captions = c.captionFeatures(feats, prepared.length, { beamWidth: o.beamWidth, topN: o.topN, maxLength: o.maxLength });
  } catch (e) {
    for (const p of prepared) send(failure(p.job.id, e));
    return;
  }
  const t3 = performance.now();
  for (const [k, { job, img, prepareMs }] of prepared.entries()) {
    try {
      const t = performance.now();
      if (job.options.overlay) await overlays(captions[k], img.pixels, enc.inputSize, c.grid);
      const result: CaptionResult = {
        captions: captions[k],
        image: { width: img.width, height: img.height, format: img.format },
        timing: { prepareMs, encodeMs: t2 - t1, decodeMs: t3 - t2, overlayMs: performance.now() - t },
      };
      send({ type: "result", id: job.id, result });
    } catch (e) {
      send(failure(job.id, e));
    }
  }
}

function send(m: FromWorker): void {
  port.postMessage(m);
}

// One message at a time: the pool never sends a batch to a busy worker.
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
      await captionBatch(msg);
    } catch (e) {
      // Jobs answered already are not in the pool's batch any more: it drops the repeats.
      for (const job of msg.jobs) send(failure(job.id, e));
    }
  })();
});
