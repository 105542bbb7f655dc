/**
 * Caption dataset readers. Every format ends up as one `CaptionDataset`: a list of images,
 * each with its file, its split and at most 5 captions (the paper's cap; extra captions are
 * dropped in file order and counted).
 *
 * Formats:
 * - Flickr8k's official release: a folder with `Flickr8k.token.txt`,
 *   `Flickr_8k.{train,dev,test}Images.txt` and the photos in `images/` (or `Flicker8k_Dataset/`);
 * - Karpathy's `dataset_{flickr8k,flickr30k,coco}.json` (`restval` goes to train);
 * - COCO's `captions_<split><year>.json` (split from the file name);
 * - custom data: JSONL or CSV rows of `{image, caption, split}`, one row per caption.
 *
 * Image ids are the image's path relative to the image root, which is what the feature store
 * is keyed by. Images that belong to no split (Flickr8k has 91) get split `none`: the
 * feature store still encodes them, the trainer ignores them.
 *
 * Every reader checks what it reads: text files may carry a byte-order mark and LF, CRLF or
 * lone-CR line ends; an image or caption listed twice, and a caption with no word in it (empty,
 * or punctuation only: it would train the model to say nothing), are DatasetErrors naming the
 * file, the line or entry, and the field.
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, extname, join, resolve } from "node:path";
import { DatasetError } from "../errors.js";
import { readJsonFile, readTextFile, splitLines } from "../util/fs.js";
import { tokenize } from "./tokenize.js";

export type Split = "train" | "val" | "test" | "none";
export const SPLITS: readonly Split[] = ["train", "val", "test", "none"];

/** The paper keeps at most 5 captions per image. */
export const MAX_CAPTIONS_PER_IMAGE = 5;

export interface ImageEntry {
  /** Unique key: the image path relative to the dataset's image root. */
  id: string;
  /** Absolute path of the image file (it may be missing; the feature extractor reports it). */
  file: string;
  split: Split;
  captions: string[];
}

export interface CaptionDataset {
  /** Which reader produced it (flickr8k, karpathy, coco, jsonl, csv). */
  format: string;
  /** Where it was read from. */
  source: string;
  images: ImageEntry[];
  /** Captions dropped by the 5-per-image cap. */
  droppedCaptions: number;
}

export interface ReadOptions {
  /** Folder the image paths are relative to (each format has a sensible default). */
  imageRoot?: string;
  /** Captions kept per image (default 5, the paper's rule). */
  maxCaptions?: number;
}

/** Maps the split names used in the wild onto ours; `restval` is training data by convention. */
export function normaliseSplit(s: string, where: string): Split {
  switch (s.trim().toLowerCase()) {
    case "train":
    case "training":
    case "restval":
      return "train";
    case "val":
    case "valid":
    case "validation":
    case "dev":
      return "val";
    case "test":
    case "testing":
      return "test";
    case "none":
    case "":
      return "none";
    default:
      throw new DatasetError(`${where}: unknown split '${s}' (expected train, val/dev, test or restval)`);
  }
}

/** Groups (id, caption) pairs in first-seen order and applies the caption cap. */
class Builder {
  private readonly byId = new Map<string, ImageEntry>();
  dropped = 0;
  constructor(private readonly maxCaptions: number) {}

  /** `file` is called for an image's first caption only (joining paths for every caption of a large dataset was a third of its reading time). */
  add(id: string, file: () => string, split: Split, caption: string | null, where: string): void {
    let e = this.byId.get(id);
    if (!e) {
      e = { id, file: file(), split, captions: [] };
      this.byId.set(id, e);
    } else if (e.split !== split) {
      throw new DatasetError(`${where}: image '${id}' appears in two splits (${e.split} and ${split})`);
    }
    if (caption === null) return;
    const c = caption.trim();
    // A letter or digit always survives tokenising, so only captions without one need the
    // tokenizer's verdict (tokenising every caption of a large dataset cost more than reading it).
    if (!/[\p{L}\p{N}]/u.test(c) && tokenize(c).length === 0) throw new DatasetError(`${where}: field 'caption' has no words (${c ? `only punctuation: ${JSON.stringify(c.slice(0, 40))}` : "empty"})`);
    if (e.captions.length < this.maxCaptions) e.captions.push(c);
    else this.dropped++;
  }

