// Beam search: width 1 is greedy decoding, wider beams find captions at least as probable
// (checked against exhaustive search), results are ranked, and a caption always comes back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveModelConfig, type ModelConfig } from "../../src/model/config.js";
import { paramLayout } from "../../src/model/layout.js";
import { ReferenceEngine } from "../../src/model/reference.js";
import { SeededRandom } from "../../src/util/rng.js";
import { beamSearch } from "../../src/decode/beam.js";
import { greedyDecode } from "../../src/decode/greedy.js";
import type { DecoderEngine } from "../../src/model/engine.js";

const START = 1;
const END = 2;

function tinyModel(seed: number, scale: number, K = 7): { engine: ReferenceEngine; features: Float32Array; config: ModelConfig } {
  const config = resolveModelConfig({ vocabSize: K, embedDim: 4, hiddenDim: 5, attnDim: 3, featureDim: 3, numLocations: 4 });
  const rng = new SeededRandom(seed);
  // Large random weights make the word distributions peaked and history-dependent, so that
  // greedy choices can be myopic.
  const params = new Float32Array(paramLayout(config).total).map(() => scale * rng.normal());
  const features = new Float32Array(2 * config.numLocations * config.featureDim).map(() => rng.normal());
  return { engine: new ReferenceEngine(config, params), features, config };
}

/** log p of a full caption (words then <end>) under teacher forcing through decodeStep. */
function captionLogProb(engine: ReferenceEngine, features: Float32Array, image: number, words: number[]): number {
  const K = engine.config.vocabSize;
  const ctx = engine.prepareDecode(features, 2);
  const rows = Int32Array.of(image);
  const state = engine.initialState(ctx, rows);
  let prev = START;
  let lp = 0;
  for (const w of [...words, END]) {
    const r = engine.decodeStep(ctx, rows, Int32Array.of(prev), state);
    lp += r.logProbs[w];
    prev = w;
  }
  void K;
  return lp;
}

/** The most probable caption of 1..maxLength words (any id but <end>), by enumeration. */
function bruteForceBest(engine: ReferenceEngine, features: Float32Array, image: number, maxLength: number): { words: number[]; lp: number } {
  const K = engine.config.vocabSize;
  let best = { words: [] as number[], lp: -Infinity };
  const rec = (prefix: number[]) => {
    if (prefix.length === maxLength) return;
    for (let w = 0; w < K; w++) {
      if (w === END) continue;
      const words = [...prefix, w];
      const lp = captionLogProb(engine, features, image, words);
      if (lp > best.lp) best = { words, lp };
      rec(words);
    }
  };
  rec([]);
  return best;
}

test("beam width 1 equals greedy decoding (words, log p and attention)", () => {
  for (const seed of [1, 2, 3, 4]) {
    const { engine, features } = tinyModel(seed, 1.5);
    const greedy = greedyDecode(engine, features, 2, { startId: START, endId: END, maxLength: 6 });
    const beam = beamSearch(engine, features, 2, { startId: START, endId: END, maxLength: 6, beamWidth: 1 });
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(beam[i][0].tokens, greedy[i].tokens, `seed ${seed} image ${i}`);
      assert.equal(beam[i][0].finished, greedy[i].finished);
      assert.ok(Math.abs(beam[i][0].logProb - greedy[i].logProb) < 1e-4);
      assert.deepEqual(beam[i][0].alphas, greedy[i].alphas);
    }
  }
});

/**
 * A hand-built "model" with known word distributions (a DecoderEngine whose state is the
 * prefix): greedy takes "A" (0.5) and then can only reach p = 0.5 * 0.35 = 0.175 ("A A"),
 * while "B" (0.4) followed by <end> (0.9) has p = 0.36. Ids: A = 4, B = 5.
 */
function trapEngine(first: Record<number, number> = { 4: 0.5, 5: 0.4, [END]: 0.1 }): DecoderEngine {
  const A = 4;
  const B = 5;
  const table: Record<string, Record<number, number>> = {
    "": first,
    "4": { [A]: 0.35, [B]: 0.35, [END]: 0.3 },
    "5": { [END]: 0.9, [A]: 0.05, [B]: 0.05 },
    "4,4": { [END]: 1 },
    "4,5": { [END]: 1 },
  };
  const prefixes: string[] = [""];
  const config = resolveModelConfig({ vocabSize: 6, embedDim: 1, hiddenDim: 1, attnDim: 1, featureDim: 1, numLocations: 1 });
  const engine = {
    kind: "reference",
    config,
    prepareDecode: (_f: Float32Array, numImages: number) => ({ numImages }),
    initialState: (_c: unknown, rows: Int32Array) => ({ h: new Float32Array(rows.length), c: new Float32Array(rows.length) }),
    decodeStep: (_c: unknown, rows: Int32Array, tokens: Int32Array, state: { h: Float32Array; c: Float32Array }) => {
      const N = rows.length;
      const logProbs = new Float32Array(N * 6).fill(Math.log(1e-9));
      for (let r = 0; r < N; r++) {
        const prev = prefixes[state.h[r]];
        const prefix = tokens[r] === START ? prev : prev === "" ? String(tokens[r]) : `${prev},${tokens[r]}`;
        let id = prefixes.indexOf(prefix);
        if (id < 0) id = prefixes.push(prefix) - 1;
        state.h[r] = id;
        const dist = table[prefix] ?? { [END]: 1 };
        for (const [w, p] of Object.entries(dist)) logProbs[r * 6 + Number(w)] = Math.log(p);
      }
      return { logProbs, alpha: new Float32Array(N).fill(1), beta: new Float32Array(N).fill(1) };
    },
  };
  return engine as unknown as DecoderEngine;
}

