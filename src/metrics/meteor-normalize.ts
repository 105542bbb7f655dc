/**
 * METEOR 1.5's `-norm` step, which coco-caption applies on top of the PTB tokens (its METEOR
 * wrapper runs `meteor-1.5.jar - - -stdio -l en -norm`). This is METEOR's own Moses-derived
 * normaliser, re-expressed here; on PTB output its visible effects are:
 *
 * - hyphens between letters/digits split the word (`t-shirt` -> `t shirt`), `--` -> `-`;
 * - symbols other than `. ' , -` are spaced out (`3:30` -> `3 : 30`, `and/or` -> `and / or`);
 * - apostrophes are re-split the Moses way: PTB's `'s` becomes `' s` and `n't` becomes `n 't`;
 * - a word with internal periods loses them (`u.s.` -> `us`); another word-final period is
 *   split off unless the next word starts with a lower-case letter or the word is a
 *   non-breaking prefix.
 *
 * The non-breaking prefix list METEOR loads is Moses' English list; since coco-caption feeds
 * lower-cased text, only its lower-case entries can ever apply, and those are listed here.
 */

const ALPHA = "A-Za-z\u0160\u017D\u0161\u017E\u0178\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u017E\u0400-\u04FF\u0500-\u0527\uA640-\uA66E\uA67E-\uA697\u1D00-\u1D7F";
const ALNUM = "0-9" + ALPHA;

const R_SEP_OTHER = new RegExp(`([^${ALNUM}\\s\\.'\`,\\-\u2018\u2019])`, "g");
const R_MULTI_DOT = /\.([.]+)/g;
const R_MULTI_DOT2 = /DOTMULTI\.([^.])/g;
const R_COMMA = /([^0-9])[,]([^0-9])/g;
const R_COMMA2 = /([0-9])[,]([^0-9])/g;
const R_COMMA3 = /([^0-9])[,]([0-9])/g;
const R_QUOTE = /([`\u2018\u2019])/g;
const R_QUOTE2 = /([\u201C\u201D]|'')/g;
const R_RM_DASH = new RegExp(`([${ALNUM}\\.])[\\-]([${ALNUM}])`, "g");
const R_CONT1 = new RegExp(`([^${ALPHA}])[']([^${ALPHA}])`, "g");
const R_CONT2 = new RegExp(`([^${ALPHA}0-9])[']([${ALPHA}])`, "g");
const R_CONT3 = new RegExp(`([${ALPHA}])[']([^${ALPHA}])`, "g");
const R_CONT4 = new RegExp(`([${ALPHA}])[']([${ALPHA}])`, "g");
const R_CONT5 = /([0-9])[']([s])/g;
const R_NBP_ALPHA = new RegExp(`[${ALPHA}]`);

/** Lower-case entries of the English non-breaking prefix list (Moses), by type. */
const NBP_ANY = new Set(["v", "vs", "i.e", "rev", "e.g"]);
const NBP_NUMERIC_ONLY = new Set(["pp"]);

/** METEOR's normalisation of one line (English, punctuation kept), then lower-cased. */
export function meteorNormalize(line: string): string {
  let w = ` ${line} `;
  w = w.replace(R_SEP_OTHER, " $1 ");
  w = w.replace(R_MULTI_DOT, " DOTMULTI$1");
  while (w.includes("DOTMULTI.")) {
    w = w.replace(R_MULTI_DOT2, "DOTDOTMULTI $1");
    w = w.split("DOTMULTI.").join("DOTDOTMULTI");
  }
  w = w.replace(R_COMMA, "$1 , $2").replace(R_COMMA2, "$1 , $2").replace(R_COMMA3, "$1 , $2");
  w = w.replace(R_QUOTE, "'").replace(R_QUOTE2, ' " ');
  w = w.split("\u2013").join("-").split("--").join("-");
  w = w.replace(R_RM_DASH, "$1 $2");
  w = w.replace(R_CONT1, "$1 ' $2").replace(R_CONT2, "$1 ' $2").replace(R_CONT3, "$1 ' $2");
  w = w.replace(R_CONT4, "$1 '$2").replace(R_CONT5, "$1 '$2");
  const words = w.trim().split(/\s+/).filter((x) => x.length > 0);
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (word.length > 1 && word.endsWith(".")) {
      const pre = word.slice(0, -1);
      const next = i < words.length - 1 ? words[i + 1] : undefined;
      if (pre.includes(".") && R_NBP_ALPHA.test(pre)) out.push(word.split(".").join(""));
      else if (NBP_ANY.has(pre) || (next !== undefined && /^[a-z]/.test(next))) out.push(word);
      else if (NBP_NUMERIC_ONLY.has(pre) && next !== undefined && /^[0-9]+/.test(next)) out.push(word);
      else out.push(pre, ".");
    } else out.push(word);
  }
  let joined = out.join(" ");
  while (joined.includes("DOTDOTMULTI")) joined = joined.split("DOTDOTMULTI").join("DOTMULTI.");
  joined = joined.split("DOTMULTI").join(".");
  return joined.replace(/\s+/g, " ").trim().toLowerCase();
}