  get(id: string): ImageEntry | undefined {
    return this.byId.get(id);
  }

  result(format: string, source: string): CaptionDataset {
    return { format, source, images: [...this.byId.values()], droppedCaptions: this.dropped };
  }
}

/** Caption files: COCO's train captions are ~90 MB; a file beyond this is not one. */
const MAX_DATASET_FILE_BYTES = 2 * 1024 * 1024 * 1024 - 1;

function readText(path: string): string {
  return readTextFile(path, { error: DatasetError, maxBytes: MAX_DATASET_FILE_BYTES });
}

function readJson(path: string): unknown {
  return readJsonFile(path, { error: DatasetError, maxBytes: MAX_DATASET_FILE_BYTES });
}

const lines = splitLines;

/**
 * Flickr8k in its official layout. Every image named in the token file is listed; those in
 * none of the three split files get split `none`.
 */
export function readFlickr8k(dir: string, opts: ReadOptions = {}): CaptionDataset {
  const root = resolve(dir);
  const tokenFile = join(root, "Flickr8k.token.txt");
  if (!existsSync(tokenFile)) throw new DatasetError(`${root}: no Flickr8k.token.txt (not a Flickr8k folder)`);
  const imageRoot = resolve(
    opts.imageRoot ?? [join(root, "images"), join(root, "Flicker8k_Dataset"), join(root, "Flickr8k_Dataset"), root].find((p) => existsSync(p))!,
  );
  const splitOf = new Map<string, Split>();
  for (const [name, split] of [["train", "train"], ["dev", "val"], ["test", "test"]] as const) {
    const f = join(root, `Flickr_8k.${name}Images.txt`);
    if (!existsSync(f)) throw new DatasetError(`${root}: missing ${basename(f)}`);
    for (const line of lines(readText(f))) {
      const id = line.trim();
      if (!id) continue;
      const prev = splitOf.get(id);
      if (prev && prev !== split) throw new DatasetError(`${f}: image '${id}' is also in the ${prev} split`);
      splitOf.set(id, split);
    }
  }
  const b = new Builder(opts.maxCaptions ?? MAX_CAPTIONS_PER_IMAGE);
  const captionLine = new Map<string, number>();
  lines(readText(tokenFile)).forEach((line, i) => {
    if (!line.trim()) return;
    const tab = line.indexOf("\t");
    const hash = line.lastIndexOf("#", tab < 0 ? undefined : tab);
    if (tab < 0 || hash < 0) throw new DatasetError(`${tokenFile}:${i + 1}: expected '<image>#<n>\\t<caption>'`);
    const id = line.slice(0, hash);
    const key = line.slice(0, tab).trim();
    const twice = captionLine.get(key);
    if (twice !== undefined) throw new DatasetError(`${tokenFile}:${i + 1}: caption '${key}' appears twice (also line ${twice})`);
    captionLine.set(key, i + 1);
    b.add(id, () => join(imageRoot, id), splitOf.get(id) ?? "none", line.slice(tab + 1), `${tokenFile}:${i + 1}`);
  });
  // A split file may name an image without captions; keep it so the split counts stay honest.
  for (const [id, split] of splitOf) if (!b.get(id)) b.add(id, () => join(imageRoot, id), split, null, tokenFile);
  return b.result("flickr8k", root);
}

interface KarpathyImage {
  filepath?: string;
  filename?: string;
  split?: string;
  sentences?: { raw?: string; tokens?: string[] }[];
}

/**
 * Karpathy's split files. The image root defaults to the JSON's folder; COCO entries carry a
 * `filepath` (train2014 / val2014) that is joined in front of the file name.
 */
