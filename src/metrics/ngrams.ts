/**
 * n-gram counting shared by BLEU and CIDEr-D. Like pycocoevalcap's `precook`, a sentence is
 * split on runs of whitespace (Python's `str.split()`); n-grams are interned as integer ids
 * (two n-grams get the same id exactly when their token sequences are equal).
 */

/** Python's `str.split()` with no argument: runs of whitespace, no empty tokens. */
export function splitWhitespace(s: string): string[] {
  const t = s.trim();
  return t ? t.split(/\s+/) : [];
}

/**
 * The distinct n-grams of one sentence: dense ids and counts, all orders in one array; order
 * k (0-based) occupies positions start[k] .. start[k+1]-1. Two allocations per sentence keep
 * the garbage collector out of large scoring runs.
 */
export interface SentenceNgrams {
  ids: Int32Array;
  counts: Int32Array;
  start: number[];
}

export class NgramInterner {
  private readonly words = new Map<string, number>();
  /**
   * (prefix id, last word id) -> n-gram id, as an open-addressing hash table on typed arrays:
   * a run interns hundreds of thousands of n-grams, and one Map per prefix is far slower.
   */
  private keyP = new Int32Array(1 << 16).fill(-1);
  private keyW = new Int32Array(1 << 16);
  private val = new Int32Array(1 << 16);
  private used = 0;

  private slot(p: number, w: number, mask: number): number {
    let h = (Math.imul(p, 0x9e3779b1) ^ Math.imul(w + 0x7f4a7c15, 0x85ebca77)) >>> 0;
    h ^= h >>> 15;
    let i = h & mask;
    while (this.keyP[i] !== -1 && (this.keyP[i] !== p || this.keyW[i] !== w)) i = (i + 1) & mask;
    return i;
  }

  private grow(): void {
    const oldP = this.keyP;
    const oldW = this.keyW;
    const oldV = this.val;
    const cap = oldP.length * 2;
    this.keyP = new Int32Array(cap).fill(-1);
    this.keyW = new Int32Array(cap);
    this.val = new Int32Array(cap);
    for (let i = 0; i < oldP.length; i++) {
      if (oldP[i] === -1) continue;
      const j = this.slot(oldP[i], oldW[i], cap - 1);
      this.keyP[j] = oldP[i];
      this.keyW[j] = oldW[i];
      this.val[j] = oldV[i];
    }
  }

  private extendId(p: number, w: number): number {
    const i = this.slot(p, w, this.keyP.length - 1);
    if (this.keyP[i] !== -1) return this.val[i];
    const id = this.next++;
    this.keyP[i] = p;
    this.keyW[i] = w;
    this.val[i] = id;
    if (++this.used * 2 > this.keyP.length) this.grow();
    return id;
  }
  private next = 0;

  /** Number of ids handed out (the size arrays indexed by id need). */
  get size(): number {
    return this.next;
  }

  private wordId(w: string): number {
    let id = this.words.get(w);
    if (id === undefined) {
      id = this.next++;
      this.words.set(w, id);
    }
    return id;
  }

  private bufCur = new Int32Array(64);
  private bufPrev = new Int32Array(64);
  private bufIds = new Int32Array(256);
  private bufCounts = new Int32Array(256);

  /** Distinct n-grams of orders 1..n of a tokenised sentence, with counts. */
  sentence(words: readonly string[], n: number): SentenceNgrams {
    const len = words.length;
    if (this.bufCur.length < len) {
      this.bufCur = new Int32Array(len * 2);
      this.bufPrev = new Int32Array(len * 2);
    }
    if (this.bufIds.length < len * n) {
      this.bufIds = new Int32Array(len * n * 2);
      this.bufCounts = new Int32Array(len * n * 2);
    }
    const wids = new Int32Array(len);
    for (let i = 0; i < len; i++) wids[i] = this.wordId(words[i]);
    let prev = this.bufPrev;
    let cur = this.bufCur;
    const u = this.bufIds;
    const c = this.bufCounts;
    const start: number[] = [0];
    let nu = 0;
    for (let k = 0; k < n; k++) {
      const m = Math.max(0, len - k);
      for (let i = 0; i < m; i++) cur[i] = k === 0 ? wids[i] : this.extendId(prev[i], wids[i + k]);
      // Captions are short, so a linear de-duplication beats hashing or sorting.
      const first = nu;
      for (let i = 0; i < m; i++) {
        const id = cur[i];
        let j = first;
        while (j < nu && u[j] !== id) j++;
        if (j === nu) {
          u[nu] = id;
          c[nu] = 1;
          nu++;
        } else c[j]++;
      }
      start.push(nu);
      const t = prev;
      prev = cur;
      cur = t;
    }
    return { ids: u.slice(0, nu), counts: c.slice(0, nu), start };
  }
}
