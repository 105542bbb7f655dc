import { test } from "node:test";
import assert from "node:assert/strict";
import { ptbTokenize, ptbTokensRaw, tokenizeCaption } from "../../src/metrics/tokenizer.js";

// The behaviours docs/evaluation.md records from the real Stanford PTBTokenizer run by
// coco-caption (-preserveLines -lowerCase, then the punctuation drop).
test("clitics split off as PTB does", () => {
  assert.equal(tokenizeCaption("A man's dog"), "a man 's dog");
  assert.equal(tokenizeCaption("I don't know"), "i do n't know");
  assert.equal(tokenizeCaption("cannot"), "can not");
  assert.equal(tokenizeCaption("they're here and we'll go"), "they 're here and we 'll go");
});

test("case is folded after tokenising: AT&T stays whole, at&t splits", () => {
  assert.deepEqual(ptbTokenize("AT&T"), ["at&t"]);
  assert.deepEqual(ptbTokenize("at&t"), ["at", "&", "t"]);
});

test("currency, numbers, hyphens and abbreviations", () => {
  assert.deepEqual(ptbTokenize("$1,000.50"), ["$", "1,000.50"]);
  assert.deepEqual(ptbTokenize("a t-shirt"), ["a", "t-shirt"]);
  assert.deepEqual(ptbTokenize("Mr. Smith of the U.S. army"), ["mr.", "smith", "of", "the", "u.s.", "army"]);
});

test("the drop list removes punctuation, but lower-cased brackets survive", () => {
  // Raw tokens keep the punctuation; the drop list is compared after lower-casing, so
  // -lrb-/-rrb- are kept (coco-caption's drop list has the upper-case forms only).
  assert.deepEqual(ptbTokensRaw("A dog (brown), running!"), ["a", "dog", "-lrb-", "brown", "-rrb-", ",", "running", "!"]);
  assert.deepEqual(ptbTokenize("A dog (brown), running!"), ["a", "dog", "-lrb-", "brown", "-rrb-", "running"]);
  assert.deepEqual(ptbTokenize('He said "hi" -- then left... ; ok: fine?'), ["he", "said", "hi", "then", "left", "ok", "fine"]);
});

test("case and punctuation do not change the tokens", () => {
  const forms = ["A dog runs on the grass.", "a dog runs on the grass", "A DOG RUNS ON THE GRASS!", "  a dog, runs on the grass ;  "];
  for (const f of forms) assert.equal(tokenizeCaption(f), "a dog runs on the grass", f);
});

test("empty and whitespace-only captions give no tokens", () => {
  assert.deepEqual(ptbTokenize(""), []);
  assert.deepEqual(ptbTokenize("  . , ! "), []);
});
