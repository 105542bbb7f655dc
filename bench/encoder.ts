/**
 * Encoder throughput: ResNet-50 cut at activation_39 on tfjs-backend-wasm (single thread
 * under Node), images/s at batch 1 and batched, on preprocessed 224x224 inputs (decoding is
 * measured separately: it runs on sharp's threads, overlapped with encoding in `sat features`).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { loadImage } from "../src/data/images.js";
import { loadResNet50Encoder } from "../src/encoder/resnet.js";
import { SeededRandom } from "../src/model/rng.js";

interface Measurement {
  suite: "encoder";
  name: string;
  batch: number;
  images: number;
  seconds: number;
  imagesPerSecond: number;
  backend: string;
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

export async function runEncoderBench(opts: { json: boolean; quick: boolean }): Promise<void> {
  const out = (m: Measurement) => {
    if (opts.json) console.log(JSON.stringify(m));
    else console.log(`encoder ${m.name.padEnd(28)} batch ${String(m.batch).padStart(2)}: ${m.imagesPerSecond.toFixed(2)} images/s (${m.images} images in ${m.seconds.toFixed(2)} s, ${m.backend})`);
  };
  const t0 = performance.now();
  const enc = await loadResNet50Encoder();
  const loadSeconds = (performance.now() - t0) / 1000;
  if (!opts.json) console.log(`encoder: ${enc.id.name} loaded in ${loadSeconds.toFixed(1)} s (L=${enc.L}, D=${enc.D})`);
  const images = randomImages(16, 1);
  enc.encode(images.slice(0, 1)); // warm-up: first call compiles kernels and grows the wasm heap
  for (const batch of [1, 8]) {
    const reps = opts.quick ? (batch === 1 ? 3 : 1) : batch === 1 ? 12 : 3;
    enc.encode(images.slice(0, batch));
    const t = performance.now();
    for (let r = 0; r < reps; r++) enc.encode(images.slice((r * batch) % 16, ((r * batch) % 16) + batch));
    const seconds = (performance.now() - t) / 1000;
    out({ suite: "encoder", name: "resnet50-activation_39", batch, images: reps * batch, seconds, imagesPerSecond: (reps * batch) / seconds, backend: "tfjs-wasm" });
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
  enc.dispose();
}
