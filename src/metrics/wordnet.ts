/**
 * WordNet synonym lookup for METEOR's synonym module, read from a real WordNet database
 * directory (the `index.{noun,verb,adj,adv}` files and the `*.exc` exception lists).
 *
 * METEOR 1.5 ships its synonym data as files derived from WordNet 3.0: word -> synset ids,
 * and inflected form -> base forms (from WordNet's exception lists). Two different words
 * match when they share a synset, after adding the synsets of the word's base form. We
 * build the same tables from the database itself. Synset ids here are `offset * 4 + pos`,
 * which is unique across the four data files.
 *
 * Where the database comes from (first that exists): the `dir` argument, `$SAT_WORDNET_DIR`,
 * `/usr/share/wordnet` (Debian/Ubuntu package `wordnet-base`, WordNet 3.0 — the version
 * METEOR 1.5's data was built from).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const DEFAULT_WORDNET_DIRS = ["/usr/share/wordnet"];

const POS_FILES = ["noun", "verb", "adj", "adv"] as const;

/**
 * Thrown when no WordNet database can be found; the CLI turns it into a user-facing error.
 */
export class WordNetMissingError extends Error {
  override name = "WordNetMissingError";
}

/**
 * Resolves the WordNet database directory, or throws WordNetMissingError. An explicit
 * directory (argument, then $SAT_WORDNET_DIR) must hold the database: a typo should not fall
 * back silently to another WordNet.
 */
export function resolveWordNetDir(dir?: string): string {
  const explicit = dir || process.env.SAT_WORDNET_DIR;
  const candidates = explicit ? [explicit] : DEFAULT_WORDNET_DIRS;
  for (const d of candidates) if (existsSync(join(d, "index.noun"))) return d;
  throw new WordNetMissingError(
    explicit
      ? `${explicit}: not a WordNet database folder (no index.noun); METEOR's synonym module needs one`
      : `no WordNet database found (looked in ${candidates.join(", ")}): install the Debian/Ubuntu package ` +
          "wordnet-base or set SAT_WORDNET_DIR to a WordNet dict folder (METEOR's synonym module needs it)",
  );
}

/* WordNet's morphy suffix rules, in METEOR's order: nouns, verbs, adjectives. */
const SUFFIXES = ["s", "ses", "xes", "zes", "ches", "shes", "men", "ies", "s", "ies", "es", "es", "ed", "ed", "ing", "ing", "er", "est", "er", "est"];
const ENDINGS = ["", "s", "x", "z", "ch", "sh", "man", "y", "", "y", "e", "", "e", "", "e", "", "", "", "e", "e"];

export class WordNet {
  readonly dir: string;
  /** Whether the exception lists (irregular forms) were found. */
  readonly hasExceptions: boolean;
  private readonly synsets = new Map<string, number[]>();
  private readonly bases = new Map<string, string[]>();
  private readonly cache = new Map<string, ReadonlySet<number>>();

  constructor(dir: string) {
    this.dir = dir;
    POS_FILES.forEach((pos, posIdx) => {
      const text = readFileSync(join(dir, `index.${pos}`), "utf8");
      for (const line of text.split("\n")) {
        // License header lines start with spaces; data lines start with the lemma.
        if (!line || line.startsWith(" ")) continue;
        const f = line.trim().split(" ");
        const lemma = f[0];
        const synsetCnt = Number(f[2]);
        const offsets = f.slice(f.length - synsetCnt);
        let list = this.synsets.get(lemma);
        if (!list) this.synsets.set(lemma, (list = []));
        for (const o of offsets) list.push(Number(o) * 4 + posIdx);
      }
    });
    let exc = 0;
    for (const pos of POS_FILES) {
      const p = join(dir, `${pos}.exc`);
      if (!existsSync(p)) continue;
      exc++;
      for (const line of readFileSync(p, "utf8").split("\n")) {
        const f = line.trim().split(" ");
        if (f.length < 2) continue;
        let list = this.bases.get(f[0]);
        if (!list) this.bases.set(f[0], (list = []));
        for (const b of f.slice(1)) list.push(b);
      }
    }
    this.hasExceptions = exc > 0;
  }

  /** Synset ids of the word itself. */
  synsetsOf(word: string): readonly number[] {
    return this.synsets.get(word) ?? [];
  }

  /**
   * METEOR's base-form lookup: the exception list if the word is in it, else the first of
   * WordNet's suffix rules that yields a word in the database (words ending in `ss` and words
   * of up to two letters are their own base).
   */
  baseForms(word: string): string[] {
    const b = this.bases.get(word);
    if (b) return b;
    if (word.endsWith("ss") || word.length <= 2) return [word];
    for (let i = 0; i < SUFFIXES.length; i++) {
      if (word.endsWith(SUFFIXES[i])) {
        const cand = word.slice(0, word.length - SUFFIXES[i].length) + ENDINGS[i];
        if (this.synsets.has(cand)) return [cand];
      }
    }
    return [];
  }

  /** All synsets a word may denote: its own plus those of its base form(s). */
  synsetSet(word: string): ReadonlySet<number> {
    let s = this.cache.get(word);
    if (!s) {
      const set = new Set<number>(this.synsetsOf(word));
      for (const b of this.baseForms(word)) for (const id of this.synsetsOf(b)) set.add(id);
      s = set;
      this.cache.set(word, s);
    }
    return s;
  }

  /** True when two different words share a synset (METEOR's synonym match condition). */
  areSynonyms(a: string, b: string): boolean {
    if (a === b) return false;
    const sa = this.synsetSet(a);
    if (sa.size === 0) return false;
    for (const id of this.synsetSet(b)) if (sa.has(id)) return true;
    return false;
  }
}

const loaded = new Map<string, WordNet>();

/** Loads (once per directory) and returns the WordNet database. */
export function loadWordNet(dir?: string): WordNet {
  const d = resolveWordNetDir(dir);
  let wn = loaded.get(d);
  if (!wn) {
    wn = new WordNet(d);
    loaded.set(d, wn);
  }
  return wn;
}
