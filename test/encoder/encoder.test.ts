// The pluggable encoder, on a tiny model the test builds: loading from a path, cutting at a
// named layer, the normalisation and the [N, L, D] layout.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { UserError } from "../../src/errors.js";
import { loadTfjsEncoder } from "../../src/encoder/encoder.js";
import { buildTinyModel, GRAPH_KERNEL, writeTinyGraphModel } from "./tiny-model.js";

const dir = mkdtempSync(join(tmpdir(), "sat-enc-"));
const modelReady = buildTinyModel(dir, 16);

function image(seed: number): Uint8Array {
  const a = new Uint8Array(16 * 16 * 3);
  for (let i = 0; i < a.length; i++) a[i] = (i * 37 + seed * 101) & 255;
  return a;
}

test("a model on disk + a layer name is an encoder; features are the layer's output as [N, L, D]", async () => {
  const modelPath = await modelReady;
  const norm = { channelOrder: "bgr" as const, scale: 1 / 255, mean: [0.5, 0.25, 0] as [number, number, number], std: [2, 4, 1] as [number, number, number] };
  const enc = await loadTfjsEncoder({ modelPath, layer: "feat", normalisation: norm });
  assert.equal(enc.L, 256);
  assert.equal(enc.D, 3);
  assert.equal(enc.inputSize, 16);
  assert.deepEqual(enc.preprocess, { crop: 16, resize: 18, keepExactCrop: true });
  assert.match(enc.id.modelSha256, /^[0-9a-f]{64}$/);
  const ims = [image(1), image(2)];
  const f = enc.encode(ims);
  assert.equal(f.length, 2 * 256 * 3);
  // The identity 1x1 conv returns its input: channel d at location l of image n must be
  // (pixel[BGR order][d] / 255 - mean[d]) / std[d]. Float32 arithmetic: 1e-6 absolute.
  for (let n = 0; n < 2; n++) {
    for (let l = 0; l < 256; l++) {
      for (let d = 0; d < 3; d++) {
        const want = (ims[n][l * 3 + (2 - d)] / 255 - norm.mean[d]) / norm.std[d];
        assert.ok(Math.abs(f[(n * 256 + l) * 3 + d] - want) < 1e-6, `n=${n} l=${l} d=${d}`);
      }
    }
  }
  // Batching must not change an image's features (each image alone vs both together).
  const alone = enc.encode([ims[1]]);
  assert.deepEqual(alone, f.subarray(256 * 3));
  enc.dispose();
});

test("cutting deeper: the grid shrinks and D follows the layer", async () => {
  const modelPath = await modelReady;
  const enc = await loadTfjsEncoder({ modelPath, layer: "mixed" });
  assert.deepEqual([enc.L, enc.D, enc.id.grid], [64, 5, [8, 8]]);
  const f = enc.encode([image(3)]);
  assert.equal(f.length, 64 * 5);
  assert.ok(f.every((v) => v >= 0), "ReLU output");
  assert.ok(f.some((v) => v > 0));
  // Identity is content-addressed: a changed weight file changes the sha256.
  const changed = mkdtempSync(join(tmpdir(), "sat-enc2-"));
  const w = readFileSync(join(dir, "weights.bin"));
  w[0] ^= 1;
  writeFileSync(join(changed, "weights.bin"), w);
  writeFileSync(join(changed, "model.json"), readFileSync(modelPath));
  const enc2 = await loadTfjsEncoder({ modelPath: join(changed, "model.json"), layer: "mixed" });
  assert.notEqual(enc2.id.modelSha256, enc.id.modelSha256);
  enc.dispose();
  enc2.dispose();
});

test("a missing layer or a missing model is a UserError naming it", async () => {
  const modelPath = await modelReady;
  await assert.rejects(loadTfjsEncoder({ modelPath, layer: "nope" }), (e: unknown) => e instanceof UserError && /no layer named 'nope'/.test(e.message));
  await assert.rejects(loadTfjsEncoder({ modelPath: join(dir, "absent.json"), layer: "feat" }), (e: unknown) => e instanceof UserError && e.message.includes("absent.json"));
});

test("a graph model (converter format) + a node name is an encoder too", async () => {
  const modelPath = writeTinyGraphModel(join(dir, "graph"));
  const enc = await loadTfjsEncoder({ modelPath, layer: "relu" });
  assert.deepEqual([enc.L, enc.D, enc.inputSize], [64, 2, 8]);
  const img = new Uint8Array(8 * 8 * 3).map((_, i) => (i * 29) % 256);
  const f = enc.encode([img]);
  // relu(x . W) at every location, identity normalisation; float32 sums of 3 terms: 1e-4.
  for (let l = 0; l < 64; l++) {
    for (let d = 0; d < 2; d++) {
      let want = 0;
      for (let c = 0; c < 3; c++) want += img[l * 3 + c] * GRAPH_KERNEL[c][d];
      assert.ok(Math.abs(f[l * 2 + d] - Math.max(0, want)) < 1e-4, `l=${l} d=${d}: ${f[l * 2 + d]} vs ${want}`);
    }
  }
  await assert.rejects(loadTfjsEncoder({ modelPath, layer: "nope" }), UserError);
  enc.dispose();
});
