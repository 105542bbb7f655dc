/**
 * The captioning API's pure core, shared by Captioner (Node: `sat caption`, `sat serve`) and
 * the web page's in-browser mode: the beam-search options a CaptionOptions stands for, and
 * the caption structure (words, scores, per-word α and β) made from a beam's hypotheses.
 * No Node dependency, so the browser bundle captions with exactly the server's rules.
 */
import { END, START, UNK, PAD } from "../data/vocab.js";
import type { DecoderEngine } from "../model/engine.js";
import { beamSearch, type BeamCaption, type BeamOptions } from "./beam.js";
import { DECODE_DEFAULTS } from "./defaults.js";

/** Decoding settings (each defaults to DECODE_DEFAULTS, where they are described). */
export interface CaptionOptions {
  beamWidth?: number;
  maxLength?: number;
  topN?: number;
  lengthPenalty?: number;
  suppressUnk?: boolean;
  /** Hard attention: sample locations with this seed instead of using the expectation. */
  sampleLocationsSeed?: number;
}

export interface WordAttention {
  word: string;
  /** α over the L locations (row-major over the encoder grid). */
  alpha: number[];
  beta: number;
  /** Hard attention with sampled locations: the location attended (index into the grid). */
  location?: number;
}

export interface CaptionCandidate {
  text: string;
  words: string[];
  logProb: number;
  score: number;
  /** false when the caption was cut at maxLength without <end>. */
  finished: boolean;
  /** One entry per word, then one for <end> when finished. */
  attention: WordAttention[];
}

/** The beam search a CaptionOptions asks for (defaults filled in; <pad>, <start> and by default <unk> never emitted). */
export function beamOptionsFor(o: CaptionOptions = {}): BeamOptions {
  const suppress = [PAD, START];
  if (o.suppressUnk ?? DECODE_DEFAULTS.suppressUnk) suppress.push(UNK);
  return {
    startId: START,
    endId: END,
    beamWidth: o.beamWidth ?? DECODE_DEFAULTS.beamWidth,
    maxLength: o.maxLength ?? DECODE_DEFAULTS.maxLength,
    topN: o.topN ?? DECODE_DEFAULTS.topN,
    lengthPenalty: o.lengthPenalty ?? DECODE_DEFAULTS.lengthPenalty,
    suppress,
    sampleLocationsSeed: o.sampleLocationsSeed,
  };
}

/** One beam hypothesis as a caption, its ids spelt with the vocabulary `words` (index = id). */
export function describeCandidate(c: BeamCaption, words: readonly string[]): CaptionCandidate {
  const spelt = c.tokens.map((t) => words[t] ?? "<unk>");
  const labels = c.finished ? [...spelt, "<end>"] : spelt;
  return {
    text: spelt.join(" "),
    words: spelt,
    logProb: c.logProb,
    score: c.score,
    finished: c.finished,
    attention: labels.map((word, i) => ({
      word,
      alpha: Array.from(c.alphas[i]),
      beta: c.betas[i],
      ...(c.locations ? { location: c.locations[i] } : {}),
    })),
  };
}

/** Captions N images given their annotation vectors ([N, L, D]): beam search, then the caption structure. */
export function captionFeaturesWith(
  engine: DecoderEngine,
  words: readonly string[],
  features: Float32Array,
  numImages: number,
  o: CaptionOptions = {},
): CaptionCandidate[][] {
  return beamSearch(engine, features, numImages, beamOptionsFor(o)).map((cands) => cands.map((c) => describeCandidate(c, words)));
}
