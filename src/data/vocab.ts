/**
 * The word vocabulary: special tokens first (`<pad>`=0, `<start>`=1, `<end>`=2, `<unk>`=3),
 * then the training split's words by descending count (ties by word, so the result does not
 * depend on caption order). Saved with the model as JSON.
 */
import { readFileSync } from "node:fs";
import { UserError } from "../errors.js";
import { tokenize } from "./tokenize.js";

export const PAD = 0;
export const START = 1;
export const END = 2;
export const UNK = 3;
export const SPECIAL_TOKENS = ["<pad>", "<start>", "<end>", "<unk>"] as const;

export interface VocabularyOptions {
  /**
   * Largest vocabulary, special tokens included (the paper's K = 10,000). Words beyond it,
   * in count order, map to `<unk>`.
   */
  maxSize?: number;
  /** Keep only words seen at least this often in training (1 = every word). */
  minCount?: number;
}

export interface VocabularyJSON {
  format: "sat-vocabulary";
  version: 1;
  /** All tokens, index = id; the first four are the special tokens. */
  words: string[];
  /** Training counts of `words` (0 for the special tokens). */
  counts: number[];
  /** How it was built, for the record. */
  rule: { maxSize: number | null; minCount: number; trainingWords: number };
}

export class Vocabulary {
  readonly words: readonly string[];
  readonly counts: readonly number[];
  readonly rule: VocabularyJSON["rule"];
  private readonly index: Map<string, number>;

  private constructor(words: string[], counts: number[], rule: VocabularyJSON["rule"]) {
    this.words = words;
    this.counts = counts;
    this.rule = rule;
    this.index = new Map(words.map((w, i) => [w, i]));
  }

  /** Builds the vocabulary from (training) captions, tokenised with `tokenize`. */
  static build(captions: Iterable<string>, opts: VocabularyOptions = {}): Vocabulary {
    const minCount = opts.minCount ?? 1;
    const maxSize = opts.maxSize ?? null;
    if (maxSize !== null && (!Number.isInteger(maxSize) || maxSize < SPECIAL_TOKENS.length + 1)) {
      throw new UserError(`vocabulary size must be an integer of at least ${SPECIAL_TOKENS.length + 1} (got ${maxSize})`);
    }
    if (!Number.isInteger(minCount) || minCount < 1) throw new UserError(`vocabulary min count must be a positive integer (got ${minCount})`);
    const counts = new Map<string, number>();
    for (const c of captions) for (const t of tokenize(c)) counts.set(t, (counts.get(t) ?? 0) + 1);
    const special = new Set<string>(SPECIAL_TOKENS);
    const ranked = [...counts.entries()]
      .filter(([w, n]) => n >= minCount && !special.has(w))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const keep = maxSize === null ? ranked : ranked.slice(0, maxSize - SPECIAL_TOKENS.length);
    return new Vocabulary(
      [...SPECIAL_TOKENS, ...keep.map(([w]) => w)],
      [0, 0, 0, 0, ...keep.map(([, n]) => n)],
      { maxSize, minCount, trainingWords: counts.size },
    );
  }

  get size(): number {
    return this.words.length;
  }

  id(word: string): number {
    return this.index.get(word) ?? UNK;
  }

  has(word: string): boolean {
    return this.index.has(word);
  }

  /** Token ids of a caption followed by `<end>` (no `<start>`: the decoder's y_0 is implicit). */
  encode(caption: string): number[] {
    const ids = tokenize(caption).map((t) => this.id(t));
    ids.push(END);
    return ids;
  }

  /** Words of a sequence of ids, stopping at `<end>` and skipping `<start>` / `<pad>`. */
  decode(ids: ArrayLike<number>): string[] {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === END) break;
      if (id === PAD || id === START) continue;
      out.push(this.words[id] ?? "<unk>");
    }
    return out;
  }

  toJSON(): VocabularyJSON {
    return { format: "sat-vocabulary", version: 1, words: [...this.words], counts: [...this.counts], rule: this.rule };
  }

  static fromJSON(j: unknown, source = "vocabulary"): Vocabulary {
    const v = j as Partial<VocabularyJSON>;
    if (!v || v.format !== "sat-vocabulary" || v.version !== 1) throw new UserError(`${source}: not a sat vocabulary (format/version)`);
    if (!Array.isArray(v.words) || !v.words.every((w) => typeof w === "string")) throw new UserError(`${source}: field 'words' must be an array of strings`);
    for (let i = 0; i < SPECIAL_TOKENS.length; i++) {
      if (v.words[i] !== SPECIAL_TOKENS[i]) throw new UserError(`${source}: words[${i}] must be ${SPECIAL_TOKENS[i]}`);
    }
    if (new Set(v.words).size !== v.words.length) throw new UserError(`${source}: field 'words' has duplicates`);
    const counts = Array.isArray(v.counts) && v.counts.length === v.words.length ? v.counts : v.words.map(() => 0);
    return new Vocabulary([...v.words], [...counts], v.rule ?? { maxSize: null, minCount: 1, trainingWords: v.words.length - 4 });
  }

  static load(path: string): Vocabulary {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      throw new UserError(`${path}: cannot read vocabulary (${(e as NodeJS.ErrnoException).code ?? e})`);
    }
    let j: unknown;
    try {
      j = JSON.parse(text);
    } catch {
      throw new UserError(`${path}: vocabulary is not valid JSON`);
    }
    return Vocabulary.fromJSON(j, path);
  }
}
