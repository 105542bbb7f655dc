/**
 * `sat eval`: scores generated captions the way coco-caption does and prints a table like
 * Table 1 of Xu et al. (2015): BLEU-1..4 with and without brevity penalty, METEOR (here
 * without the paraphrase module, and labelled so), ROUGE-L and CIDEr-D, x100.
 *
 * Inputs
 * - hypotheses: `--hyps FILE` (or the positional argument): JSON lines
 *   (`{"image_id": ..., "caption": ...}` per line), the COCO results format (a JSON array of
 *   the same objects), or a plain JSON object `{"imageId": "caption"}`;
 * - references: `--refs FILE` (`{"imageId": ["caption", ...]}`, or COCO captions JSON with
 *   `annotations`), or `--data PATH --split NAME` (any dataset src/data reads: a Flickr8k
 *   folder, Karpathy or COCO JSON, JSONL/CSV).
 * The two image sets must be identical; otherwise the command refuses with the counts and a
 * few of the offending ids (a silently shrunken test set is not comparable with papers).
 */
import { basename, dirname, extname, join } from "node:path";
import { Command, Option } from "commander";
import {
  CIDER_LABEL,
  ImageSetMismatchError,
  METEOR_LABEL,
  WordNetMissingError,
  scoreCaptions,
  type CaptionScores,
} from "../../metrics/index.js";
import { imagesOf, loadDataset, normaliseSplit } from "../../data/datasets.js";
import { UserError } from "../errors.js";
import { parseNonNegativeNumber, parsePositiveInt } from "../parse.js";
import { ProgressLine } from "../progress.js";
import { FeatureStore } from "../../data/feature-store.js";
import { checkOutputPath, parseJsonText, readTextFile, splitLines, writeFileAtomic } from "../../util/fs.js";
import { captionStoredImages } from "../../decode/caption-store.js";
import { DECODE_DEFAULTS } from "../../decode/defaults.js";
import { createEngine, type EngineChoice } from "../../engine/select.js";
import { loadModel as loadModelDir } from "../../model/model-dir.js";

interface EvalOptions {
  hyps?: string;
  /** Caption the split with this model (from --features) instead of reading --hyps. */
  model?: string;
  features?: string;
  beam: number;
  maxLength: number;
  lengthPenalty: number;
  engine: EngineChoice;
  saveCaptions?: string;
  progress?: boolean;
  refs?: string;
  data?: string;
  split: string;
  json?: boolean;
  out?: string;
  meteor: boolean;
  wordnet?: string;
}

const ID_FIELDS = ["image_id", "imageId", "image", "id"] as const;
const CAPTION_FIELDS = ["caption", "text", "hyp"] as const;

/** Caption files of any test set in use are a few MB; COCO's val references are ~25 MB. */
const MAX_EVAL_INPUT_BYTES = 1024 * 1024 * 1024;

function readText(path: string): string {
  return readTextFile(path, { maxBytes: MAX_EVAL_INPUT_BYTES });
}

function parseJson(source: string, text: string): unknown {
  return parseJsonText(text, source);
}

function idOf(row: Record<string, unknown>, where: string): string {
  for (const f of ID_FIELDS) {
    const v = row[f];
    if ((typeof v === "string" && v.trim() !== "") || (typeof v === "number" && Number.isFinite(v))) return String(v);
    if (v !== undefined) throw new UserError(`${where}: field '${f}' must be a non-empty string or a number (got ${JSON.stringify(v)})`);
  }
  throw new UserError(`${where}: no image id (expected one of ${ID_FIELDS.join(", ")})`);
}

function captionOf(row: Record<string, unknown>, where: string): string {
  for (const f of CAPTION_FIELDS) {
    const v = row[f];
    if (typeof v === "string") return v;
  }
  throw new UserError(`${where}: no caption string (expected one of ${CAPTION_FIELDS.join(", ")})`);
}

function addHyp(out: Map<string, string>, id: string, caption: string, where: string): void {
  if (out.has(id)) throw new UserError(`${where}: image '${id}' has more than one generated caption (coco-caption scores exactly one per image)`);
  out.set(id, caption);
}

