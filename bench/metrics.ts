/**
 * Metrics speed: scoring 5,000 hypotheses against 25,000 references (5 per image), the size
 * of a COCO Karpathy test split. Targets: BLEU + ROUGE-L + CIDEr-D under 10 s,
 * everything including METEOR under 60 s. Captions are synthetic, from a fixed seed: a
 * template grammar over a caption-like vocabulary (nouns with plurals, verbs in several forms,
 * so the stem and synonym stages have work to do). With a Flickr8k folder present ($SAT_FLICKR8K), a second
 * measurement scores its real test captions (one reference as hypothesis against the rest).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SeededRandom } from "../src/util/rng.js";
import { bleu, ciderD, Meteor, rougeL, tokenizeCaption, WordNetMissingError } from "../src/metrics/index.js";

/** The Flickr8k folder, when the machine has one: $SAT_FLICKR8K (empty: the real-data rows are skipped). */
const FLICKR8K = process.env.SAT_FLICKR8K ?? "";

const NOUNS = ["man", "men", "woman", "women", "dog", "dogs", "child", "children", "kid", "kids", "boy", "boys", "girl", "girls", "person", "people", "ball", "street", "beach", "water", "grass", "snow", "bike", "bicycle", "car", "automobile", "shirt", "hat", "field", "park", "wave", "rock", "mountain", "tree", "building", "crowd", "player", "team", "horse", "bird", "table", "sidewalk", "road", "camera", "frisbee", "toy", "puppy", "jacket", "window", "bench"];
const ADJS = ["young", "little", "small", "big", "large", "black", "white", "brown", "red", "blue", "green", "yellow", "old", "happy", "wet", "tall", "smiling", "two", "three", "several"];
const VERBS = ["runs", "running", "ran", "jumps", "jumping", "jumped", "plays", "playing", "sits", "sitting", "stands", "standing", "walks", "walking", "rides", "riding", "holds", "holding", "looks", "looking", "climbs", "climbing", "swims", "swimming", "throws", "throwing", "catches", "catching", "wears", "wearing"];
const PREPS = ["on", "in", "at", "near", "by", "with", "under", "over", "through", "across", "beside", "behind"];
const DETS = ["a", "the", "an", "some"];

function pick<T>(rng: SeededRandom, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

function phrase(rng: SeededRandom): string {
  const adj = rng.next() < 0.6 ? `${pick(rng, ADJS)} ` : "";
  return `${pick(rng, DETS)} ${adj}${pick(rng, NOUNS)}`;
}

function caption(rng: SeededRandom): string {
  let s = `${phrase(rng)} ${pick(rng, VERBS)} ${pick(rng, PREPS)} ${phrase(rng)}`;
  if (rng.next() < 0.5) s += ` ${pick(rng, PREPS)} ${phrase(rng)}`;
  if (rng.next() < 0.3) s += ` while ${phrase(rng)} ${pick(rng, VERBS)}`;
  // Capitalised with a final period, as human captions are; the tokenizer must undo both.
  return `${s[0].toUpperCase()}${s.slice(1)}.`;
}

/** 5,000 images x 5 references and one hypothesis each, fixed seed. */
export function syntheticSet(images: number, refsPer: number, seed = 20150210): { hyps: string[]; refs: string[][] } {
  const rng = new SeededRandom(seed);
  const hyps: string[] = [];
  const refs: string[][] = [];
  for (let i = 0; i < images; i++) {
    const rs: string[] = [];
    for (let k = 0; k < refsPer; k++) rs.push(caption(rng));
    refs.push(rs);
    hyps.push(caption(rng));
  }
  return { hyps, refs };
}

function flickrTestSet(): { hyps: string[]; refs: string[][] } | null {
  const tok = join(FLICKR8K, "Flickr8k.token.txt");
  const test = join(FLICKR8K, "Flickr_8k.testImages.txt");
  if (!existsSync(tok) || !existsSync(test)) return null;
  const ids = new Set(readFileSync(test, "utf8").split(/\r?\n/).filter((l) => l.trim()));
  const caps = new Map<string, string[]>();
  for (const line of readFileSync(tok, "utf8").split(/\r?\n/)) {
    const tab = line.indexOf("\t");
    if (tab < 0) continue;
    const id = line.slice(0, line.lastIndexOf("#", tab));
    if (!ids.has(id)) continue;
    let l = caps.get(id);
    if (!l) caps.set(id, (l = []));
    l.push(line.slice(tab + 1));
  }
  const hyps: string[] = [];
  const refs: string[][] = [];
  for (const l of caps.values()) {
    if (l.length < 2) continue;
    hyps.push(l[0]);
    refs.push(l.slice(1));
  }
  return { hyps, refs };
}

interface Measurement {
  suite: "metrics";
  name: string;
  images: number;
  references: number;
  seconds: Record<string, number>;
  total_seconds: number;
  target_seconds: number;
  within_target: boolean;
}

function time<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const r = f();
  return [r, (performance.now() - t0) / 1000];
}

function measure(name: string, set: { hyps: string[]; refs: string[][] }, withMeteor: boolean): Measurement | null {
  const seconds: Record<string, number> = {};
  const [tok, tTok] = time(() => ({ hyps: set.hyps.map(tokenizeCaption), refs: set.refs.map((rs) => rs.map(tokenizeCaption)) }));
  seconds.tokenize = tTok;
  seconds.bleu = time(() => bleu(tok.hyps, tok.refs))[1];
  seconds.rouge_l = time(() => rougeL(tok.hyps, tok.refs))[1];
  seconds.cider_d = time(() => ciderD(tok.hyps, tok.refs))[1];
  if (withMeteor) {
    let scorer: Meteor;
    try {
      [scorer, seconds.meteor_load] = time(() => new Meteor());
    } catch (e) {
      if (e instanceof WordNetMissingError) return null;
      throw e;
    }
    seconds.meteor = time(() => scorer.score(tok.hyps, tok.refs))[1];
  }
  const total = Object.values(seconds).reduce((a, b) => a + b, 0);
  const target = withMeteor ? 60 : 10;
  return {
    suite: "metrics",
    name,
    images: set.hyps.length,
    references: set.refs.reduce((a, r) => a + r.length, 0),
    seconds,
    total_seconds: total,
    target_seconds: target,
    within_target: total < target,
  };
}

function report(m: Measurement | null, label: string, json: boolean): void {
  if (!m) {
    if (!json) console.log(`metrics ${label}: skipped (no WordNet database; install wordnet-base)`);
    return;
  }
  if (json) {
    console.log(JSON.stringify(m));
    return;
  }
  const parts = Object.entries(m.seconds).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(", ");
  console.log(
    `metrics ${m.name.padEnd(34)} ${m.images} hyps x ${m.references} refs: ${m.total_seconds.toFixed(2)} s ` +
      `(target < ${m.target_seconds} s: ${m.within_target ? "ok" : "MISSED"}) [${parts}]`,
  );
}

export async function runMetricsBench(opts: { json: boolean; quick: boolean }): Promise<void> {
  // --quick scores a tenth of the set: a smoke run, not the number the targets are about.
  const images = opts.quick ? 500 : 5000;
  const synth = syntheticSet(images, 5);
  report(measure(`synthetic bleu+rouge+cider`, synth, false), "synthetic", opts.json);
  report(measure(`synthetic all+METEOR(no paraphrase)`, synth, true), "synthetic METEOR", opts.json);
  const flickr = flickrTestSet();
  if (flickr && !opts.quick) report(measure("flickr8k-test all+METEOR(no paraphrase)", flickr, true), "flickr8k", opts.json);
}