export function readKarpathy(path: string, opts: ReadOptions = {}, parsed?: { images?: KarpathyImage[] }): CaptionDataset {
  const file = resolve(path);
  const j = parsed ?? (readJson(file) as { images?: KarpathyImage[] });
  if (!j || !Array.isArray(j.images)) throw new DatasetError(`${file}: field 'images' must be an array (Karpathy dataset_*.json)`);
  const imageRoot = resolve(opts.imageRoot ?? dirname(file));
  const b = new Builder(opts.maxCaptions ?? MAX_CAPTIONS_PER_IMAGE);
  const entryOf = new Map<string, number>();
  j.images.forEach((im, i) => {
    const where = `${file}: images[${i}]`;
    if (!im || typeof im.filename !== "string" || !im.filename) throw new DatasetError(`${where}: field 'filename' missing`);
    if (typeof im.split !== "string") throw new DatasetError(`${where}: field 'split' missing`);
    if (!Array.isArray(im.sentences)) throw new DatasetError(`${where}: field 'sentences' must be an array`);
    if (im.filepath !== undefined && typeof im.filepath !== "string") throw new DatasetError(`${where}: field 'filepath' must be a string`);
    const id = im.filepath ? `${im.filepath}/${im.filename}` : im.filename;
    const twice = entryOf.get(id);
    if (twice !== undefined) throw new DatasetError(`${where}: image '${id}' is listed twice (also images[${twice}])`);
    entryOf.set(id, i);
    const split = normaliseSplit(im.split, where);
    b.add(id, () => join(imageRoot, id), split, null, where);
    im.sentences.forEach((s, k) => {
      // `raw` is the caption as written; our tokeniser (not Karpathy's) makes the tokens.
      const text = typeof s?.raw === "string" ? s.raw : Array.isArray(s?.tokens) ? s.tokens.join(" ") : null;
      if (text === null) throw new DatasetError(`${where}.sentences[${k}]: neither 'raw' nor 'tokens'`);
      b.add(id, () => join(imageRoot, id), split, text, `${where}.sentences[${k}]`);
    });
  });
  return b.result("karpathy", file);
}

interface CocoCaptions {
  images?: { id?: number; file_name?: string }[];
  annotations?: { image_id?: number; caption?: string }[];
}

/**
 * COCO's `captions_train2014.json` / `captions_val2014.json`. The split comes from the file
 * name (`train*` -> train, `val*` -> val, `test*` -> test) unless given; images live in
 * `<root>/<train2014|val2014>/` where root is the folder above `annotations/` by default.
 */
export function readCoco(path: string, opts: ReadOptions & { split?: Split } = {}, parsed?: CocoCaptions): CaptionDataset {
  const file = resolve(path);
  const j = parsed ?? (readJson(file) as CocoCaptions);
  if (!j || !Array.isArray(j.images) || !Array.isArray(j.annotations)) {
    throw new DatasetError(`${file}: fields 'images' and 'annotations' must be arrays (COCO captions_*.json)`);
  }
  const m = /^captions_([a-z]+)(\d*)\.json$/i.exec(basename(file));
  const setName = m ? `${m[1]}${m[2]}` : undefined;
  const split = opts.split ?? (m ? normaliseSplit(m[1], file) : undefined);
  if (!split) throw new DatasetError(`${file}: cannot tell the split from the file name (expected captions_<train|val|test><year>.json)`);
  let imageRoot = opts.imageRoot;
  if (!imageRoot) {
    const parent = basename(dirname(file)) === "annotations" ? dirname(dirname(file)) : dirname(file);
    imageRoot = setName && existsSync(join(parent, setName)) ? join(parent, setName) : parent;
  }
  imageRoot = resolve(imageRoot);
  const b = new Builder(opts.maxCaptions ?? MAX_CAPTIONS_PER_IMAGE);
  const names = new Map<number, string>();
  j.images.forEach((im, i) => {
    if (typeof im?.id !== "number" || typeof im.file_name !== "string" || !im.file_name) throw new DatasetError(`${file}: images[${i}] needs 'id' and 'file_name'`);
    if (names.has(im.id)) throw new DatasetError(`${file}: images[${i}]: field 'id' ${im.id} is listed twice`);
    if (b.get(im.file_name)) throw new DatasetError(`${file}: images[${i}]: field 'file_name' '${im.file_name}' is listed twice`);
    const name = im.file_name;
    names.set(im.id, name);
    b.add(name, () => join(imageRoot, name), split, null, file);
  });
  j.annotations.forEach((a, i) => {
    const where = `${file}: annotations[${i}]`;
    if (typeof a?.image_id !== "number" || typeof a.caption !== "string") throw new DatasetError(`${where}: needs 'image_id' and 'caption'`);
    const name = names.get(a.image_id);
    if (name === undefined) throw new DatasetError(`${where}: image_id ${a.image_id} is not in 'images'`);
    b.add(name, () => join(imageRoot, name), split, a.caption, where);
  });
  return b.result("coco", file);
}