/** Reads generated captions: JSON lines, COCO results (array) or a plain {id: caption} object. */
export function readHypotheses(path: string): Map<string, string> {
  const text = readText(path);
  const out = new Map<string, string>();
  const trimmed = text.trim();
  const ext = extname(path).toLowerCase();
  const looksJsonl = ext === ".jsonl" || ext === ".ndjson" || (trimmed.startsWith("{") && trimmed.includes("\n") && !isJson(trimmed));
  if (looksJsonl) {
    splitLines(text).forEach((line, i) => {
      if (!line.trim()) return;
      const where = `${path}:${i + 1}`;
      const row = parseJson(where, line);
      if (!row || typeof row !== "object" || Array.isArray(row)) throw new UserError(`${where}: expected a JSON object per line`);
      const r = row as Record<string, unknown>;
      addHyp(out, idOf(r, where), captionOf(r, where), where);
    });
  } else {
    const j = parseJson(path, text);
    if (Array.isArray(j)) {
      j.forEach((row, i) => {
        const where = `${path}: entry ${i}`;
        if (!row || typeof row !== "object") throw new UserError(`${where}: expected {"image_id", "caption"}`);
        const r = row as Record<string, unknown>;
        addHyp(out, idOf(r, where), captionOf(r, where), where);
      });
    } else if (j && typeof j === "object") {
      for (const [id, v] of Object.entries(j as Record<string, unknown>)) {
        const where = `${path}: image '${id}'`;
        if (typeof v === "string") addHyp(out, id, v, where);
        else if (Array.isArray(v) && v.length === 1 && typeof v[0] === "string") addHyp(out, id, v[0], where);
        else throw new UserError(`${where}: expected one caption string`);
      }
    } else throw new UserError(`${path}: expected JSON lines, a COCO results array or an {"imageId": "caption"} object`);
  }
  if (out.size === 0) throw new UserError(`${path}: no captions`);
  return out;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Reads references: {id: [captions]} or COCO captions JSON (`annotations`). */
export function readReferences(path: string): Map<string, string[]> {
  const j = parseJson(path, readText(path));
  const out = new Map<string, string[]>();
  if (j && typeof j === "object" && !Array.isArray(j) && Array.isArray((j as { annotations?: unknown }).annotations)) {
    (j as { annotations: unknown[] }).annotations.forEach((a, i) => {
      const where = `${path}: annotations[${i}]`;
      if (!a || typeof a !== "object") throw new UserError(`${where}: expected {"image_id", "caption"}`);
      const r = a as Record<string, unknown>;
      const id = idOf(r, where);
      const caption = captionOf(r, where);
      if (caption.trim() === "") throw new UserError(`${where}: field 'caption' is empty`);
      let list = out.get(id);
      if (!list) out.set(id, (list = []));
      list.push(caption);
    });
  } else if (j && typeof j === "object" && !Array.isArray(j)) {
    for (const [id, v] of Object.entries(j as Record<string, unknown>)) {
      if (!Array.isArray(v) || v.some((c) => typeof c !== "string")) throw new UserError(`${path}: image '${id}': expected an array of caption strings`);
      if (v.length === 0) throw new UserError(`${path}: image '${id}': no reference captions`);
      const blank = v.findIndex((c: string) => c.trim() === "");
      if (blank >= 0) throw new UserError(`${path}: image '${id}': reference ${blank} is empty`);
      out.set(id, v as string[]);
    }
  } else throw new UserError(`${path}: expected {"imageId": ["caption", ...]} or COCO captions JSON`);
  if (out.size === 0) throw new UserError(`${path}: no references`);
  return out;
}

/** References of one split of a dataset src/data can read (all captions, as coco-caption uses). */
function referencesFromDataset(path: string, splitName: string): Map<string, string[]> {
  const split = normaliseSplit(splitName, "--split");
  const ds = loadDataset(path, { maxCaptions: Number.MAX_SAFE_INTEGER });
  const out = new Map<string, string[]>();
  for (const im of imagesOf(ds, split)) if (im.captions.length) out.set(im.id, im.captions);
  if (out.size === 0) throw new UserError(`${path}: no captioned images in the ${split} split`);
  return out;
}

/**
 * Hypothesis ids may be written differently from the dataset's ids (a COCO results file uses
 * numeric image_id; datasets key images by relative path). When ids do not all match, map
 * them through unambiguous aliases: file name, file name without extension, and the number
 * in a COCO file name.
 */
function reconcileIds(hyps: Map<string, string>, refs: Map<string, string[]>): Map<string, string> {
  if ([...hyps.keys()].every((id) => refs.has(id))) return hyps;
  const alias = new Map<string, string | null>();
  const put = (a: string, id: string): void => {
    const prev = alias.get(a);
    alias.set(a, prev === undefined || prev === id ? id : null);
  };
  for (const id of refs.keys()) {
    const base = basename(id);
    put(base, id);
    put(base.replace(/\.[^.]+$/, ""), id);
    const num = /(\d+)\.[A-Za-z]+$/.exec(base);
    if (num) put(String(Number(num[1])), id);
  }
  const out = new Map<string, string>();
  for (const [id, cap] of hyps) {
    const target = refs.has(id) ? id : alias.get(id) ?? alias.get(basename(id));
    if (!target) return hyps; // leave it to the mismatch check, which names the ids
    if (out.has(target)) return hyps;
    out.set(target, cap);
  }
  return out;
}

function pct(x: number | null): string {
  return x === null ? "-" : (100 * x).toFixed(2);
}

/** The printed table: the paper's Table 1 layout, both BLEU variants, x100. */
export function formatTable(s: CaptionScores): string {
  const cols = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", METEOR_LABEL, "ROUGE-L", CIDER_LABEL];
  const rows: [string, (number | null)[]][] = [
    ["coco-caption (with BP)", [...s.bleu, s.meteor, s.rouge_l, s.cider]],
    ["BLEU without BP (paper)", [...s.bleu_nobp, null, null, null]],
  ];
  const labelW = Math.max(...rows.map(([l]) => l.length));
  const widths = cols.map((c) => Math.max(c.length, 6));
  const line = (label: string, cells: string[]): string =>
    [label.padEnd(labelW), ...cells.map((c, i) => c.padStart(widths[i]))].join("  ");
  const out = [line("", cols)];
  for (const [label, vals] of rows) out.push(line(label, vals.map(pct)));
  return out.join("\n");
}

/** The `--json` object: 0-1 scale, CIDEr-D as the toolkit reports it. */
export function jsonSummary(s: CaptionScores): { bleu: number[]; bleu_nobp: number[]; meteor: number | null; rouge_l: number; cider: number } {
  return { bleu: s.bleu, bleu_nobp: s.bleu_nobp, meteor: s.meteor, rouge_l: s.rouge_l, cider: s.cider };
}

function fullReport(s: CaptionScores, sources: { hyps: string; refs: string }): unknown {
  return {
    ...jsonSummary(s),
    scale: "0-1 (CIDEr-D unscaled, as coco-caption reports it)",
    labels: { meteor: METEOR_LABEL, cider: CIDER_LABEL, bleu_nobp: "BLEU without brevity penalty (Xu et al. 2015, Table 1)" },
    images: s.images,
    references: s.references,
    sources,
    tokenizer: "coco-caption PTB step (TypeScript imitation, src/metrics/tokenizer.ts)",
    wordnet: s.wordnetDir,
    per_image: Object.fromEntries(s.ids.map((id, i) => [id, s.perImage[i]])),
  };
}

/**
 * Decodes every image of the split with the model from the feature store and writes the
 * captions as JSON lines; returns the file written.
 */
function captionSplitWithModel(opts: EvalOptions & { model: string }, refs: Map<string, string[]>): string {
  if (!opts.features) throw new UserError("eval: --model needs --features DIR (the feature store of the same dataset)");
  const model = loadModelDir(opts.model);
  const store = FeatureStore.open(opts.features);
  if (store.L !== model.meta.config.numLocations || store.D !== model.meta.config.featureDim) {
    throw new UserError(`${opts.features}: features are ${store.L}x${store.D} but ${opts.model} expects ${model.meta.config.numLocations}x${model.meta.config.featureDim}`);
  }
  const ids = [...refs.keys()];
  const missing = ids.filter((id) => !store.has(id));
  if (missing.length) throw new UserError(`${opts.features}: no features for ${missing.length} of the ${ids.length} ${opts.split} images (e.g. ${missing.slice(0, 3).join(", ")}); run sat features to finish the store`);
  const engine = createEngine(model.meta.config, model.params, opts.engine);
  const progress = new ProgressLine({ total: ids.length, label: "caption", unit: "img", force: opts.progress });
  const caps = captionStoredImages(engine, model.vocab, store, ids, {
    beamWidth: opts.beam,
    maxLength: opts.maxLength,
    lengthPenalty: opts.lengthPenalty,
    onProgress: (done) => progress.update(done),
  });
  progress.done();
  engine.dispose();
  store.close();
  const file = opts.saveCaptions ?? join(opts.model, `captions-${opts.split}-beam${opts.beam}.jsonl`);
  writeFileAtomic(file, [...caps].map(([id, caption]) => JSON.stringify({ image_id: id, caption })).join("\n") + "\n");
  return file;
}

export async function runEval(opts: EvalOptions): Promise<void> {
  if (opts.out) checkOutputPath(opts.out, "--out");
  if (opts.saveCaptions) checkOutputPath(opts.saveCaptions, "--save-captions");
  if (opts.model && opts.hyps) throw new UserError("eval: give either generated captions or --model, not both");
  if (opts.model && !opts.data) throw new UserError("eval: --model needs --data PATH (the dataset whose --split is captioned)");
  if (opts.model) {
    const refs = referencesFromDataset(opts.data as string, opts.split);
    opts = { ...opts, hyps: captionSplitWithModel({ ...opts, model: opts.model }, refs) };
  }
  if (!opts.hyps) throw new UserError("eval: give the generated captions (--hyps FILE or a positional FILE), or --model with --features");
  if (!opts.refs && !opts.data) throw new UserError("eval: give the references (--refs FILE, or --data PATH --split NAME)");
  if (opts.refs && opts.data) throw new UserError("eval: give either --refs or --data, not both");
  const refs = opts.refs ? readReferences(opts.refs) : referencesFromDataset(opts.data as string, opts.split);
  const refSource = opts.refs ?? `${opts.data} (${opts.split} split)`;
  const hyps = reconcileIds(readHypotheses(opts.hyps), refs);
  let scores: CaptionScores;
  try {
    scores = scoreCaptions(refs, hyps, { meteor: opts.meteor, wordnetDir: opts.wordnet });
  } catch (e) {
    if (e instanceof ImageSetMismatchError) throw new UserError(`${opts.hyps} vs ${refSource}: ${e.message}`);
    if (e instanceof WordNetMissingError) throw new UserError(`${e.message}; or pass --no-meteor`);
    throw e;
  }
  const report = fullReport(scores, { hyps: opts.hyps, refs: refSource });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(jsonSummary(scores))}\n`);
    if (opts.out) writeFileAtomic(opts.out, `${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const out = opts.out ?? join(dirname(opts.hyps), `${basename(opts.hyps, extname(opts.hyps))}.scores.json`);
  writeFileAtomic(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(
    `${scores.images} images, ${scores.references} references; scores x100, coco-caption rules (corpus BLEU, closest ref length)\n` +
      `${formatTable(scores)}\n` +
      `${METEOR_LABEL}: METEOR 1.5 rank/English without the paraphrase module${scores.wordnetDir ? ` (WordNet: ${scores.wordnetDir})` : ""}\n` +
      `wrote ${out}\n`,
  );
}

export function registerEvalCommand(program: Command): void {
  program
    .command("eval")
    .description("score generated captions with coco-caption's metrics (BLEU-1..4 with/without BP, METEOR (no paraphrase), ROUGE-L, CIDEr-D)")
    .argument("[captions]", "generated captions: JSON lines, COCO results JSON, or {\"imageId\": \"caption\"}")
    .option("--hyps <file>", "generated captions (same formats as the positional argument)")
    .option("--refs <file>", 'references: {"imageId": ["caption", ...]} or COCO captions JSON')
    .option("--data <path>", "dataset to take references from (Flickr8k folder, Karpathy/COCO JSON, JSONL/CSV)")
    .option("--split <name>", "split of --data to score against", "test")
    .option("--json", "print {bleu, bleu_nobp, meteor, rouge_l, cider} (0-1 scale) instead of the table")
    .option("-o, --out <file>", "write the full report (with per-image scores) here (default: <captions>.scores.json)")
    .addOption(new Option("--no-meteor", "skip METEOR (no WordNet needed)"))
    .option("--wordnet <dir>", "WordNet database folder for METEOR (default: $SAT_WORDNET_DIR or /usr/share/wordnet)")
    .option("--model <dir>", "caption the --split of --data with this model (beam search on --features) and score the result")
    .option("--features <dir>", "with --model: the feature store of --data (sat features)")
    .option("--beam <n>", "with --model: beam width", (v) => parsePositiveInt("--beam", v), DECODE_DEFAULTS.beamWidth)
    .option("--max-length <n>", "with --model: most words per caption", (v) => parsePositiveInt("--max-length", v), DECODE_DEFAULTS.maxLength)
    .option("--length-penalty <a>", "with --model: rank by log p / length^a", (v) => parseNonNegativeNumber("--length-penalty", v), DECODE_DEFAULTS.lengthPenalty)
    .addOption(new Option("--engine <kind>", "with --model: decoder engine").choices(["auto", "native", "reference"]).default("auto"))
    .option("--save-captions <file>", "with --model: where the captions go (default: <model>/captions-<split>-beam<n>.jsonl)")
    .option("--progress", "show progress even when stderr is not a terminal")
    .action(async (captions: string | undefined, o: Omit<EvalOptions, "hyps"> & { hyps?: string }) => {
      if (captions && o.hyps) throw new UserError("eval: give the captions once (positional or --hyps)");
      await runEval({ ...o, hyps: o.hyps ?? captions });
    });
}
