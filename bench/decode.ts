/**
 * Captioning latency and throughput (issue target: one photo end to end in under 400 ms):
 * - decoder only: beam 3 over a default-size model (K=8500, n=1024, ...) for one image, and
 *   captions/s for a batch of 64 images decoded together;
 * - end to end: decode + preprocess + ResNet-50 + beam 3 for one generated 224x224 photo, with
 *   the fast encoder backend (onnxruntime-node, the default where it loads) and, timed
 *   alternately in the same run for comparison, tfjs-wasm. Medians over the repetitions.
 * Random weights never choose <end> reliably, so <end> is suppressed and every caption runs to
 * the maximum length (16 words): the worst case.
 */
import { resolveModelConfig } from "../src/model/config.js";
import { paramLayout } from "../src/model/layout.js";
import { SeededRandom } from "../src/model/rng.js";
import { createEngine } from "../src/engine/select.js";
import { beamSearch } from "../src/decode/beam.js";
import { onnxRuntimeStatus } from "../src/encoder/onnx.js";
import { loadResNet50Encoder, type BackendEncoder } from "../src/encoder/resnet.js";
import { prepareImage } from "../src/data/images.js";
import { generateScenes, renderScenePng } from "../src/data/synthetic/index.js";

interface Row {
  suite: "decode";
  name: string;
  ms: number;
  captionsPerSec?: number;
  engine: string;
  /** End to end: the encoder backend, and the encoder's share of the time. */
  encoder?: string;
  encoderMs?: number;
}

const TARGET_MS = 400;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function runDecodeBench(opts: { json: boolean; quick: boolean }): Promise<void> {
  const emit = (r: Row) => {
    if (opts.json) console.log(JSON.stringify(r));
    else {
      const enc = r.encoder ? `, encoder ${r.encoder} ${r.encoderMs!.toFixed(0)} ms of it` : "";
      console.log(`decode ${r.name.padEnd(34)} ${r.ms.toFixed(1).padStart(8)} ms${r.captionsPerSec ? `, ${r.captionsPerSec.toFixed(1)} captions/s` : ""} (${r.engine} engine${enc})`);
    }
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

  const ort = onnxRuntimeStatus();
  if (!ort.available && !opts.json) console.log(`decode: onnxruntime-node unavailable (${ort.reason}): end to end on tfjs-wasm only`);
  const encoders: BackendEncoder[] = [];
  if (ort.available) encoders.push(await loadResNet50Encoder(undefined, { backend: "onnx" }));
  encoders.push(await loadResNet50Encoder(undefined, { backend: "tfjs" }));
  const png = await renderScenePng(generateScenes(1, 3)[0]);
  const run = async (encoder: BackendEncoder) => {
    const t = performance.now();
    const img = await prepareImage(png, encoder.preprocess);
    const te = performance.now();
    const f = encoder.encode([img.pixels]);
    const encodeMs = performance.now() - te;
    beamSearch(engine, f, 1, beam);
    return { ms: performance.now() - t, encodeMs };
  };
  for (const e of encoders) await run(e); // warm-up (wasm compile, first conv kernels, ORT arenas)
  const runs = new Map<BackendEncoder, { ms: number; encodeMs: number }[]>(encoders.map((e) => [e, []]));
  for (let r = 0; r < reps; r++) for (const e of encoders) runs.get(e)!.push(await run(e));
  for (const e of encoders) {
    const rs = runs.get(e)!;
    const name = e.backend === "onnx" ? "onnxruntime-node" : "tfjs-wasm";
    emit({ suite: "decode", name: `end to end, 1 photo, beam 3 (${e.backend})`, ms: median(rs.map((x) => x.ms)), engine: engine.kind, encoder: name, encoderMs: median(rs.map((x) => x.encodeMs)) });
  }
  const fast = median(runs.get(encoders[0])!.map((x) => x.ms));
  if (!opts.json) console.log(`decode end-to-end target ${TARGET_MS} ms with ${encoders[0].backend}: ${fast <= TARGET_MS ? "met" : "missed"} (${fast.toFixed(0)} ms)`);
  for (const e of encoders) e.dispose();
  engine.dispose();
}