/** Parses CSV text into records (RFC 4180 quoting), each with the line it starts on. */
function parseCsv(text: string, file: string): { row: string[]; line: number }[] {
  const out: { row: string[]; line: number }[] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let i = 0;
  const endRow = () => {
    row.push(field);
    field = "";
    if (!(row.length === 1 && row[0] === "")) out.push({ row, line: rowLine });
    row = [];
  };
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        if (ch === "\n") line++;
        field += ch;
      }
      i++;
      continue;
    }
    if (ch === '"' && field === "") quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      endRow();
      line++;
      rowLine = line;
    } else field += ch;
    i++;
  }
  if (quoted) throw new DatasetError(`${file}:${rowLine}: unterminated quoted field`);
  if (field !== "" || row.length) endRow();
  return out;
}

/**
 * Custom data: one `{image, caption, split}` per caption, as JSONL or CSV (with a header row
 * naming those columns). `image` is relative to the file's folder (or the image root).
 */
export function readCaptionTable(path: string, opts: ReadOptions = {}): CaptionDataset {
  const file = resolve(path);
  const imageRoot = resolve(opts.imageRoot ?? dirname(file));
  const b = new Builder(opts.maxCaptions ?? MAX_CAPTIONS_PER_IMAGE);
  const isCsv = extname(file).toLowerCase() === ".csv";
  const rows: { rec: Record<string, unknown>; where: string }[] = [];
  const text = readText(file);
  if (isCsv) {
    const recs = parseCsv(text, file);
    if (!recs.length) throw new DatasetError(`${file}: empty CSV (expected a header: image,caption,split)`);
    const header = recs[0].row.map((h) => h.trim().toLowerCase());
    for (const col of ["image", "caption", "split"]) {
      if (!header.includes(col)) throw new DatasetError(`${file}:1: header has no '${col}' column (expected image,caption,split)`);
    }
    for (const { row, line } of recs.slice(1)) {
      if (row.length !== header.length) throw new DatasetError(`${file}:${line}: ${row.length} fields, header has ${header.length}`);
      rows.push({ rec: Object.fromEntries(header.map((h, k) => [h, row[k]])), where: `${file}:${line}` });
    }
  } else {
    lines(text).forEach((l, i) => {
      if (!l.trim()) return;
      let rec: unknown;
      try {
        rec = JSON.parse(l);
      } catch {
        throw new DatasetError(`${file}:${i + 1}: not valid JSON`);
      }
      if (!rec || typeof rec !== "object" || Array.isArray(rec)) throw new DatasetError(`${file}:${i + 1}: expected an object {image, caption, split}`);
      rows.push({ rec: rec as Record<string, unknown>, where: `${file}:${i + 1}` });
    });
  }
  for (const { rec, where } of rows) {
    for (const f of ["image", "caption", "split"]) {
      if (typeof rec[f] !== "string") throw new DatasetError(`${where}: field '${f}' must be a string`);
    }
    const image = (rec.image as string).trim();
    if (!image) throw new DatasetError(`${where}: field 'image' is empty`);
    const split = normaliseSplit(rec.split as string, `${where}: field 'split'`);
    b.add(image, () => resolve(imageRoot, image), split, rec.caption as string, where);
  }
  return b.result(isCsv ? "csv" : "jsonl", file);
}

export type DatasetFormat = "flickr8k" | "karpathy" | "coco" | "jsonl" | "csv";

/**
 * Reads a dataset, telling the format from the path: a folder with Flickr8k.token.txt, a
 * Karpathy or COCO JSON (told apart by their fields), `.jsonl` or `.csv`.
 */
