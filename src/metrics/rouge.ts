/**
 * ROUGE-L as coco-caption computes it (pycocoevalcap/rouge/rouge.py).
 *
 * Sentences are split on single spaces (Python's `str.split(" ")`, so an empty caption is one
 * empty token, as in the toolkit). For each reference, LCS precision = lcs/|hyp| and
 * recall = lcs/|ref|; precision and recall are each maximised *separately* over the
 * references, then F = (1 + b^2) P R / (R + b^2 P) with b = 1.2 (0 when either is 0).
 * The corpus score is the mean of the image scores.
 */

export interface RougeResult {
  score: number;
  perImage: number[];
}

export const ROUGE_BETA = 1.2;

/** Length of the longest common subsequence of two token arrays (O(|a||b|) time, O(|b|) memory). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  if (a.length < b.length) [a, b] = [b, a];
  const prev = new Int32Array(b.length + 1);
  const cur = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    const ai = a[i - 1];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = ai === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    }
    prev.set(cur);
  }
  return prev[b.length];
}

/** ROUGE-L F of one tokenised hypothesis against its tokenised references. */
export function rougeLSentence(hyp: string, refs: readonly string[], beta = ROUGE_BETA): number {
  if (refs.length === 0) throw new Error("rougeL: an image needs at least one reference");
  const c = hyp.split(" ");
  let precMax = 0;
  let recMax = 0;
  for (const ref of refs) {
    const r = ref.split(" ");
    const lcs = lcsLength(r, c);
    precMax = Math.max(precMax, lcs / c.length);
    recMax = Math.max(recMax, lcs / r.length);
  }
  if (precMax === 0 || recMax === 0) return 0;
  return ((1 + beta ** 2) * precMax * recMax) / (recMax + beta ** 2 * precMax);
}

/** ROUGE-L of tokenised hypotheses against tokenised references, aligned by index. */
export function rougeL(hyps: readonly string[], refs: readonly (readonly string[])[], beta = ROUGE_BETA): RougeResult {
  if (hyps.length !== refs.length) throw new Error("rougeL: hyps and refs differ in length");
  const perImage = hyps.map((h, i) => rougeLSentence(h, refs[i], beta));
  let total = 0;
  for (const s of perImage) total += s;
  return { score: perImage.length ? total / perImage.length : 0, perImage };
}
