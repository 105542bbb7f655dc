/**
 * The decode bench's 1,000-image split: a default-size model (K≈8500, n=1024, D=1024, L=196)
 * with fixed-seed random weights, a dataset of `images` test images with one caption each,
 * and their feature store of synthetic annotation vectors (|N(0,1)|, fixed seed per image),
 * written by the real extraction code through a stand-in encoder. Everything goes under
 * `dir` and is built from seeds, so two commits time `sat eval --model` on the same inputs.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { loadDataset } from "../src/data/datasets.js";
import { extractFeatures } from "../src/features/extract.js";
import { preprocessFor } from "../src/data/images.js";
import { Vocabulary } from "../src/data/vocab.js";
import { IDENTITY_NORMALISATION, type Encoder, type EncoderIdentity } from "../src/encoder/encoder.js";
import { resolveModelConfig } from "../src/model/config.js";
import { paramLayout } from "../src/model/layout.js";
import { saveModel } from "../src/model/model-dir.js";
import { SeededRandom } from "../src/util/rng.js";

export interface DecodeSplit {
  model: string;
  features: string;
  data: string;
  images: number;
  vocabSize: number;
}

const GRID = 14;
const D = 1024;
/** Side of the generated image files: the stand-in encoder never looks at their pixels' content beyond the seed. */
const SIDE = 8;

/** Synthetic features for photos: each image's block is |N(0,1)| from a seed its pixels carry. */
function syntheticEncoder(): Encoder {
  const L = GRID * GRID;
  const preprocess = preprocessFor(SIDE);
  const id: EncoderIdentity = {
    name: "bench-synthetic-features",
    modelSha256: "0".repeat(64),
    layer: "none",
    L,
    D,
    grid: [GRID, GRID],
    inputSize: SIDE,
    normalisation: IDENTITY_NORMALISATION,
    preprocess,
  };
  return {
    id,
    L,
    D,
    inputSize: SIDE,
    preprocess,
    encode(images) {
      const out = new Float32Array(images.length * L * D);
      images.forEach((px, i) => {
        // The image's number is in its first pixel (red + 256 green), as written below.
        const rng = new SeededRandom(1 + px[0] + 256 * px[1]);
        for (let k = i * L * D; k < (i + 1) * L * D; k++) out[k] = Math.abs(rng.normal());
      });
      return out;
    },
    dispose() {},
  };
}

export async function buildDecodeSplit(dir: string, images: number): Promise<DecodeSplit> {
  if (images > 65536) throw new Error(`buildDecodeSplit: at most 65536 images (got ${images})`);
  const imgDir = join(dir, "images");
  mkdirSync(imgDir, { recursive: true });
  const words = Array.from({ length: 8496 }, (_, i) => `w${i}`);
  const rows: string[] = [];
  for (let i = 0; i < images; i++) {
    const name = `img-${String(i).padStart(5, "0")}.png`;
    await sharp({ create: { width: SIDE, height: SIDE, channels: 3, background: { r: i % 256, g: Math.floor(i / 256), b: 7 } } }).png().toFile(join(imgDir, name));
    const caption = Array.from({ length: 8 }, (_, k) => words[(i * 131 + k * 17) % words.length]).join(" ");
    rows.push(JSON.stringify({ image: `images/${name}`, caption, split: "test" }));
  }
  const data = join(dir, "data.jsonl");
  writeFileSync(data, rows.join("\n") + "\n");
  const features = join(dir, "features");
  await extractFeatures({ images: loadDataset(data).images, out: features, encoder: syntheticEncoder() });

  const vocab = Vocabulary.build([words.join(" ")]);
  const config = resolveModelConfig({ vocabSize: vocab.size });
  const rng = new SeededRandom(5);
  const params = new Float32Array(paramLayout(config).total).map(() => 0.01 * rng.normal());
  const model = join(dir, "model");
  const enc = syntheticEncoder();
  saveModel(model, { config, vocab: vocab.toJSON(), encoder: { spec: null, name: enc.id.name, grid: enc.id.grid, L: enc.L, D: enc.D }, params });
  return { model, features, data, images, vocabSize: vocab.size };
}
