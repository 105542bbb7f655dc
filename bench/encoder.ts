/**
 * Encoder speed: ResNet-50 cut at activation_39 on both backends, onnxruntime-node (all cores)
 * and tfjs-wasm (one thread under Node), ms/image, images/s and GFLOP/s at batch 1 and 8, on
 * preprocessed 224x224 inputs (decoding is measured separately: it runs on sharp's threads,
 * overlapped with encoding in `sat features`). The two backends are timed alternately in the
 * same run, so a busy machine slows both alike and their ratio stays meaningful.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { loadImage } from "../src/data/images.js";
import { readModelArtifacts } from "../src/encoder/io.js";
import { kerasToOnnx } from "../src/encoder/onnx-graph.js";
import { onnxRuntimeStatus } from "../src/encoder/onnx.js";
import { loadResNet50Encoder, resnet50ModelPath, RESNET50_LAYER, type BackendEncoder } from "../src/encoder/resnet.js";
import { SeededRandom } from "../src/util/rng.js";

interface Measurement {
  suite: "encoder";
  name: string;
  batch: number;
  images: number;
  seconds: number;
  imagesPerSecond: number;
  msPerImage?: number;
  gflops?: number;
  backend: string;
  threads?: number;
}

/** Random inputs (conv cost does not depend on content), so the bench needs no dataset. */
function randomImages(n: number, seed: number): Uint8Array[] {
  const rng = new SeededRandom(seed);
  return Array.from({ length: n }, () => {
    const a = new Uint8Array(224 * 224 * 3);
    for (let i = 0; i < a.length; i++) a[i] = Math.floor(rng.next() * 256);
    return a;
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function runEncoderBench(opts: { json: boolean; quick: boolean }): Promise<void> {
  const out = (m: Measurement) => {
    if (opts.json) console.log(JSON.stringify(m));
    else {
      const extra = m.msPerImage === undefined ? "" : `, ${m.msPerImage.toFixed(1)} ms/image${m.gflops ? `, ${m.gflops.toFixed(1)} GFLOP/s` : ""}`;
      console.log(`encoder ${m.name.padEnd(28)} batch ${String(m.batch).padStart(2)}: ${m.imagesPerSecond.toFixed(2)} images/s${extra} (${m.images} images in ${m.seconds.toFixed(2)} s, ${m.backend}${m.threads ? `, ${m.threads} thread${m.threads > 1 ? "s" : ""}` : ""})`);
    }
  };
  // FLOPs of the convolutions up to the cut (2 x multiply-adds), the same for both backends.
  const flops = kerasToOnnx(readModelArtifacts(resnet50ModelPath()).artifacts, RESNET50_LAYER).flops;
  if (!opts.json) console.log(`encoder: resnet50-${RESNET50_LAYER} = ${(flops / 1e9).toFixed(2)} GFLOP per image (convolutions)`);
  const encoders: BackendEncoder[] = [];
  const ort = onnxRuntimeStatus();
  if (ort.available) encoders.push(await loadTimed("onnx"));
  else if (!opts.json) console.log(`encoder: onnxruntime-node unavailable (${ort.reason}): tfjs-wasm only`);
  encoders.push(await loadTimed("tfjs"));
  async function loadTimed(backend: "onnx" | "tfjs"): Promise<BackendEncoder> {
    const t0 = performance.now();
    const enc = await loadResNet50Encoder(RESNET50_LAYER, { backend });
    if (!opts.json) console.log(`encoder: ${backend} loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s (L=${enc.L}, D=${enc.D})`);
    return enc;
  }

  const images = randomImages(16, 1);
  for (const enc of encoders) enc.encode(images.slice(0, 1)); // warm-up: kernels, arenas, wasm heap
  const msPer: Record<string, number> = {};
  for (const batch of [1, 8]) {
    const reps = opts.quick ? (batch === 1 ? 3 : 1) : batch === 1 ? 9 : 3;
    for (const enc of encoders) enc.encode(images.slice(0, batch));
    const times = new Map<BackendEncoder, number[]>(encoders.map((e) => [e, []]));
    for (let r = 0; r < reps; r++) {
      const ims = images.slice((r * batch) % 16, ((r * batch) % 16) + batch);
      for (const enc of encoders) {
        const t = performance.now();
        enc.encode(ims);
        times.get(enc)!.push((performance.now() - t) / 1000);
      }
    }
    for (const enc of encoders) {
      const ts = times.get(enc)!;
      const seconds = ts.reduce((a, b) => a + b, 0);
      // Median per call: robust to another process grabbing the cores for a moment.
      const msPerImage = (median(ts) * 1000) / batch;
      msPer[`${enc.backend}/${batch}`] = msPerImage;
      const threads = "threads" in enc ? (enc.threads as number) : 1;
      out({ suite: "encoder", name: "resnet50-activation_39", batch, images: reps * batch, seconds, imagesPerSecond: 1000 / msPerImage, msPerImage, gflops: flops / msPerImage / 1e6, backend: enc.backend === "onnx" ? "onnxruntime-node" : "tfjs-wasm", threads });
    }
    if (!opts.json && msPer[`onnx/${batch}`]) console.log(`encoder batch ${batch}: onnx ${(msPer[`tfjs/${batch}`] / msPer[`onnx/${batch}`]).toFixed(2)}x tfjs-wasm (same run)`);
  }
  // Decoding + resize + crop of a 500x375 JPEG (a typical Flickr photo size), 4 at a time.
  const jpeg = await sharp(Buffer.from(images[0].buffer), { raw: { width: 224, height: 224, channels: 3 } }).resize(500, 375, { fit: "fill" }).jpeg().toBuffer();
  const dir = mkdtempSync(join(tmpdir(), "sat-bench-"));
  try {
    const file = join(dir, "photo.jpg");
    writeFileSync(file, jpeg);
    const n = opts.quick ? 16 : 64;
    const t = performance.now();
    for (let i = 0; i < n; i += 4) await Promise.all([0, 1, 2, 3].map(() => loadImage(file)));
    const seconds = (performance.now() - t) / 1000;
    out({ suite: "encoder", name: "preprocess-500x375-jpeg", batch: 4, images: n, seconds, imagesPerSecond: n / seconds, backend: "sharp" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const enc of encoders) enc.dispose();
}
