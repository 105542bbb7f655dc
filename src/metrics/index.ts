/**
 * Caption metrics as the field computes them (coco-caption / pycocoevalcap), in TypeScript.
 *
 * Every scorer is exported on its own and takes *tokenised* captions aligned by index
 * (`hyps[i]` against `refs[i]`); {@link scoreCaptions} does the whole coco-caption pipeline:
 * check that the image sets agree, PTB-tokenise references and hypotheses, and run BLEU-1..4
 * (with and without brevity penalty), METEOR (no paraphrase), ROUGE-L and CIDEr-D.
 * Scores are on the 0-1 scale (CIDEr-D as the toolkit reports it, usually 0-10).
 */
import { bleu, type BleuResult } from "./bleu.js";
import { ciderD } from "./cider.js";
import { Meteor } from "./meteor.js";
import { rougeL } from "./rouge.js";
import { tokenizeCaption } from "./tokenizer.js";

export { bleu, bleuFromStats, bleuStats, closestRefLen, type BleuResult, type BleuStats } from "./bleu.js";
export { ciderD, CiderDScorer, type CiderOptions, type CiderResult } from "./cider.js";
export { lcsLength, rougeL, rougeLSentence, ROUGE_BETA, type RougeResult } from "./rouge.js";
export {
  Meteor,
  METEOR_LABEL,
  METEOR_MODULE_WEIGHTS,
  METEOR_PARAMS,
  meteorScore,
  sumStats as sumMeteorStats,
  type Alignment as MeteorAlignment,
  type MeteorOptions,
  type MeteorResult,
  type MeteorScore,
  type MeteorStats,
} from "./meteor.js";
export { meteorNormalize } from "./meteor-normalize.js";
export { FUNCTION_WORDS } from "./function-words.js";
export { loadWordNet, resolveWordNetDir, WordNet, WordNetMissingError } from "./wordnet.js";
export { PTB_DROPPED, ptbTokenize, ptbTokensRaw, tokenizeCaption } from "./tokenizer.js";

export const CIDER_LABEL = "CIDEr-D";

/** References: image id -> reference captions. */
export type RefMap = ReadonlyMap<string, readonly string[]> | Readonly<Record<string, readonly string[]>>;
/** Hypotheses: image id -> one generated caption. */
export type HypMap = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

/** Raised when hypotheses and references do not cover the same images. */
export class ImageSetMismatchError extends Error {
  override name = "ImageSetMismatchError";
  constructor(
    message: string,
    readonly missingRefs: string[],
    readonly missingHyps: string[],
  ) {
    super(message);
  }
}

function entries<T>(m: ReadonlyMap<string, T> | Readonly<Record<string, T>>): [string, T][] {
  return m instanceof Map ? [...m.entries()] : Object.entries(m as Record<string, T>);
}

function sample(ids: string[]): string {
  const shown = ids.slice(0, 3).join(", ");
  return ids.length > 3 ? `${shown}, ...` : shown;
}

/**
 * Pairs hypotheses with references by image id, in the hypotheses' order. Throws
 * {@link ImageSetMismatchError} when the two image sets differ, or when an image has no
 * reference caption: coco-caption scores exactly the images in both, and a silently
 * shrunken set gives numbers that are not comparable.
 */
export function pairByImage(refs: RefMap, hyps: HypMap): { ids: string[]; refs: string[][]; hyps: string[] } {
  const refMap = new Map(entries(refs));
  const hypEntries = entries(hyps);
  const hypIds = new Set(hypEntries.map(([id]) => id));
  const missingRefs = hypEntries.map(([id]) => id).filter((id) => !refMap.has(id));
  const missingHyps = [...refMap.keys()].filter((id) => !hypIds.has(id));
  if (missingRefs.length || missingHyps.length) {
    const parts: string[] = [];
    if (missingRefs.length) parts.push(`${missingRefs.length} captioned image(s) have no references (${sample(missingRefs)})`);
    if (missingHyps.length) parts.push(`${missingHyps.length} reference image(s) have no caption (${sample(missingHyps)})`);
    throw new ImageSetMismatchError(`image sets differ: ${parts.join("; ")}`, missingRefs, missingHyps);
  }
  const empty = [...refMap.entries()].filter(([, r]) => r.length === 0).map(([id]) => id);
  if (empty.length) throw new ImageSetMismatchError(`${empty.length} image(s) have an empty reference list (${sample(empty)})`, [], []);
  return {
    ids: hypEntries.map(([id]) => id),
    refs: hypEntries.map(([id]) => [...(refMap.get(id) as readonly string[])]),
    hyps: hypEntries.map(([, h]) => h),
  };
}

export interface ScoreOptions {
  /** Compute METEOR (needs WordNet; default true). */
  meteor?: boolean;
  /** WordNet database directory for METEOR (default: see resolveWordNetDir). */
  wordnetDir?: string;
  /** Apply coco-caption's PTB tokenisation first (default true; false = already tokenised). */
  tokenize?: boolean;
  /** A METEOR scorer to reuse (avoids reloading WordNet). */
  meteorScorer?: Meteor;
}

export interface PerImageScores {
  bleu: number[];
  meteor: number | null;
  rouge_l: number;
  cider: number;
}

/** The toolkit's numbers on the 0-1 scale (CIDEr-D unscaled, as coco-caption prints it). */
export interface CaptionScores {
  bleu: number[];
  bleu_nobp: number[];
  /** METEOR without the paraphrase module ({@link METEOR_LABEL}); null when not computed. */
  meteor: number | null;
  rouge_l: number;
  cider: number;
  images: number;
  references: number;
  ids: string[];
  perImage: PerImageScores[];
  bleuDetail: BleuResult;
  wordnetDir: string | null;
}

/** Scores hypotheses against references with coco-caption's pipeline. */
export function scoreCaptions(refs: RefMap, hyps: HypMap, opts: ScoreOptions = {}): CaptionScores {
  const paired = pairByImage(refs, hyps);
  const tok = opts.tokenize === false ? (s: string) => s : tokenizeCaption;
  const tRefs = paired.refs.map((rs) => rs.map(tok));
  const tHyps = paired.hyps.map(tok);
  const b = bleu(tHyps, tRefs);
  const r = rougeL(tHyps, tRefs);
  const c = ciderD(tHyps, tRefs);
  let meteor: number | null = null;
  let meteorPer: number[] | null = null;
  let wordnetDir: string | null = null;
  if (opts.meteor !== false) {
    const scorer = opts.meteorScorer ?? new Meteor({ wordnetDir: opts.wordnetDir });
    const m = scorer.score(tHyps, tRefs);
    meteor = m.score;
    meteorPer = m.perImage;
    wordnetDir = scorer.wordnetDir;
  }
  return {
    bleu: b.bleu,
    bleu_nobp: b.bleuNoBp,
    meteor,
    rouge_l: r.score,
    cider: c.score,
    images: paired.ids.length,
    references: tRefs.reduce((a, rs) => a + rs.length, 0),
    ids: paired.ids,
    perImage: paired.ids.map((_, i) => ({
      bleu: b.perImage[i],
      meteor: meteorPer ? meteorPer[i] : null,
      rouge_l: r.perImage[i],
      cider: c.perImage[i],
    })),
    bleuDetail: b,
    wordnetDir,
  };
}

