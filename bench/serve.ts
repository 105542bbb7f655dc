/**
 * `sat serve` under load: the server on loopback, POST /v1/captions with one 500x375 JPEG
 * (Flickr8k's typical size) from autocannon at 1, 4 and 16 concurrent connections, each level
 * for a fixed time. Prints completed requests/s, p50/p99 latency and non-2xx/errors.
 *
 * Default model: a throwaway, randomly initialised Flickr8k-size model (K = 7694, m = 512,
 * n = 1024, A = 512, ResNet-50 activation_39 features), so the work per request is a real
 * photo's: decode + preprocess, ResNet-50 on tfjs-wasm, beam 3. An untrained model never
 * chooses <end> reliably, so its captions run to maxLength (20 words), the worst case.
 * `--model DIR` measures a real model instead.
 *
 * One worker (the server's default: the machine has 2 cores, ResNet-50 on tfjs-wasm uses one
 * thread and the native decoder both), queue limit 64 (> 16, so no request is refused at
 * concurrency 16), timeout 300 s: every request is served, and latency = queueing + service.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import sharp from "sharp";
import { SPECIAL_TOKENS, type VocabularyJSON } from "../src/data/vocab.js";
import { generateScenes, renderScenePng } from "../src/data/synthetic/index.js";
import { RESNET50_LAYER } from "../src/encoder/resnet.js";
import { resolveModelConfig } from "../src/model/config.js";
import { initParams } from "../src/model/init.js";
import { saveModel } from "../src/model/model-dir.js";
import { startServer } from "../src/serve/index.js";

interface Row {
  suite: "serve";
  name: string;
  connections: number;
  seconds: number;
  completed: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  engine: string;
  model: string;
}

/** A randomly initialised model of Flickr8k's size on the ResNet-50 encoder. */
function throwawayModel(dir: string): string {
  const K = 7694;
  const words = [...SPECIAL_TOKENS, ...Array.from({ length: K - SPECIAL_TOKENS.length }, (_, i) => `w${i}`)];
  const vocab: VocabularyJSON = { format: "sat-vocabulary", version: 1, words, counts: words.map(() => 0), rule: { maxSize: null, minCount: 1, trainingWords: words.length } };
  const config = resolveModelConfig({ vocabSize: K, embedDim: 512, hiddenDim: 1024, attnDim: 512, featureDim: 1024, numLocations: 196 });
  const model = join(dir, "model");
  saveModel(model, {
    config,
    vocab,
    encoder: { spec: { kind: "resnet50", layer: RESNET50_LAYER }, name: `resnet50-${RESNET50_LAYER}`, grid: [14, 14], L: 196, D: 1024 },
    training: { note: "bench/serve.ts: random weights" },
    params: initParams(config, 1),
  });
  return model;
}

export async function runServeBench(opts: { json: boolean; quick: boolean; model?: string }): Promise<void> {
  const tmp = opts.model ? null : mkdtempSync(join(tmpdir(), "sat-bench-serve-"));
  const modelDir = opts.model ?? throwawayModel(tmp!);
  const modelName = opts.model ?? "random Flickr8k-size (K 7694, m 512, n 1024, A 512, ResNet-50)";
  const scene = await renderScenePng(generateScenes(1, 7)[0]);
  const jpeg = await sharp(scene).resize(500, 375, { fit: "fill" }).jpeg({ quality: 90 }).toBuffer();
  const server = await startServer({ modelDir, port: 0, concurrency: 1, queueLimit: 64, limits: { timeoutMs: 300_000 } });
  const target = `${server.url}/v1/captions`;
  const post = () => fetch(target, { method: "POST", headers: { "content-type": "image/jpeg" }, body: jpeg });
  try {
    // Warm-up (wasm compile, first kernels, workspaces), then one request's stage breakdown.
    for (let i = 0; i < 2; i++) await (await post()).arrayBuffer();
    const one = (await (await post()).json()) as { timing: Record<string, number>; captions: { words: string[] }[] };
    const t = one.timing;
    if (opts.json) console.log(JSON.stringify({ suite: "serve", name: "one request, stages", ...t, words: one.captions[0].words.length, engine: server.pool.info.engine, model: modelName }));
    else console.log(`serve one request: ${t.totalMs.toFixed(0)} ms = decode+preprocess ${t.prepareMs.toFixed(0)} + encoder ${t.encodeMs.toFixed(0)} + beam search ${t.decodeMs.toFixed(0)} (${one.captions[0].words.length} words) + HTTP/queue ${(t.totalMs - t.prepareMs - t.encodeMs - t.decodeMs).toFixed(0)} ms`);

    const seconds = opts.quick ? 10 : 40;
    for (const connections of [1, 4, 16]) {
      const r = await autocannon({
        url: target,
        method: "POST",
        headers: { "content-type": "image/jpeg" },
        body: jpeg,
        connections,
        duration: seconds,
        // Well above the longest queueing delay (16 waiting x ~1 s), so no client timeouts.
        timeout: 120,
      });
      const completed = r["2xx"];
      const row: Row = {
        suite: "serve",
        name: `POST /v1/captions, ${connections} connection${connections > 1 ? "s" : ""}`,
        connections,
        seconds: r.duration,
        completed,
        requestsPerSec: completed / r.duration,
        p50Ms: r.latency.p50,
        p99Ms: r.latency.p99,
        non2xx: r.non2xx,
        errors: r.errors,
        engine: server.pool.info.engine,
        model: modelName,
      };
      if (opts.json) console.log(JSON.stringify(row));
      else console.log(`serve ${row.name.padEnd(36)} ${row.requestsPerSec.toFixed(2).padStart(6)} req/s  p50 ${row.p50Ms.toFixed(0).padStart(6)} ms  p99 ${row.p99Ms.toFixed(0).padStart(6)} ms  non-2xx ${row.non2xx}  errors ${row.errors}  (${completed} in ${row.seconds.toFixed(0)} s)`);
      // Requests cut off at the end leave the queue with their connection; let the one still
      // being captioned finish before the next level.
      for (let i = 0; i < 600; i++) {
        const q = server.pool.stats();
        if (q.running === 0 && q.waiting === 0) break;
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  } finally {
    await server.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}
