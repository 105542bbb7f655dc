import { test } from "node:test";
import assert from "node:assert/strict";
import { lcsLength, rougeL, rougeLSentence } from "../../src/metrics/rouge.js";

function close(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tol, `expected ${expected}, got ${actual}`);
}

test("LCS length", () => {
  assert.equal(lcsLength("a x b y".split(" "), "a b c".split(" ")), 2);
  assert.equal(lcsLength("the cat is on the mat".split(" "), "the cat sat on the mat".split(" ")), 5);
  assert.equal(lcsLength([], ["a"]), 0);
});

test("hand-computed ROUGE-L, beta = 1.2", () => {
  // hyp "a b c" vs ref "a x b y": LCS 2, P = 2/3, R = 2/4.
  // F = (1 + 1.44) * (2/3) * (1/2) / (1/2 + 1.44 * 2/3) = 0.813333 / 1.46 = 0.557078
  close(rougeLSentence("a b c", ["a x b y"]), (2.44 * (2 / 3) * 0.5) / (0.5 + 1.44 * (2 / 3)));
});

test("precision and recall are maximised separately over references", () => {
  // hyp "a b c d": ref "a b" gives P = 2/4, R = 2/2; ref "a b c d e f g h" gives P = 1, R = 4/8.
  // No single reference has F = 1, but the toolkit combines max P = 1 and max R = 1 -> F = 1.
  close(rougeLSentence("a b c d", ["a b", "a b c d e f g h"]), 1);
});

test("zero-match, one-word, empty and long hypotheses; corpus score is the mean", () => {
  assert.equal(rougeLSentence("zebra", ["a dog"]), 0);
  // One word found in a 2-word ref: P = 1, R = 1/2 -> 2.44 * 0.5 / (0.5 + 1.44) = 0.628866
  close(rougeLSentence("dog", ["a dog"]), (2.44 * 0.5) / (0.5 + 1.44));
  // Empty caption: "".split(" ") is one empty token, which matches nothing in "a dog".
  assert.equal(rougeLSentence("", ["a dog"]), 0);
  // "the" x 1000 vs "the cat": LCS 1, P = 1/1000, R = 1/2.
  const p = 1 / 1000;
  close(rougeLSentence(Array(1000).fill("the").join(" "), ["the cat"]), (2.44 * p * 0.5) / (0.5 + 1.44 * p));
  const r = rougeL(["a b c", "zebra"], [["a x b y"], ["a dog"]]);
  close(r.score, r.perImage[0] / 2);
});
