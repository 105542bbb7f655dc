/**
 * METEOR 1.5 without the paraphrase module ("METEOR (no paraphrase)"), following the
 * algorithm of the official scorer with coco-caption's settings (`-l en -norm`, task `rank`):
 *
 * - Text: coco-caption's PTB tokens, then METEOR's own `-norm` normaliser (meteor-normalize.ts).
 * - Matching stages, in order: exact (identical words), stem (different words with the same
 *   Snowball English stem), synonym (different words sharing a WordNet synset, after base-form
 *   lookup through WordNet's exception lists and suffix rules). Every candidate is kept.
 * - Alignment: word pairs that are the only candidate for both of their words are fixed; the
 *   rest is resolved by METEOR's left-to-right beam search (beam 40) over reference positions,
 *   ranking partial alignments by weighted matches (search weights 1.0 / 0.5 / 0.5, summed in
 *   integers as METEOR does, so one-word stem/synonym matches count 0), then fewer chunks,
 *   then smaller summed |ref pos - hyp pos| distance (with METEOR's bookkeeping quirk).
 * - Scoring (rank task, English): module weights 1.0 / 0.6 / 0.8 (paraphrase 0.6 unavailable),
 *   alpha = 0.85, beta = 0.20, gamma = 0.60, delta = 0.75. Matched and total words are split
 *   into content and function words; P and R weight content words by delta and function words
 *   by 1 - delta. Fmean = P R / (alpha P + (1 - alpha) R); Pen = gamma (chunks / m)^beta with
 *   m the mean of matched hyp and ref words (0 when the sentences are identical);
 *   score = Fmean (1 - Pen).
 * - Several references: the reference with the highest score is kept (first on ties), and
 *   its statistics are what the corpus aggregates. The corpus score is computed from the
 *   summed statistics, not as a mean of image scores.
 *
 * Differences from official METEOR 1.5 (see docs in src/metrics/README.md): no paraphrase
 * module; an approximate function-word list; WordNet read from the database rather than
 * METEOR's pre-built files.
 */
import snowball from "snowball-stemmers";
import { FUNCTION_WORDS } from "./function-words.js";
import { meteorNormalize } from "./meteor-normalize.js";
import { loadWordNet, type WordNet } from "./wordnet.js";

export const METEOR_LABEL = "METEOR (no paraphrase)";

export const METEOR_PARAMS = { alpha: 0.85, beta: 0.2, gamma: 0.6, delta: 0.75 } as const;
/** Scoring weights of the exact, stem and synonym modules (rank task, English). */
export const METEOR_MODULE_WEIGHTS = [1.0, 0.6, 0.8] as const;
/** Weights METEOR's scorer installs in the aligner for the search (exact 1, others 0.5). */
const SEARCH_WEIGHTS = [1.0, 0.5, 0.5] as const;
const BEAM_SIZE = 40;
const MODULES = 3;

export const MODULE_EXACT = 0;
export const MODULE_STEM = 1;
export const MODULE_SYNONYM = 2;

/** METEOR's sufficient statistics for one hypothesis-reference pair (or a sum of them). */
export interface MeteorStats {
  testLength: number;
  referenceLength: number;
  testFunctionWords: number;
  referenceFunctionWords: number;
  /** Matched words per module, split into content and function words. */
  testContent: number[];
  testFunction: number[];
  referenceContent: number[];
  referenceFunction: number[];
  chunks: number;
  testWordMatches: number;
  referenceWordMatches: number;
}

export interface MeteorScore {
  precision: number;
  recall: number;
  fMean: number;
  fragPenalty: number;
  score: number;
}

export interface MeteorOptions {
  /** WordNet database directory (see wordnet.ts for the defaults). */
  wordnetDir?: string;
  /** Skip the synonym module (no WordNet needed); for tests and diagnostics only. */
  noSynonyms?: boolean;
}

export interface MeteorResult {
  /** Corpus METEOR from aggregated statistics (what coco-caption prints). */
  score: number;
  perImage: number[];
  stats: MeteorStats;
}

/** One candidate word pair: hyp position i, ref position j, module. */
interface Match {
  i: number;
  j: number;
  module: number;
}

interface Partial {
  /** Hyp position matched to each ref position, or -1. */
  hypAt: Int32Array;
  moduleAt: Int8Array;
  used1: Uint8Array;
  used2: Uint8Array;
  /**
   * Weighted matched words in hyp and ref. METEOR declares these `int` and adds
   * `length * weight` with `+=`, which Java truncates: a one-word stem or synonym match
   * (weight 0.5) adds nothing, so the search ranks by exact matches, then chunks, then distance.
   */
  matches1: number;
  matches2: number;
  chunks: number;
  idx: number;
  distance: number;
  lastMatchEnd: number;
}

