import { test } from "node:test";
import assert from "node:assert/strict";
import { ImageSetMismatchError, Meteor, pairByImage, scoreCaptions } from "../../src/metrics/index.js";

// METEOR's exact+stem stages only, so these tests need no WordNet; synonyms are covered in
// meteor.test.ts.
const meteorScorer = new Meteor({ noSynonyms: true });

const refs = {
  img1: ["A dog runs on the grass.", "A brown dog is running across a lawn."],
  img2: ["Two children play in the snow.", "Kids playing in snow!"],
  img3: ["A man rides a bicycle down the street.", "A cyclist on a road."],
};

test("scores do not depend on case or punctuation of the input", () => {
  const plain = { img1: "a dog runs on the grass", img2: "two kids play in the snow", img3: "a man rides a bike" };
  const noisy = { img1: "A DOG RUNS ON THE GRASS!", img2: "Two kids, play in the snow...", img3: "a man rides a bike ." };
  const noisyRefs = Object.fromEntries(Object.entries(refs).map(([k, v]) => [k, v.map((c) => c.toUpperCase().replace(/\./g, " ; "))]));
  const a = scoreCaptions(refs, plain, { meteorScorer });
  const b = scoreCaptions(noisyRefs, noisy, { meteorScorer });
  assert.deepEqual(b.bleu, a.bleu);
  assert.deepEqual(b.bleu_nobp, a.bleu_nobp);
  assert.equal(b.meteor, a.meteor);
  assert.equal(b.rouge_l, a.rouge_l);
  assert.equal(b.cider, a.cider);
  assert.ok(a.bleu[0] > 0.5 && a.cider > 0, "sanity: the captions overlap their references");
});

test("an exact copy of a reference scores ROUGE-L 1 and BLEU-1 1", () => {
  const s = scoreCaptions(refs, { img1: refs.img1[0], img2: refs.img2[0], img3: refs.img3[0] }, { meteor: false });
  assert.equal(s.rouge_l, 1);
  assert.ok(Math.abs(s.bleu[0] - 1) < 1e-9);
  assert.equal(s.meteor, null);
  assert.equal(s.images, 3);
  assert.equal(s.references, 6);
});

test("mismatched image sets are refused, naming the ids", () => {
  assert.throws(
    () => pairByImage(refs, { img1: "a dog", img4: "a cat" }),
    (e: unknown) =>
      e instanceof ImageSetMismatchError &&
      /1 captioned image\(s\) have no references \(img4\)/.test(e.message) &&
      /2 reference image\(s\) have no caption \(img2, img3\)/.test(e.message),
  );
  assert.throws(() => pairByImage({ a: [] }, { a: "x" }), /empty reference list/);
});
