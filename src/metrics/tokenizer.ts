/**
 * coco-caption's tokenisation step, without Java.
 *
 * coco-caption runs the Stanford PTBTokenizer (CoreNLP 3.4.1) with `-preserveLines -lowerCase`
 * over every caption, then drops the punctuation tokens in {@link PTB_DROPPED}. Every scorer
 * here (BLEU, METEOR, ROUGE-L, CIDEr-D) sees the space-joined result, exactly as pycocoevalcap's
 * scorers see the output of its `PTBTokenizer` wrapper.
 *
 * This is a rule-based imitation of the lexer, covering what occurs in caption data
 * (docs/evaluation.md lists the behaviours checked against the real tokenizer):
 *
 * - case is folded *after* tokenising, so decisions may depend on the original case
 *   (`AT&T` stays one token, lower-case `at&t` becomes `at & t`);
 * - clitics split off: `man's` -> `man 's`, `don't` -> `do n't`, `cannot` -> `can not`,
 *   `'re 'll 've 'd 'm` likewise, `gonna`/`wanna`/`gotta` -> `gon na` etc.;
 * - hyphenated words (`t-shirt`), decimals and thousands (`1,000.50`), and abbreviations with
 *   periods (`mr.`, `u.s.`) stay whole; a period ending any other word is split off;
 * - currency and percent signs split off (`$1,000.50` -> `$ 1,000.50`, `50%` -> `50 %`);
 * - brackets become `-lrb-`/`-rrb-`, `-lsb-`/`-rsb-`, `-lcb-`/`-rcb-`; because the drop list
 *   holds the upper-case forms and the lexer lower-cases first, these are *kept* (a faithful
 *   copy of a coco-caption quirk);
 * - double quotes become ``` `` ``` / `''` and are dropped with the other punctuation.
 *
 * Known differences from the real lexer (documented, not hidden): the lexer's full
 * abbreviation list is replaced by the common ones below plus the letter.letter. pattern;
 * SGML/HTML entities, emoticons and URLs get no special handling; Unicode quotes and dashes
 * are mapped to their ASCII forms first, which CoreNLP 3.4.1 does via its `-options`
 * defaults (normalizeAmpersandEntity, asciiQuotes off) only partly.
 */

/** The tokens coco-caption's tokenizer.py removes after PTB tokenisation. */
export const PTB_DROPPED: ReadonlySet<string> = new Set([
  "''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";",
]);

/**
 * Abbreviations that keep their final period (a subset of the PTB lexer's list; the lexer
 * also keeps any single letter followed by a period and the letter.letter. pattern).
 */
const ABBREVIATIONS = new Set([
  "mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "gen", "gov", "sen", "rep", "rev", "capt", "col", "lt",
  "sgt", "mt", "ft", "ave", "blvd", "rd", "co", "corp", "inc", "ltd", "bros", "vs", "etc", "jan", "feb",
  "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "no", "vol", "fig", "approx",
]);

const BRACKETS: Record<string, string> = {
  "(": "-LRB-", ")": "-RRB-", "[": "-LSB-", "]": "-RSB-", "{": "-LCB-", "}": "-RCB-",
};

/** Clitics split from the end of a word, longest first (PTB convention: `n't` goes whole). */
const CLITIC_RE = /^(.+?)(n't|'s|'re|'ll|'ve|'d|'m|'S|'RE|'LL|'VE|'D|'M|N'T)$/;

/** Fused words the PTB lexer splits in two. */
const SPLIT_WORDS: Record<string, [string, string]> = {
  cannot: ["can", "not"], gonna: ["gon", "na"], gotta: ["got", "ta"], wanna: ["wan", "na"],
  lemme: ["lem", "me"], gimme: ["gim", "me"],
};

function normaliseUnicode(text: string): string {
  return text
    .replace(/[\u2018\u2019\u201B\u2032]/g, "'")
    .replace(/[\u201C\u201D\u201F\u2033]/g, '"')
    .replace(/[\u2013\u2014\u2212]/g, "--")
    .replace(/\u2026/g, "...")
    .replace(/[\u00A0\u2000-\u200B\u3000]/g, " ");
}

