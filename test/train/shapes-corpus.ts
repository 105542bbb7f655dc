// The training tests' corpus: generated shapes scenes, their synthetic features and captions.
import { generateSplits, SyntheticFeatures } from "../../src/data/synthetic/index.js";
import { Vocabulary } from "../../src/data/vocab.js";
import { buildCorpus, featuresOf } from "../../src/train/synthetic-task.js";

export function shapesCorpus(o: { images: number; seed: number; dim: number }) {
  const splits = generateSplits({ train: o.images, val: 0, test: 0, seed: o.seed, maxCaptions: 2 });
  const sf = new SyntheticFeatures({ dim: o.dim });
  const vocab = Vocabulary.build(splits.train.flatMap((s) => s.captions.map((c) => c.text)));
  return { sf, vocab, corpus: buildCorpus(splits.train, featuresOf(splits.train, sf), sf.numLocations * sf.dim, vocab) };
}
