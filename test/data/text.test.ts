// Tokeniser, vocabulary and length buckets.
import assert from "node:assert/strict";
import { test } from "node:test";
import { UserError } from "../../src/errors.js";
import { BucketBatchSampler, lengthBuckets, lengthStats } from "../../src/data/buckets.js";
import { tokenize } from "../../src/data/tokenize.js";
import { END, UNK, Vocabulary } from "../../src/data/vocab.js";

test("tokenize follows the metric's PTB step on the cases docs/evaluation.md lists", () => {
  assert.deepEqual(tokenize("A man's dog, don't run."), ["a", "man", "'s", "dog", "do", "n't", "run"]);
  assert.deepEqual(tokenize("Cannot see the U.S. flag; Mr. Smith paid $1,000.50!"), ["can", "not", "see", "the", "u.s.", "flag", "mr.", "smith", "paid", "$", "1,000.50"]);
  assert.deepEqual(tokenize('A girl in a T-shirt (red) says "hi" ... ok -- fine'), ["a", "girl", "in", "a", "t-shirt", "red", "says", "hi", "ok", "fine"]);
  assert.deepEqual(tokenize("at&t"), ["at&t"]);
  assert.deepEqual(tokenize("  Two   dogs' toys .  "), ["two", "dogs", "toys"]);
  assert.deepEqual(tokenize("they're here, we've gone, I'm in, you'll see, he'd go"), ["they", "'re", "here", "we", "'ve", "gone", "i", "'m", "in", "you", "'ll", "see", "he", "'d", "go"]);
  assert.deepEqual(tokenize("Dog\u2019s ball"), ["dog", "'s", "ball"], "curly apostrophe treated as straight");
  assert.deepEqual(tokenize("?!., ;:"), []);
});

test("vocabulary: specials first, words by count then alphabet, top-K and min-count rules", () => {
  const caps = ["a dog runs", "a dog sits", "a cat runs", "the bird"];
  const v = Vocabulary.build(caps);
  assert.deepEqual(v.words, ["<pad>", "<start>", "<end>", "<unk>", "a", "dog", "runs", "bird", "cat", "sits", "the"]);
  assert.equal(v.size, 11);
  // K counts the special tokens (docs/model.md §Shapes): K = 6 keeps the two most frequent words.
  assert.deepEqual(Vocabulary.build(caps, { maxSize: 6 }).words.slice(4), ["a", "dog"]);
  assert.deepEqual(Vocabulary.build(caps, { minCount: 2 }).words.slice(4), ["a", "dog", "runs"]);
  assert.deepEqual(v.encode("A dog flies."), [v.id("a"), v.id("dog"), UNK, END]);
  assert.deepEqual(v.decode([1, v.id("a"), v.id("cat"), END, v.id("dog")]), ["a", "cat"]);
  // Order of captions must not change the result (ties broken by the word).
  assert.deepEqual(Vocabulary.build([...caps].reverse()).words, v.words);
  assert.throws(() => Vocabulary.build(caps, { maxSize: 3 }), UserError);
});

test("vocabulary round-trips through JSON and rejects a malformed file", () => {
  const v = Vocabulary.build(["a b c", "a b", "a"], { maxSize: 100 });
  const back = Vocabulary.fromJSON(JSON.parse(JSON.stringify(v.toJSON())));
  assert.deepEqual(back.words, v.words);
  assert.deepEqual(back.counts, v.counts);
  assert.deepEqual(back.rule, v.rule);
  assert.throws(() => Vocabulary.fromJSON({ format: "sat-vocabulary", version: 1, words: ["a", "<pad>"] }, "x.json"), /x\.json: words\[0\] must be <pad>/);
  assert.throws(() => Vocabulary.fromJSON({ format: "other" }), UserError);
});

test("length statistics and buckets", () => {
  const s = lengthStats([3, 5, 5, 7, 10]);
  assert.equal(s.captions, 5);
  assert.equal(s.min, 3);
  assert.equal(s.max, 10);
  assert.equal(s.mean, 6);
  assert.equal(s.median, 5);
  assert.deepEqual(s.histogram, { 3: 1, 5: 2, 7: 1, 10: 1 });
  assert.deepEqual([...lengthBuckets([4, 2, 4, 3]).entries()], [[2, [1]], [3, [3]], [4, [0, 2]]]);
});

test("bucket sampler: one length per batch, every caption once per epoch, seeded", () => {
  // 1000 captions, lengths 5..14 with unequal counts.
  const lengths = Array.from({ length: 1000 }, (_, i) => 5 + ((i * i) % 10));
  const s = new BucketBatchSampler(lengths, { batchSize: 16, seed: 7 });
  const ep = s.epoch(0);
  assert.equal(ep.length, s.batchesPerEpoch);
  const seen = new Set<number>();
  for (const b of ep) {
    assert.ok(b.length >= 1 && b.length <= 16);
    assert.ok(b.every((i) => lengths[i] === lengths[b[0]]), "a batch mixes lengths");
    for (const i of b) seen.add(i);
  }
  assert.equal(seen.size, 1000);
  assert.deepEqual(new BucketBatchSampler(lengths, { batchSize: 16, seed: 7 }).epoch(0), ep, "same seed, same batches");
  assert.notDeepEqual(s.epoch(1), ep, "epochs differ");
  assert.notDeepEqual(new BucketBatchSampler(lengths, { batchSize: 16, seed: 8 }).epoch(0), ep);
  // maxLength drops long captions; dropLast keeps only full batches.
  const s2 = new BucketBatchSampler(lengths, { batchSize: 16, seed: 7, maxLength: 9, dropLast: true });
  assert.ok(s2.epoch(0).every((b) => b.length === 16 && lengths[b[0]] <= 9));
});

test("bucket sampler draws lengths in proportion to their counts", () => {
  // Two lengths, 900 vs 100 captions, batch 10: over the first 20 batches of many epochs the
  // share of length-A batches must approach 0.9 (binomial sd over 200 epochs x 20 = 4000
  // draws is 0.005; the bound 0.03 is 6 sd).
  const lengths = [...Array(900).fill(8), ...Array(100).fill(12)];
  const s = new BucketBatchSampler(lengths, { batchSize: 10, seed: 3 });
  let a = 0;
  let n = 0;
  for (let e = 0; e < 200; e++) {
    for (const b of s.epoch(e).slice(0, 20)) {
      if (lengths[b[0]] === 8) a++;
      n++;
    }
  }
  assert.ok(Math.abs(a / n - 0.9) < 0.03, `share ${a / n}`);
});