/** Splits a word core (no surrounding punctuation) at `&` and clitics. */
function splitCore(core: string, out: string[]): void {
  if (!core) return;
  // `AT&T` (letters on both sides, all upper-case) stays whole; otherwise `&` is its own token.
  if (core.includes("&") && !/^[A-Z]+(&[A-Z]+)+$/.test(core)) {
    for (const p of core.split(/(&)/)) {
      if (p === "&") out.push("&");
      else splitCore(p, out);
    }
    return;
  }
  const lower = core.toLowerCase();
  const fused = SPLIT_WORDS[lower];
  if (fused) {
    // Keep the original case of each half so folding happens after tokenising.
    out.push(core.slice(0, fused[0].length), core.slice(fused[0].length));
    return;
  }
  const m = CLITIC_RE.exec(core);
  if (m && /[A-Za-z0-9]/.test(m[1])) {
    out.push(m[1], m[2]);
    return;
  }
  out.push(core);
}

/** Tokenises one whitespace-delimited chunk, appending PTB tokens (original case) to out. */
function splitChunk(chunk: string, out: string[]): void {
  let s = chunk;
  const lead: string[] = [];
  // Leading punctuation, brackets and currency symbols.
  for (;;) {
    const m = /^(``|''|\.\.\.|--|["`(){}[\],;:!?$#%*+=<>|~^]|'(?![A-Za-z]))/.exec(s);
    if (!m) break;
    lead.push(m[1]);
    s = s.slice(m[1].length);
  }
  // A leading apostrophe before letters: a quote unless it is a bare clitic such as `'s`.
  if (/^'[A-Za-z]/.test(s) && !/^'(s|re|ll|ve|d|m|S|RE|LL|VE|D|M)$/.test(s)) {
    lead.push("'");
    s = s.slice(1);
  }
  const trail: string[] = [];
  for (;;) {
    if (!s) break;
    let m = /(``|''|\.\.\.|--|["`(){}[\],;:!?%*+=<>|~^]|')$/.exec(s);
    if (m && m[1] === "'" && /[sS]'$/.test(s) && s.length > 2) {
      // Plural possessive `dogs'`: PTB splits the apostrophe off as its own token.
      trail.unshift("'");
      s = s.slice(0, -1);
      continue;
    }
    if (m) {
      trail.unshift(m[1]);
      s = s.slice(0, -m[1].length);
      continue;
    }
    // Final period: kept for abbreviations (mr. / u.s. / single letters), else split off.
    m = /\.$/.exec(s);
    if (m && s.length > 1) {
      const stem = s.slice(0, -1);
      const lower = stem.toLowerCase();
      const keep = ABBREVIATIONS.has(lower) || /^[A-Za-z](\.[A-Za-z])*$/.test(stem);
      if (!keep) {
        trail.unshift(".");
        s = stem;
        continue;
      }
    }
    break;
  }
  for (const t of lead) out.push(t);
  if (s) {
    // Internal punctuation that always separates (not inside numbers like 1,000.50).
    const pieces = s.split(/(\$|#|%|;|!|\?|"|\(|\)|\[|\]|\{|\}|(?<![0-9]),|,(?![0-9])|(?<=[A-Za-z]{2}):)/);
    for (const p of pieces) {
      if (!p) continue;
      if (p.length === 1 && /[$#%;!?"()[\]{},:]/.test(p)) out.push(p);
      else splitCore(p, out);
    }
  }
  for (const t of trail) out.push(t);
}

/** PTB tokens of one caption, lower-cased, *before* the punctuation drop (useful for tests). */
export function ptbTokensRaw(text: string): string[] {
  const out: string[] = [];
  for (const chunk of normaliseUnicode(text).split(/\s+/)) if (chunk) splitChunk(chunk, out);
  return out.map((t) => {
    if (t === '"') return "''";
    const b = BRACKETS[t];
    return (b ?? t).toLowerCase();
  });
}

/**
 * coco-caption's tokenisation of one caption: PTB tokens, lower-cased, with the punctuation
 * list dropped. Note the drop list is compared *after* lower-casing, so `-lrb-` survives.
 */
export function ptbTokenize(text: string): string[] {
  return ptbTokensRaw(text).filter((t) => !PTB_DROPPED.has(t));
}

/** The space-joined form every scorer consumes (what pycocoevalcap's tokenizer returns). */
export function tokenizeCaption(text: string): string {
  return ptbTokenize(text).join(" ");
}