/** Java's `int += double` on a one-word match of the given weight, for both sentences. */
function addWeighted(p: Partial, weight: number): void {
  p.matches1 = Math.trunc(p.matches1 + weight);
  p.matches2 = Math.trunc(p.matches2 + weight);
}

function clonePartial(p: Partial): Partial {
  return {
    hypAt: p.hypAt.slice(),
    moduleAt: p.moduleAt.slice(),
    used1: p.used1.slice(),
    used2: p.used2.slice(),
    matches1: p.matches1,
    matches2: p.matches2,
    chunks: p.chunks,
    idx: p.idx,
    distance: p.distance,
    lastMatchEnd: p.lastMatchEnd,
  };
}

/** METEOR's ranking of partial alignments: more weighted matches, fewer chunks, less distance. */
function comparePartial(x: Partial, y: Partial): number {
  const d = y.matches1 + y.matches2 - (x.matches1 + x.matches2);
  if (d > 0) return 1;
  if (d < 0) return -1;
  if (x.chunks !== y.chunks) return x.chunks - y.chunks;
  return x.distance - y.distance;
}

export interface Alignment {
  /** For each reference position, the hypothesis position aligned to it, or -1. */
  hypAt: Int32Array;
  /** The module of each alignment link (meaningful where hypAt >= 0). */
  moduleAt: Int8Array;
  chunks: number;
}

/** A METEOR scorer holding the stemmer and WordNet; reuse it across calls. */
export class Meteor {
  private readonly stemmer = snowball.newStemmer("english");
  private readonly stemCache = new Map<string, string>();
  private readonly wordnet: WordNet | null;
  readonly functionWords: ReadonlySet<string>;

  constructor(opts: MeteorOptions = {}) {
    this.wordnet = opts.noSynonyms ? null : loadWordNet(opts.wordnetDir);
    this.functionWords = FUNCTION_WORDS;
  }

  /** The WordNet directory in use, or null when synonyms are off. */
  get wordnetDir(): string | null {
    return this.wordnet?.dir ?? null;
  }

  private stem(w: string): string {
    let s = this.stemCache.get(w);
    if (s === undefined) {
      s = this.stemmer.stem(w);
      this.stemCache.set(w, s);
    }
    return s;
  }

  /** Aligns hypothesis words (METEOR's line 1) with reference words (line 2). */
  align(hyp: readonly string[], ref: readonly string[]): Alignment {
    const n1 = hyp.length;
    const n2 = ref.length;
    const cands: Match[][] = Array.from({ length: n2 }, () => []);
    const cov1 = new Int32Array(n1);
    const cov2 = new Int32Array(n2);
    const add = (i: number, j: number, module: number): void => {
      cands[j].push({ i, j, module });
      cov1[i]++;
      cov2[j]++;
    };
    // Identical sentences need only exact matches (METEOR's guard against beam errors).
    const identical = n1 === n2 && hyp.every((w, k) => w === ref[k]);
    for (let j = 0; j < n2; j++) for (let i = 0; i < n1; i++) if (hyp[i] === ref[j]) add(i, j, MODULE_EXACT);
    if (!identical) {
      const s1 = hyp.map((w) => this.stem(w));
      const s2 = ref.map((w) => this.stem(w));
      for (let j = 0; j < n2; j++) {
        for (let i = 0; i < n1; i++) if (s1[i] === s2[j] && hyp[i] !== ref[j]) add(i, j, MODULE_STEM);
      }
      const wn = this.wordnet;
      if (wn) {
        for (let j = 0; j < n2; j++) {
          for (let i = 0; i < n1; i++) if (hyp[i] !== ref[j] && wn.areSynonyms(hyp[i], ref[j])) add(i, j, MODULE_SYNONYM);
        }
      }
    }

    // One-to-one, non-overlapping candidates are definite.
    const start: Partial = {
      hypAt: new Int32Array(n2).fill(-1),
      moduleAt: new Int8Array(n2),
      used1: new Uint8Array(n1),
      used2: new Uint8Array(n2),
      matches1: 0,
      matches2: 0,
      chunks: 0,
      idx: 0,
      distance: 0,
      lastMatchEnd: -1,
    };
    for (let j = 0; j < n2; j++) {
      if (cands[j].length === 1) {
        const m = cands[j][0];
        if (cov2[j] === 1 && cov1[m.i] === 1) {
          start.hypAt[j] = m.i;
          start.moduleAt[j] = m.module;
          start.used1[m.i] = 1;
          start.used2[j] = 1;
        }
      }
    }

    const best = this.resolve(cands, start, n2);
    // Count chunks on the final alignment (METEOR recounts rather than trusting the search).
    let chunks = 0;
    let last = -1;
    for (let j = 0; j < n2; j++) {
      const i = best.hypAt[j];
      if (i < 0) {
        if (last !== -1) {
          chunks++;
          last = -1;
        }
      } else {
        if (last !== -1 && i !== last) chunks++;
        last = i + 1;
      }
    }
    if (last !== -1) chunks++;
    return { hypAt: best.hypAt, moduleAt: best.moduleAt, chunks };
  }

