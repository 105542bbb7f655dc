/**
 * Caption tokenisation for the vocabulary and the training targets.
 *
 * The captions we train on must split into the same tokens the metrics will score
 * (docs/evaluation.md: coco-caption's PTB tokenizer, lower-cased, punctuation dropped);
 * otherwise the model learns `dog.` while BLEU compares `dog`. This is a small rule-based
 * imitation of the PTB step, written so that the cases evaluation.md lists come out the same:
 *
 * - clitics split off: `man's` -> `man 's`, `don't` -> `do n't`, `cannot` -> `can not`,
 *   `they're/'ll/'ve/'d/'m` likewise;
 * - hyphenated words (`t-shirt`) and abbreviations with periods (`mr.`, `u.s.`) stay whole;
 *   a period that ends a word otherwise is split off (it ends a sentence) and dropped;
 * - `&` between letters stays inside the word (`at&t`), `$1,000.50` -> `$ 1,000.50`;
 * - punctuation tokens (`'' ' `` ` . ? ! , : - -- ... ;` and quotes) are dropped.
 *
 * Unlike the metric, brackets are dropped too rather than kept as `-lrb-` / `-rrb-` tokens:
 * they are vanishingly rare in captions and a vocabulary entry for them would be noise.
 */

/** Tokens dropped after splitting (coco-caption's list, plus quotes and brackets). */
const DROPPED = new Set(["''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";", '"', "(", ")", "[", "]", "{", "}"]);

/** Words that keep their final period (PTB's abbreviation list, the ones seen in captions). */
const ABBREVIATIONS = new Set(["mr.", "mrs.", "ms.", "dr.", "st.", "jr.", "sr.", "vs.", "etc.", "inc.", "co.", "mt.", "ave.", "jan.", "feb.", "aug.", "sept.", "oct.", "nov.", "dec."]);

/** Splits one whitespace-delimited chunk into PTB-like tokens (before dropping punctuation). */
function splitChunk(chunk: string, out: string[]): void {
  // Leading punctuation: quotes, brackets, and stray symbols that precede a word.
  let s = chunk;
  while (s.length > 0) {
    const m = /^(``|''|\.\.\.|--|["'`(){}[\],;:!?])/.exec(s);
    if (!m) break;
    // A leading apostrophe followed by letters is a clitic or quoted word start; PTB treats
    // `'s` alone as a token, which the trailing rules below produce anyway.
    out.push(m[1]);
    s = s.slice(m[1].length);
  }
  if (!s) return;
  const trailing: string[] = [];
  for (;;) {
    const m = /(``|''|\.\.\.|--|["'`(){}[\],;:!?])$/.exec(s);
    if (!m || m.index === 0) break;
    // A comma between digits (1,000) is part of a number, but it cannot be trailing here.
    trailing.unshift(m[1]);
    s = s.slice(0, m.index);
  }
  // Word-final period: kept for abbreviations (mr., u.s., a.m.), split off otherwise.
  if (s.length > 1 && s.endsWith(".") && !ABBREVIATIONS.has(s) && !/^([a-z]\.)+$/.test(s)) {
    // `...` glued to a word ("dog...") is one token.
    const dots = /\.+$/.exec(s)![0];
    s = s.slice(0, s.length - dots.length);
    trailing.unshift(dots.length >= 3 ? "..." : ".");
  }
  // Currency sign split from the amount: `$5` -> `$ 5`.
  const cur = /^([$£€#])(?=\d)/.exec(s);
  if (cur) {
    out.push(cur[1]);
    s = s.slice(1);
  }
  if (s) splitClitics(s, out);
  out.push(...trailing);
}

function splitClitics(w: string, out: string[]): void {
  if (w === "cannot") {
    out.push("can", "not");
    return;
  }
  let m = /^(.+?)(n't)$/.exec(w);
  if (m) {
    out.push(m[1], m[2]);
    return;
  }
  m = /^(.+?)('s|'re|'ve|'ll|'d|'m|')$/.exec(w);
  if (m && /[a-z0-9]$/.test(m[1])) {
    // A bare trailing apostrophe (plural possessive, `dogs'`) is its own token, then dropped.
    out.push(m[1], m[2]);
    return;
  }
  out.push(w);
}

/** Lower-cases, splits and drops punctuation: the tokens the model is trained on. */
export function tokenize(caption: string): string[] {
  // Case is folded first; evaluation.md notes PTB folds after tokenising, which only changes
  // rare all-caps compounds (`AT&T`), and both forms keep `&` inside the word here anyway.
  const text = caption.normalize("NFKC").toLowerCase().replace(/[\u2018\u2019]/g, "'").replace(/[\u201c\u201d]/g, '"');
  const raw: string[] = [];
  for (const chunk of text.split(/\s+/)) if (chunk) splitChunk(chunk, raw);
  return raw.filter((t) => !DROPPED.has(t) && !/^[.\-_'`~]+$/.test(t));
}
