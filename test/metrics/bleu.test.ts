import { test } from "node:test";
import assert from "node:assert/strict";
import { bleu, bleuStats, closestRefLen } from "../../src/metrics/bleu.js";

// coco-caption's epsilons: 1e-15 added to matches, 1e-9 to guesses.
const TINY = 1e-15;
const SMALL = 1e-9;

function close(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tol, `expected ${expected}, got ${actual}`);
}

test("closest reference length, ties to the shorter", () => {
  assert.equal(closestRefLen([3, 7], 5), 3); // |3-5| = |7-5|: the shorter wins
  assert.equal(closestRefLen([4, 9, 6], 8), 9);
  assert.equal(closestRefLen([10], 2), 10);
});

test("hand-computed BLEU-1..4 with clipping against two references", () => {
  // hyp: the cat sat on the mat (6 tokens)
  // refs: "the cat is on the mat" (6), "there is a cat on the mat" (7)
  // 1-grams: the x2 (max ref count 2) + cat + on + mat = 5 of 6 (sat unmatched)
  // 2-grams: the cat, on the, the mat = 3 of 5
  // 3-grams: on the mat = 1 of 4
  // 4-grams: none of 3
  const s = bleuStats("the cat sat on the mat", ["the cat is on the mat", "there is a cat on the mat"]);
  assert.deepEqual(s.correct, [5, 3, 1, 0]);
  assert.deepEqual(s.guess, [6, 5, 4, 3]);
  assert.equal(s.refLen, 6);
  const r = bleu(["the cat sat on the mat"], [["the cat is on the mat", "there is a cat on the mat"]]);
  // c = r = 6, but ratio = (6 + 1e-15) / (6 + 1e-9) is just below 1, so coco-caption applies
  // BP = exp(1 - 1/ratio) ~ 1 - 1.7e-10: visible only beyond 1e-9.
  const bp = Math.exp(1 - (6 + SMALL) / (6 + TINY));
  // p_n = (matches + 1e-15) / (guesses + 1e-9): the epsilons move p1 by ~1.4e-10.
  const p = [(5 + TINY) / (6 + SMALL), (3 + TINY) / (5 + SMALL), (1 + TINY) / (4 + SMALL), TINY / (3 + SMALL)];
  close(r.bleu[0], p[0] * bp); // 0.8333
  close(r.bleu[1], Math.sqrt(p[0] * p[1]) * bp); // sqrt(0.5) = 0.7071
  close(r.bleu[2], Math.cbrt(p[0] * p[1] * p[2]) * bp); // 0.125^(1/3) = 0.5
  // BLEU-4 with zero 4-gram matches is not 0: (0.125 * 1e-15 / 3)^(1/4) ~ 8.03e-5.
  close(r.bleu[3], Math.pow(p[0] * p[1] * p[2] * p[3], 0.25) * bp);
  assert.ok(r.bleu[3] > 8.0e-5 && r.bleu[3] < 8.1e-5);
  close(r.bleuNoBp[0], p[0]);
  // Without the epsilons the numbers are the textbook ones to 1e-9.
  close(r.bleu[1], Math.SQRT1_2, 1e-9);
  close(r.bleu[2], 0.5, 1e-9);
});

test("corpus BLEU is not the mean of per-image BLEU", () => {
  // A: hyp "a b" vs ref "a b c d": p1 = 2/2, per-image BP = exp(1 - 4/2) = e^-1.
  // B: hyp "w x y z" vs identical ref: p1 = 1, BP = 1.
  // Per-image mean of BLEU-1 = (e^-1 + 1) / 2 = 0.6839.
  // Corpus: p1 = 6/6, c = 6, r = 8, BP = exp(1 - 8/6) = e^(-1/3) = 0.7165.
  const r = bleu(["a b", "w x y z"], [["a b c d"], ["w x y z"]]);
  close(r.perImage[0][0], Math.exp(-1), 1e-9);
  close(r.perImage[1][0], 1, 1e-9);
  close(r.bleu[0], Math.exp(-1 / 3), 1e-9);
  close(r.bleuNoBp[0], 1, 1e-9);
  const mean = (r.perImage[0][0] + r.perImage[1][0]) / 2;
  assert.ok(Math.abs(mean - r.bleu[0]) > 0.03, `mean ${mean} vs corpus ${r.bleu[0]}`);
  assert.equal(r.testLen, 6);
  assert.equal(r.refLen, 8);
});

test("zero-match, one-word, empty and very long hypotheses", () => {
  // Zero match: p1 = 1e-15 / (1 + 1e-9), BP = exp(1 - 2/1) = e^-1 -> ~3.7e-16, not 0.
  const z = bleu(["zebra"], [["a dog"]]);
  close(z.bleu[0], (TINY / (1 + SMALL)) * Math.exp(1 - (2 + SMALL) / (1 + TINY)), 1e-25);
  assert.ok(z.bleu[0] > 0);
  // One word: p1 = 1, no bigram guesses -> p2 = 1e-15 / 1e-9 = 1e-6, BLEU-2 = sqrt(1e-6) = 1e-3,
  // both times BP = exp(1 - 2/1) = e^-1.
  const one = bleu(["dog"], [["a dog"]]);
  close(one.bleu[0], Math.exp(-1), 1e-9);
  close(one.bleu[1], 1e-3 * Math.exp(-1), 1e-9);
  // Empty: every p_n = 1e-15 / 1e-9 = 1e-6, but BP = exp(1 - 2e15) underflows to 0.
  const e = bleu([""], [["a dog"]]);
  assert.equal(e.bleu[0], 0);
  close(e.bleuNoBp[0], 1e-6, 1e-15);
  // Very long: "the" x 1000 against "the cat": 1 clipped match of 1000, c > r so no BP.
  const long = bleu([Array(1000).fill("the").join(" ")], [["the cat"]]);
  close(long.bleu[0], 1 / 1000, 1e-12);
});