test("beam 3 finds the more probable caption where greedy is myopic (hand-built model)", () => {
  const engine = trapEngine();
  const features = new Float32Array(1);
  const greedy = greedyDecode(engine, features, 1, { startId: START, endId: END, maxLength: 5 });
  assert.deepEqual(greedy[0].tokens, [4, 4]);
  assert.ok(Math.abs(greedy[0].logProb - Math.log(0.5 * 0.35 * 1)) < 1e-6);
  const beam = beamSearch(engine, features, 1, { startId: START, endId: END, maxLength: 5, beamWidth: 3, topN: 3 });
  assert.deepEqual(beam[0][0].tokens, [5]);
  assert.ok(Math.abs(beam[0][0].logProb - Math.log(0.4 * 0.9)) < 1e-6);
  // <end> is no candidate at the first step, so "" (0.1) never ends there. "B" (0.36) and "A"
  // (0.15) end at step 2, "A A" (0.175, the first of the tied "A A" / "A B") at step 3, and
  // the search stops with 3 ended. Ranked by score:
  assert.deepEqual(beam[0].map((c) => c.tokens), [[5], [4, 4], [4]]);
  assert.ok(Math.abs(beam[0][1].logProb - Math.log(0.175)) < 1e-6);
  assert.ok(Math.abs(beam[0][2].logProb - Math.log(0.15)) < 1e-6);
});

test("no caption without words is offered, even where <end> at once is the most probable caption", () => {
  // p(<end> first) = 0.6 beats every caption with words (at most 0.3 x 0.9 = 0.27).
  const engine = trapEngine({ 4: 0.1, 5: 0.3, [END]: 0.6 });
  const features = new Float32Array(1);
  for (const beamWidth of [1, 2, 3, 5]) {
    const beam = beamSearch(engine, features, 1, { startId: START, endId: END, maxLength: 5, beamWidth, topN: beamWidth });
    assert.ok(beam[0].length > 0);
    for (const c of beam[0]) assert.ok(c.tokens.length > 0, `beam ${beamWidth}: a caption with no words`);
    assert.deepEqual(beam[0][0].tokens, [5], `beam ${beamWidth}`);
    // Not renormalised without <end>: the model's own log p of "B <end>".
    assert.ok(Math.abs(beam[0][0].logProb - Math.log(0.3 * 0.9)) < 1e-6);
  }
  const greedy = greedyDecode(engine, features, 1, { startId: START, endId: END, maxLength: 5 });
  assert.deepEqual(greedy[0].tokens, [5]);
});

test("beam search on random models: true log-probabilities, ranked, never above exhaustive search", () => {
  for (let seed = 1; seed <= 6; seed++) {
    const { engine, features } = tinyModel(seed, 2.0, 6);
    const maxLength = 3;
    const beam = beamSearch(engine, features, 2, { startId: START, endId: END, maxLength, beamWidth: 3, topN: 3 });
    for (let i = 0; i < 2; i++) {
      for (const b of beam[i]) if (b.finished) assert.ok(Math.abs(b.logProb - captionLogProb(engine, features, i, b.tokens)) < 1e-4);
      for (let k = 1; k < beam[i].length; k++) assert.ok(beam[i][k - 1].score >= beam[i][k].score);
      const best = bruteForceBest(engine, features, i, maxLength);
      // (a caption cut at maxLength has no <end> term, so only finished ones compare)
      if (beam[i][0].finished) assert.ok(beam[i][0].logProb <= best.lp + 1e-5, "beam cannot beat exhaustive search");
    }
  }
});

test("a model that never emits <end> still yields a caption of maxLength words", () => {
  const { engine, features, config } = tinyModel(5, 1.0);
  // Make <end> impossible: a hugely negative output bias.
  const layout = paramLayout(config);
  engine.params[layout.slots.b_o.offset + END] = -1e4;
  for (const width of [1, 3]) {
    const res = beamSearch(engine, features, 2, { startId: START, endId: END, maxLength: 4, beamWidth: width });
    for (const r of res) {
      assert.equal(r.length, 1);
      assert.equal(r[0].finished, false);
      assert.equal(r[0].tokens.length, 4);
      assert.equal(r[0].alphas.length, 4);
    }
  }
  const greedy = greedyDecode(engine, features, 2, { startId: START, endId: END, maxLength: 4 });
  assert.equal(greedy[0].tokens.length, 4);
  assert.equal(greedy[0].finished, false);
});

test("suppressed words never appear", () => {
  const { engine, features } = tinyModel(7, 2.0);
  const free = beamSearch(engine, features, 2, { startId: START, endId: END, maxLength: 5, beamWidth: 3 });
  const used = new Set(free.flatMap((r) => r[0].tokens));
  const banned = [...used].filter((w) => w > 2);
  assert.ok(banned.length > 0);
  const res = beamSearch(engine, features, 2, { startId: START, endId: END, maxLength: 5, beamWidth: 3, suppress: banned });
  for (const r of res) for (const w of r[0].tokens) assert.ok(!banned.includes(w));
});