export function loadDataset(path: string, opts: ReadOptions & { format?: DatasetFormat } = {}): CaptionDataset {
  const p = resolve(path);
  if (!existsSync(p)) throw new DatasetError(`${p}: no such file or folder`);
  if (opts.imageRoot !== undefined && !(existsSync(opts.imageRoot) && statSync(opts.imageRoot).isDirectory())) {
    throw new DatasetError(`${resolve(opts.imageRoot)}: the image folder does not exist (or is not a folder)`);
  }
  let format = opts.format;
  if (!format) {
    if (statSync(p).isDirectory()) {
      if (existsSync(join(p, "Flickr8k.token.txt"))) format = "flickr8k";
      else throw new DatasetError(`${p}: folder is not a Flickr8k release (no Flickr8k.token.txt); pass a .json, .jsonl or .csv file`);
    } else {
      const ext = extname(p).toLowerCase();
      if (ext === ".jsonl" || ext === ".ndjson") format = "jsonl";
      else if (ext === ".csv") format = "csv";
      else if (ext === ".json") {
        // Karpathy's file has images with `sentences`; COCO's has `annotations`.
        const j = readJson(p) as Record<string, unknown> | null;
        if (j && Array.isArray(j.annotations)) return readCoco(p, opts, j as CocoCaptions);
        if (j && Array.isArray(j.images)) return readKarpathy(p, opts, j as { images: KarpathyImage[] });
        throw new DatasetError(`${p}: JSON is neither a Karpathy dataset_*.json (images[].sentences) nor COCO captions (annotations)`);
      } else throw new DatasetError(`${p}: unknown dataset format (expected a Flickr8k folder, .json, .jsonl or .csv)`);
    }
  }
  switch (format) {
    case "flickr8k":
      return readFlickr8k(p, opts);
    case "karpathy":
      return readKarpathy(p, opts);
    case "coco":
      return readCoco(p, opts);
    case "jsonl":
    case "csv":
      return readCaptionTable(p, opts);
    default:
      throw new DatasetError(`unknown dataset format '${String(format)}'`);
  }
}

/** Reads several datasets (e.g. COCO's train and val caption files) as one. */
export function loadDatasets(paths: string[], opts: ReadOptions & { format?: DatasetFormat } = {}): CaptionDataset {
  if (paths.length === 1) return loadDataset(paths[0], opts);
  const parts = paths.map((p) => loadDataset(p, opts));
  const seen = new Map<string, string>();
  const images: ImageEntry[] = [];
  for (const d of parts) {
    for (const im of d.images) {
      const other = seen.get(im.id);
      if (other !== undefined) throw new DatasetError(`${d.source}: image '${im.id}' is also in ${other}`);
      seen.set(im.id, d.source);
      images.push(im);
    }
  }
  return {
    format: [...new Set(parts.map((d) => d.format))].join("+"),
    source: parts.map((d) => d.source).join(","),
    images,
    droppedCaptions: parts.reduce((s, d) => s + d.droppedCaptions, 0),
  };
}

/**
 * Refuses a dataset none of whose images exist: the image folder is wrong, and every image
 * would otherwise be recorded as a failure. Some missing images are each image's problem
 * (the feature store records them with their reason), not the dataset's.
 */
export function checkImagesPresent(images: readonly Pick<ImageEntry, "id" | "file">[]): void {
  if (images.length === 0 || images.some((im) => existsSync(im.file))) return;
  const first = images[0];
  throw new DatasetError(`none of the ${images.length} images exist (e.g. '${first.id}' is not at ${first.file}): is the image folder right?`);
}

export function imagesOf(ds: CaptionDataset, split: Split): ImageEntry[] {
  return ds.images.filter((im) => im.split === split);
}

export interface SplitCounts {
  images: number;
  captions: number;
}

export function splitCounts(ds: CaptionDataset): Record<Split, SplitCounts> {
  const out = Object.fromEntries(SPLITS.map((s) => [s, { images: 0, captions: 0 }])) as Record<Split, SplitCounts>;
  for (const im of ds.images) {
    out[im.split].images++;
    out[im.split].captions += im.captions.length;
  }
  return out;
}