  /** METEOR's beam search over reference positions, left to right. */
  private resolve(cands: Match[][], start: Partial, n2: number): Partial {
    let next: Partial[] = [start];
    for (let current = 0; current <= n2; current++) {
      const paths = next;
      next = [];
      paths.sort(comparePartial);
      for (let rank = 0; rank < BEAM_SIZE && rank < paths.length; rank++) {
        const path = paths[rank];
        if (current === n2) {
          if (path.lastMatchEnd !== -1) path.chunks++;
          next.push(path);
          continue;
        }
        if (path.used2[current]) {
          // A fixed (definite) match at this position: account for it.
          const i = path.hypAt[current];
          if (current >= path.idx && i >= 0) {
            addWeighted(path, SEARCH_WEIGHTS[path.moduleAt[current]]);
            if (path.lastMatchEnd !== -1 && i !== path.lastMatchEnd) path.chunks++;
            path.idx = current + 1;
            path.lastMatchEnd = i + 1;
            path.distance += Math.abs(current - i);
          }
          next.push(path);
          continue;
        }
        for (const m of cands[current]) {
          if (path.used1[m.i] || path.used2[m.j]) continue;
          const np = clonePartial(path);
          np.used1[m.i] = 1;
          np.used2[m.j] = 1;
          np.hypAt[current] = m.i;
          np.moduleAt[current] = m.module;
          addWeighted(np, SEARCH_WEIGHTS[m.module]);
          if (np.lastMatchEnd !== -1 && m.i !== np.lastMatchEnd) np.chunks++;
          np.idx = current + 1;
          np.lastMatchEnd = m.i + 1;
          // Faithful to METEOR 1.5: the distance of a newly chosen match is added to the
          // *parent* path (which continues as the "skip" branch), not to the new one.
          path.distance += Math.abs(m.j - m.i);
          next.push(np);
        }
        // Try skipping this position.
        if (path.lastMatchEnd !== -1) {
          path.chunks++;
          path.lastMatchEnd = -1;
        }
        path.idx++;
        next.push(path);
      }
      if (next.length === 0) next.push(paths[0]);
    }
    next.sort(comparePartial);
    return next[0];
  }

  /** Statistics of one tokenised hypothesis against one tokenised reference (normalised words). */
  pairStats(hyp: readonly string[], ref: readonly string[]): MeteorStats {
    const a = this.align(hyp, ref);
    const fw = this.functionWords;
    const isF1 = hyp.map((w) => fw.has(w));
    const isF2 = ref.map((w) => fw.has(w));
    const s: MeteorStats = {
      testLength: hyp.length,
      referenceLength: ref.length,
      testFunctionWords: isF1.filter(Boolean).length,
      referenceFunctionWords: isF2.filter(Boolean).length,
      testContent: new Array(MODULES).fill(0),
      testFunction: new Array(MODULES).fill(0),
      referenceContent: new Array(MODULES).fill(0),
      referenceFunction: new Array(MODULES).fill(0),
      chunks: a.chunks,
      testWordMatches: 0,
      referenceWordMatches: 0,
    };
    for (let j = 0; j < ref.length; j++) {
      const i = a.hypAt[j];
      if (i < 0) continue;
      const mod = a.moduleAt[j];
      if (isF1[i]) s.testFunction[mod]++;
      else s.testContent[mod]++;
      if (isF2[j]) s.referenceFunction[mod]++;
      else s.referenceContent[mod]++;
      s.testWordMatches++;
      s.referenceWordMatches++;
    }
    return s;
  }

