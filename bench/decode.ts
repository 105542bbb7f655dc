/**
 * Captioning latency and throughput (issue target: one photo end to end in under 400 ms):
 * - decoder only: beam 3 over a default-size model (K=8500, n=1024, ...) for one image, and
 *   captions/s for a batch of 64 images decoded together;
 * - end to end: decode + preprocess + ResNet-50 + beam 3 for one generated 224x224 photo.
 * Random weights never choose <end> reliably, so <end> is suppressed and every caption runs to
 * the maximum length (16 words): the worst case.
 */
import { resolveModelConfig } from "../src/model/config.js";
import { paramLayout } from "../src/model/layout.js";
import { SeededRandom } from "../src/model/rng.js";
import { createEngine } from "../src/model/engine-factory.js";
import { beamSearch } from "../src/decode/beam.js";
import { loadResNet50Encoder } from "../src/encoder/resnet.js";
import { prepareImage } from "../src/data/images.js";
import { generateScenes, renderScenePng } from "../src/data/synthetic/index.js";

interface Row {
  suite: "decode";
  name: string;
  ms: number;
  captionsPerSec?: number;
  engine: string;
}

export async function runDecodeBench(opts: { json: boolean; quick: boolean }): Promise<void> {
  const emit = (r: Row) => {
    if (opts.json) console.log(JSON.stringify(r));
    else console.log(`decode ${r.name.padEnd(34)} ${r.ms.toFixed(1).padStart(8)} ms${r.captionsPerSec ? `, ${r.captionsPerSec.toFixed(1)} captions/s` : ""} (${r.engine} engine)`);
  };
  const config = resolveModelConfig({ vocabSize: 8500 });
  const rng = new SeededRandom(5);
  const params = new Float32Array(paramLayout(config).total).map(() => 0.01 * rng.normal());
  const engine = createEngine(config, params);
  const LD = config.numLocations * config.featureDim;
  const feats = (n: number) => new Float32Array(n * LD).map(() => Math.abs(rng.normal()));
  const beam = { startId: 1, endId: 2, beamWidth: 3, maxLength: 16, suppress: [0, 1, 2, 3] };
  const reps = opts.quick ? 2 : 5;

  const one = feats(1);
  beamSearch(engine, one, 1, beam); // warm-up (workspace allocation)
  let t0 = performance.now();
  for (let r = 0; r < reps; r++) beamSearch(engine, one, 1, beam);
  const decodeMs = (performance.now() - t0) / reps;
  emit({ suite: "decode", name: "decoder only, 1 image, beam 3", ms: decodeMs, engine: engine.kind });

  const batch = feats(64);
  t0 = performance.now();
  beamSearch(engine, batch, 64, beam);
  const batchMs = performance.now() - t0;
  emit({ suite: "decode", name: "decoder only, 64 images, beam 3", ms: batchMs, captionsPerSec: (64 * 1000) / batchMs, engine: engine.kind });

  const encoder = await loadResNet50Encoder();
  const png = await renderScenePng(generateScenes(1, 3)[0]);
  const run = async () => {
    const img = await prepareImage(png, encoder.preprocess);
    const f = encoder.encode([img.pixels]);
    return beamSearch(engine, f, 1, beam);
  };
  await run(); // warm-up (wasm compile, first conv kernels)
  t0 = performance.now();
  for (let r = 0; r < reps; r++) await run();
  const e2e = (performance.now() - t0) / reps;
  emit({ suite: "decode", name: "end to end, 1 photo, beam 3", ms: e2e, engine: engine.kind });
  if (!opts.json) console.log(`decode end-to-end target 400 ms: ${e2e <= 400 ? "met" : `missed (the ResNet-50 encoder on tfjs-wasm takes ~${(e2e - decodeMs).toFixed(0)} ms of it)`}`);
  encoder.dispose();
  engine.dispose();
}
