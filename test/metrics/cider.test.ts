import { test } from "node:test";
import assert from "node:assert/strict";
import { ciderD, CiderDScorer } from "../../src/metrics/cider.js";

function close(actual: number, expected: number, tol = 1e-9): void {
  assert.ok(Math.abs(actual - expected) <= tol, `expected ${expected}, got ${actual}`);
}

test("a one-image set scores 0 (idf from the scored set's own references)", () => {
  // N = 1: idf = log(1) - log(max(1, df)) = 0 for every n-gram, so every vector is 0.
  const r = ciderD(["a dog runs"], [["a dog runs"]]);
  assert.equal(r.score, 0);
});

test("hand-computed CIDEr-D with clipping", () => {
  // Two images, every n-gram in one image only (df = 1) or in none (df = 0): idf = ln 2 = L
  // for all of them, so weights are tf * L.
  // Image 1: hyp "a a b", ref "a b c".
  //   order 1: hyp a=2L, b=L (|h|^2 = 5L^2); ref a=b=c=L (|r|^2 = 3L^2).
  //            sum min(h, r) * r = L*L + L*L = 2L^2 -> 2 / sqrt(15) = 0.516398
  //   order 2: hyp "a a"=L, "a b"=L; ref "a b"=L, "b c"=L -> L^2 / (2L^2) = 0.5
  //   order 3: "a a b" not in ref -> 0; order 4: both empty -> 0
  //   lengths (bigram counts) 2 and 2 -> no penalty
  //   image score = (0.516398 + 0.5 + 0 + 0) / 4 * 10 = 2.540995
  // Image 2: hyp = ref = "x y z": orders 1-3 give 1, order 4 empty -> 3/4 * 10 = 7.5
  const r = ciderD(["a a b", "x y z"], [["a b c"], ["x y z"]]);
  const img1 = ((2 / Math.sqrt(15) + 0.5) / 4) * 10;
  close(r.perImage[0], img1);
  close(r.perImage[1], 7.5);
  close(r.score, (img1 + 7.5) / 2); // 5.020498
});

test("Gaussian length penalty on the bigram-count difference (sigma = 6)", () => {
  // Image 1: hyp "a b", ref "a b c d"; image 2: hyp = ref = "x y". idf = ln 2 everywhere.
  //   order 1: 2L^2 / (sqrt(2)L * 2L) = 1/sqrt(2); order 2: L^2 / (L * sqrt(3)L) = 1/sqrt(3)
  //   orders 3-4: hyp norm 0 -> 0
  //   lengths: 1 bigram vs 3 -> delta = -2 -> exp(-4 / 72) = 0.945959
  const r = ciderD(["a b", "x y"], [["a b c d"], ["x y"]]);
  const expected = ((1 / Math.SQRT2 + 1 / Math.sqrt(3)) / 4) * Math.exp(-4 / 72) * 10; // 3.03708
  close(r.perImage[0], expected);
  close(r.perImage[1], 5); // (1 + 1 + 0 + 0) / 4 * 10
});

test("averages over references and handles zero-match, one-word, empty and long hypotheses", () => {
  // Image 1 has two refs: "x y" (identical to hyp, 5 as above) and "p q" (no overlap, 0):
  // mean over refs = 2.5. Image 2 only sets N = 2.
  const r = ciderD(["x y", "m n"], [["x y", "p q"], ["m n"]]);
  close(r.perImage[0], 2.5);
  // Zero match and empty hypotheses score 0 without NaN.
  const z = ciderD(["zebra", "", "m n"], [["a b"], ["c d"], ["m n"]]);
  assert.equal(z.perImage[0], 0);
  assert.equal(z.perImage[1], 0);
  // One word against itself: only order 1 is non-zero (cosine 1), lengths 0 and 0 -> 1/4 * 10.
  const one = ciderD(["dog", "m n"], [["dog"], ["m n"]]);
  close(one.perImage[0], 2.5);
  // 1000 repetitions of "a" against "a b": order 1: a=1000L vs ref a=L,b=L:
  // min(1000L, L) * L / (1000L * sqrt(2)L) = 1/(1000 sqrt 2); order 2 "a a" unmatched -> 0.
  // Bigram counts 999 vs 1: penalty exp(-998^2 / 72) underflows to 0.
  const long = ciderD([Array(1000).fill("a").join(" "), "m n"], [["a b"], ["m n"]]);
  assert.equal(long.perImage[0], 0);
});

test("CiderDScorer: idf fixed by its reference sets, so a caption scores the same alone, in any order, after unseen words", () => {
  const refs = [["a dog runs on grass", "a brown dog runs"], ["two kids play in the snow", "kids play outside"], ["a man rides a bike", "a cyclist on a road"]];
  const hyps = ["a dog runs", "kids play in snow", "a man on a bike"];
  const batch = ciderD(hyps, refs).perImage;
  const scorer = new CiderDScorer(refs);
  // Hypotheses full of n-grams no reference has grow the scorer's tables first.
  for (let i = 0; i < 50; i++) scorer.score(`zebra${i} quokka${i} wombat${i} axolotl${i}`, i % 3);
  for (const i of [2, 0, 1]) assert.ok(Math.abs(scorer.score(hyps[i], i) - batch[i]) < 1e-12, `image ${i}`);
  assert.ok(batch.every((s) => s > 0));
  // A hypothesis is scored against the image it is given: another image's references score lower.
  assert.ok(scorer.score(hyps[0], 1) < batch[0]);

  // With a small intern limit the tables are rebuilt from the references as unseen n-grams pile
  // up: they stay bounded and the scores do not change.
  const small = new CiderDScorer(refs, { internLimit: 200 });
  let peak = 0;
  for (let i = 0; i < 100; i++) {
    small.score(`zebra${i} quokka${i} wombat${i} axolotl${i}`, i % 3);
    peak = Math.max(peak, small.internedSize);
    for (const j of [0, 1, 2]) assert.ok(Math.abs(small.score(hyps[j], j) - batch[j]) < 1e-12, `image ${j} after ${i} rebuild checks`);
  }
  assert.ok(peak <= 200 + 10 + 4 * 4, `tables grew to ${peak} ids`);
});