  /**
   * Best statistics of a hypothesis over its references (METEOR keeps the highest-scoring
   * reference, the first one on ties). Inputs are raw or PTB-tokenised captions; METEOR's
   * normaliser is applied here.
   */
  imageStats(hyp: string, refs: readonly string[]): MeteorStats {
    const h = splitTokens(meteorNormalize(hyp));
    let best: MeteorStats | null = null;
    let bestScore = -1;
    for (const r of refs) {
      const st = this.pairStats(h, splitTokens(meteorNormalize(r)));
      const sc = meteorScore(st).score;
      if (sc > bestScore) {
        best = st;
        bestScore = sc;
      }
    }
    if (!best) throw new Error("meteor: an image needs at least one reference");
    return best;
  }

  /** Corpus METEOR (aggregated statistics) and per-image scores, aligned by index. */
  score(hyps: readonly string[], refs: readonly (readonly string[])[]): MeteorResult {
    if (hyps.length !== refs.length) throw new Error("meteor: hyps and refs differ in length");
    const all = hyps.map((h, i) => this.imageStats(h, refs[i]));
    const total = sumStats(all);
    return { score: meteorScore(total).score, perImage: all.map((s) => meteorScore(s).score), stats: total };
  }
}

function splitTokens(s: string): string[] {
  const t = s.trim();
  return t ? t.split(/\s+/) : [];
}

/** Sums statistics (METEOR's aggregation for the corpus score). */
export function sumStats(all: readonly MeteorStats[]): MeteorStats {
  const z = (): number[] => new Array(MODULES).fill(0);
  const t: MeteorStats = {
    testLength: 0, referenceLength: 0, testFunctionWords: 0, referenceFunctionWords: 0,
    testContent: z(), testFunction: z(), referenceContent: z(), referenceFunction: z(),
    chunks: 0, testWordMatches: 0, referenceWordMatches: 0,
  };
  for (const s of all) {
    t.testLength += s.testLength;
    t.referenceLength += s.referenceLength;
    t.testFunctionWords += s.testFunctionWords;
    t.referenceFunctionWords += s.referenceFunctionWords;
    t.chunks += s.chunks;
    t.testWordMatches += s.testWordMatches;
    t.referenceWordMatches += s.referenceWordMatches;
    for (let k = 0; k < MODULES; k++) {
      t.testContent[k] += s.testContent[k];
      t.testFunction[k] += s.testFunction[k];
      t.referenceContent[k] += s.referenceContent[k];
      t.referenceFunction[k] += s.referenceFunction[k];
    }
  }
  return t;
}

/** METEOR's computeMetrics: the score of a set of sufficient statistics. */
export function meteorScore(s: MeteorStats, params = METEOR_PARAMS, weights: readonly number[] = METEOR_MODULE_WEIGHTS): MeteorScore {
  const { alpha, beta, gamma, delta } = params;
  const testWeightedLength = delta * (s.testLength - s.testFunctionWords) + (1 - delta) * s.testFunctionWords;
  const refWeightedLength = delta * (s.referenceLength - s.referenceFunctionWords) + (1 - delta) * s.referenceFunctionWords;
  let testW = 0;
  let refW = 0;
  for (let k = 0; k < weights.length; k++) testW += s.testContent[k] * weights[k] * delta;
  for (let k = 0; k < weights.length; k++) refW += s.referenceContent[k] * weights[k] * delta;
  for (let k = 0; k < weights.length; k++) testW += s.testFunction[k] * weights[k] * (1 - delta);
  for (let k = 0; k < weights.length; k++) refW += s.referenceFunction[k] * weights[k] * (1 - delta);
  const precision = testW / testWeightedLength;
  const recall = refW / refWeightedLength;
  const fMean = 1 / ((1 - alpha) / precision + alpha / recall);
  let testTotal = 0;
  let refTotal = 0;
  for (let k = 0; k < MODULES; k++) {
    testTotal += s.testContent[k] + s.testFunction[k];
    refTotal += s.referenceContent[k] + s.referenceFunction[k];
  }
  const frag =
    testTotal === s.testLength && refTotal === s.referenceLength && s.chunks === 1
      ? 0
      : s.chunks / ((s.testWordMatches + s.referenceWordMatches) / 2);
  const fragPenalty = gamma * frag ** beta;
  const raw = fMean * (1 - fragPenalty);
  const score = Number.isNaN(raw) ? 0 : Math.max(raw, 0);
  return { precision, recall, fMean, fragPenalty, score };
}
