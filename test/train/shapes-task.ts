// The shapes-task learning tests' shared pieces: training on the native engine, and the checks
// that a trained model captions held-out scenes and looks at what it names. The quick test
// (synthetic-task.test.ts) and the full-size run (synthetic-task.long.test.ts) share them.
import assert from "node:assert/strict";
import sharp from "sharp";
import { DEFAULT_SYNTHETIC_TASK, runSyntheticTask, type SyntheticTaskOptions, type SyntheticTaskResult } from "../../src/train/synthetic-task.js";
import { createNativeEngine } from "../../src/native/engine.js";
import type { ModelConfig } from "../../src/model/config.js";
import { attentionHeatmap, renderAttentionFigure } from "../../src/viz/index.js";
import { renderScene } from "../../src/data/synthetic/index.js";

const nativeAvailable = createNativeEngine({ vocabSize: 5, embedDim: 1, hiddenDim: 1, attnDim: 1, featureDim: 1, numLocations: 1 } as ModelConfig) !== null;
/** The reference engine would take hours on these runs, so they need the native one (CI requires it). */
export const skipWithoutNative = !nativeAvailable && process.env.SAT_REQUIRE_NATIVE !== "1" ? "native engine not built (learning tests need it)" : false;

export function trainShapesTask(options: Partial<Omit<SyntheticTaskOptions, "createEngine">>): SyntheticTaskResult {
  return runSyntheticTask({
    ...DEFAULT_SYNTHETIC_TASK,
    ...options,
    createEngine: (config, params) => {
      const e = createNativeEngine(config, params);
      assert.ok(e, "native engine required");
      return e;
    },
  });
}

/**
 * Prints the run's scores, then checks the bars: at least `exact` of the held-out captions
 * exactly right, at least `mentions` object mentions measured, and at the noun at least
 * `atNoun` of the attention in the named object's box and 5 times the chance level.
 */
export function assertLearned(label: string, res: SyntheticTaskResult, bars: { exact: number; atNoun: number; mentions: number }): void {
  const loc = res.localisation;
  console.log(`${label}: exact ${(100 * res.exactMatch).toFixed(1)}%, attention in box at noun ${(100 * loc.atNoun).toFixed(1)}% (chance ${(100 * loc.chance).toFixed(1)}%), ${res.trainSeconds.toFixed(1)} s of training`);
  assert.ok(res.exactMatch >= bars.exact, `exact captions ${res.exactMatch}`);
  assert.ok(loc.mentions >= bars.mentions, `only ${loc.mentions} object mentions measured`);
  assert.ok(loc.atNoun >= bars.atNoun && loc.atNoun >= 5 * loc.chance, `attention in box ${loc.atNoun} vs chance ${loc.chance}`);
}

/**
 * The paper-style figure of held-out scenes: for `count` nouns of exactly right captions, the
 * blurred map peaks inside (within 8 px of) the box of the object the noun names; and the
 * figure renders as a PNG at least the crop's size.
 */
export async function assertNounMapsPeakInBoxes(res: SyntheticTaskResult, count: number): Promise<void> {
  let checked = 0;
  for (let i = 0; i < res.decoded.length && checked < count; i++) {
    const scene = res.splits.test[i];
    if (!scene.captions.some((c) => c.text === res.captions[i])) continue;
    const words = res.vocab.decode(res.decoded[i].tokens);
    for (let p = 1; p < words.length; p++) {
      const obj = scene.objects.find((o) => o.shape === words[p] && o.colour === words[p - 1]);
      if (!obj) continue;
      const map = attentionHeatmap(res.decoded[i].alphas[p], res.features.grid, 224, 20);
      let best = 0;
      for (let k = 1; k < map.length; k++) if (map[k] > map[best]) best = k;
      const x = best % 224;
      const y = Math.floor(best / 224);
      assert.ok(x >= obj.box.x0 - 8 && x <= obj.box.x1 + 8 && y >= obj.box.y0 - 8 && y <= obj.box.y1 + 8, `scene ${scene.id} "${words[p]}": peak (${x},${y}) outside box ${JSON.stringify(obj.box)}`);
      checked++;
    }
  }
  assert.ok(checked >= count, `only ${checked} nouns of exactly right captions to check`);
  const d0 = res.decoded[0];
  const labels = [...res.vocab.decode(d0.tokens), ...(d0.finished ? ["<end>"] : [])];
  const png = await renderAttentionFigure({ image: renderScene(res.splits.test[0]), words: labels, alphas: d0.alphas, grid: res.features.grid });
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, "png");
  assert.ok((meta.width ?? 0) >= 224 && (meta.height ?? 0) >= 224);
}
