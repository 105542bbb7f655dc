/**
 * The feature store: encoder features of every image, computed once, kept on disk as
 * float16, read back one image (or one minibatch) at a time by positional reads, so the
 * trainer never holds the whole set (Flickr8k: 8,091 x 196 x 1024 x 2 bytes = 3.2 GB).
 *
 * Layout of a store folder:
 *   plan.json             what will be extracted: encoder identity, shard size, every image id
 *                         in order (written first; a rerun must match it)
 *   shard-00000.f16       rows of L*D float16 (little-endian), one per successfully encoded image
 *   shard-00000.json      that shard's index: its ids in row order, its failures with reasons
 *   manifest.json         written last: all shards and failures; its presence = complete
 * Shard files and indexes are written under temporary names and renamed, index last, so a
 * shard either exists whole or not at all; a rerun skips finished shards and recomputes the
 * rest. Nothing time- or machine-dependent is stored, so an interrupted-and-resumed run ends
 * with the same bytes as an uninterrupted one.
 *
 * Opening a store checks all of it before any row is read: every manifest field's type and
 * range, that shard names are plain file names in the folder, that no image is listed twice,
 * and that every shard file is a regular file of exactly rows x L x D x 2 bytes, so a
 * truncated shard is found at open, not halfway through training.
 */
import { closeSync, existsSync, readSync, statSync } from "node:fs";
import { endianness } from "node:os";
import { join, resolve } from "node:path";
import { FeatureStoreError } from "../errors.js";
import { isPlainFileName } from "../util/file-name.js";
import { openRegularFile, readJsonFile } from "../util/fs.js";
import type { EncoderIdentity } from "./encoder-identity.js";
import { HALF_TO_FLOAT } from "./float16.js";

export const STORE_FORMAT = "sat-features";
export const STORE_VERSION = 1;

export interface FailedImage {
  id: string;
  reason: string;
}

export interface StorePlan {
  format: typeof STORE_FORMAT;
  version: typeof STORE_VERSION;
  dtype: "float16";
  encoder: EncoderIdentity;
  L: number;
  D: number;
  shardSize: number;
  /** Every image id, in extraction order; shard k holds ids[k*shardSize .. (k+1)*shardSize). */
  ids: string[];
}

export interface ShardIndex {
  shard: number;
  file: string;
  /** Encoded images, in row order. */
  ids: string[];
  failed: FailedImage[];
  /** Values beyond the float16 range, stored as +-65504 (expected 0). */
  saturated: number;
}

/** The plan's header (everything but the id list) plus what extraction produced. */
export interface StoreManifest extends Omit<StorePlan, "ids"> {
  images: number;
  encoded: number;
  shards: { file: string; ids: string[] }[];
  failed: FailedImage[];
  saturated: number;
}

export function shardName(k: number): string {
  return `shard-${String(k).padStart(5, "0")}`;
}

export function shardCount(plan: Pick<StorePlan, "ids" | "shardSize">): number {
  return Math.ceil(plan.ids.length / plan.shardSize);
}

export function checkLittleEndian(): void {
  // Rows are Uint16Array bytes as laid out in memory; the format is little-endian.
  if (endianness() !== "LE") throw new Error("the feature store needs a little-endian machine");
}

/** manifest.json and plan.json list every image id (COCO: ~123k ids, ~5 MB); far beyond that is not one. */
const MAX_STORE_JSON_BYTES = 512 * 1024 * 1024;
/** One row (L x D float16) is read into one buffer; ResNet-50's is 196 x 1024 x 2 = 392 kB. */
const MAX_ROW_BYTES = 256 * 1024 * 1024;

function readStoreJson(path: string): unknown {
  return readJsonFile(path, { error: FeatureStoreError, maxBytes: MAX_STORE_JSON_BYTES });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function positiveInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v > 0;
}

/** The fields plan.json and manifest.json share: format, dtype, encoder, L, D, shard size. */
function checkStoreHeader(j: unknown, path: string): asserts j is Record<string, unknown> & Omit<StorePlan, "ids"> {
  if (!isObject(j)) throw new FeatureStoreError(`${path}: not a JSON object`);
  if (j.format !== STORE_FORMAT || j.version !== STORE_VERSION || j.dtype !== "float16") {
    throw new FeatureStoreError(`${path}: not a sat feature store (format ${JSON.stringify(j.format)} v${JSON.stringify(j.version)}, dtype ${JSON.stringify(j.dtype)})`);
  }
  if (!isObject(j.encoder)) throw new FeatureStoreError(`${path}: field 'encoder' must be an object (the encoder's identity)`);
  for (const f of ["L", "D", "shardSize"] as const) {
    if (!positiveInt(j[f])) throw new FeatureStoreError(`${path}: field '${f}' must be a positive integer (got ${JSON.stringify(j[f])})`);
  }
  if ((j.L as number) * (j.D as number) * 2 > MAX_ROW_BYTES) throw new FeatureStoreError(`${path}: fields 'L' x 'D' (${String(j.L)} x ${String(j.D)}) make a row over ${MAX_ROW_BYTES} bytes`);
}

/** An array of distinct non-empty id strings; `seen` carries ids across lists (shards, failures). */
function checkIds(ids: unknown, field: string, path: string, seen: Map<string, string>): asserts ids is string[] {
  if (!Array.isArray(ids)) throw new FeatureStoreError(`${path}: field '${field}' must be an array of image ids`);
  ids.forEach((id, i) => {
    if (typeof id !== "string" || id === "") throw new FeatureStoreError(`${path}: field '${field}[${i}]' must be a non-empty string (got ${JSON.stringify(id)})`);
    const other = seen.get(id);
    if (other !== undefined) throw new FeatureStoreError(`${path}: image '${id}' is listed twice (${other} and ${field})`);
    seen.set(id, field);
  });
}

function checkFailures(failed: unknown, field: string, path: string, seen: Map<string, string>): asserts failed is FailedImage[] {
  if (!Array.isArray(failed)) throw new FeatureStoreError(`${path}: field '${field}' must be an array of {id, reason}`);
  failed.forEach((f, i) => {
    if (!isObject(f) || typeof f.reason !== "string") throw new FeatureStoreError(`${path}: field '${field}[${i}]' must be {id, reason}`);
  });
  checkIds(failed.map((f: FailedImage) => f.id), field, path, seen);
}

/**
 * Checks a manifest's every field, and its shards on disk: plain file names, distinct, each a
 * regular file of exactly its rows' size. Counts must agree with the lists.
 */
function checkManifest(j: unknown, dir: string, path: string): StoreManifest {
  checkStoreHeader(j, path);
  const m = j as unknown as StoreManifest;
  if (!Array.isArray(m.shards)) throw new FeatureStoreError(`${path}: field 'shards' must be an array of {file, ids}`);
  const seen = new Map<string, string>();
  const files = new Set<string>();
  const rowBytes = m.L * m.D * 2;
  m.shards.forEach((sh: unknown, k) => {
    const field = `shards[${k}]`;
    if (!isObject(sh)) throw new FeatureStoreError(`${path}: field '${field}' must be an object {file, ids}`);
    if (!isPlainFileName(sh.file) || sh.file === "manifest.json" || sh.file === "plan.json") {
      throw new FeatureStoreError(`${path}: field '${field}.file' must be a plain file name in the store folder (got ${JSON.stringify(sh.file)})`);
    }
    if (files.has(sh.file)) throw new FeatureStoreError(`${path}: field '${field}.file': shard file '${sh.file}' is listed twice`);
    files.add(sh.file);
    checkIds(sh.ids, `${field}.ids`, path, seen);
  });
  checkFailures(m.failed, "failed", path, seen);
  const encoded = m.shards.reduce((s, x) => s + x.ids.length, 0);
  if (m.encoded !== encoded) throw new FeatureStoreError(`${path}: field 'encoded' is ${JSON.stringify(m.encoded)} but the shards list ${encoded} images`);
  if (m.images !== encoded + m.failed.length) throw new FeatureStoreError(`${path}: field 'images' is ${JSON.stringify(m.images)} but the shards and failures list ${encoded + m.failed.length}`);
  // Sizes on disk, now: a shard one row short would otherwise surface as a read error mid-run.
  m.shards.forEach((sh, k) => {
    const { fd } = openRegularFile(join(dir, sh.file), { error: FeatureStoreError, what: `shard file (${path}: shards[${k}], ${sh.ids.length} rows of ${m.L}x${m.D})`, exactBytes: sh.ids.length * rowBytes });
    closeSync(fd);
  });
  return m;
}

function checkPlan(j: unknown, path: string): StorePlan {
  checkStoreHeader(j, path);
  checkIds(j.ids, "ids", path, new Map());
  return j as unknown as StorePlan;
}

/** Reads and checks plan.json (extraction's first file). */
export function readStorePlan(path: string): StorePlan {
  return checkPlan(readStoreJson(path), path);
}

/** A shard index as written by shard-writer.ts, or null if it is not one. */
function asShardIndex(j: unknown): ShardIndex | null {
  if (!isObject(j) || !Number.isInteger(j.shard) || !isPlainFileName(j.file) || typeof j.saturated !== "number") return null;
  if (!Array.isArray(j.ids) || !j.ids.every((id) => typeof id === "string")) return null;
  if (!Array.isArray(j.failed) || !j.failed.every((f) => isObject(f) && typeof f.id === "string" && typeof f.reason === "string")) return null;
  return j as unknown as ShardIndex;
}

/** The index of shard k if that shard is complete on disk (index present, data the right size). */
export function completedShard(dir: string, plan: StorePlan, k: number): ShardIndex | null {
  const name = shardName(k);
  const indexPath = join(dir, `${name}.json`);
  const dataPath = join(dir, `${name}.f16`);
  if (!existsSync(indexPath) || !existsSync(dataPath)) return null;
  let idx: ShardIndex | null;
  try {
    idx = asShardIndex(readStoreJson(indexPath));
  } catch {
    return null;
  }
  if (!idx || idx.file !== `${name}.f16`) return null;
  const expectIds = plan.ids.slice(k * plan.shardSize, (k + 1) * plan.shardSize);
  const listed = [...idx.ids, ...idx.failed.map((f) => f.id)];
  const got = new Set(listed);
  if (idx.shard !== k || got.size !== listed.length || got.size !== expectIds.length || !expectIds.every((id) => got.has(id))) return null;
  const st = statSync(dataPath);
  if (!st.isFile() || st.size !== idx.ids.length * plan.L * plan.D * 2) return null;
  return idx;
}

export function manifestFromShards(plan: StorePlan, shards: ShardIndex[]): StoreManifest {
  return {
    format: STORE_FORMAT,
    version: STORE_VERSION,
    dtype: "float16",
    encoder: plan.encoder,
    L: plan.L,
    D: plan.D,
    shardSize: plan.shardSize,
    images: plan.ids.length,
    encoded: shards.reduce((s, x) => s + x.ids.length, 0),
    shards: shards.map((s) => ({ file: s.file, ids: s.ids })),
    failed: shards.flatMap((s) => s.failed),
    saturated: shards.reduce((s, x) => s + x.saturated, 0),
  };
}

export interface OpenOptions {
  /** Open a store whose extraction has not finished (only its complete shards are readable). */
  allowPartial?: boolean;
}

/**
 * Read access to a store. `read(id)` returns that image's [L, D] features as float32 (row
 * major: location, then channel) with one positional read; file descriptors are opened per
 * shard on first use and kept until `close()`.
 */
export class FeatureStore {
  readonly dir: string;
  readonly encoder: EncoderIdentity;
  readonly L: number;
  readonly D: number;
  /** Ids of every encoded image, in store order. */
  readonly ids: readonly string[];
  /** Images that could not be encoded, with the reason. */
  readonly failed: readonly FailedImage[];
  /** False while extraction is unfinished (opened with allowPartial). */
  readonly complete: boolean;
  private readonly where = new Map<string, { shard: number; row: number }>();
  private readonly files: string[];
  /** Rows in each shard (its expected size is rows x rowBytes). */
  private readonly rows: number[];
  private readonly fds: (number | null)[];
  private readonly rowBytes: number;
  private readonly half: Uint16Array;

  private constructor(dir: string, m: Pick<StoreManifest, "encoder" | "L" | "D" | "shards" | "failed">, complete: boolean) {
    checkLittleEndian();
    this.dir = dir;
    this.encoder = m.encoder;
    this.L = m.L;
    this.D = m.D;
    this.complete = complete;
    this.failed = m.failed;
    this.files = m.shards.map((s) => join(dir, s.file));
    this.fds = m.shards.map(() => null);
    this.rows = m.shards.map((s) => s.ids.length);
    const ids: string[] = [];
    m.shards.forEach((s, shard) =>
      s.ids.forEach((id, row) => {
        this.where.set(id, { shard, row });
        ids.push(id);
      }),
    );
    this.ids = ids;
    this.rowBytes = this.L * this.D * 2;
    this.half = new Uint16Array(this.L * this.D);
  }

  static open(dir: string, opts: OpenOptions = {}): FeatureStore {
    const root = resolve(dir);
    const manifestPath = join(root, "manifest.json");
    if (!existsSync(root)) throw new FeatureStoreError(`${root}: no such folder (a feature store made by 'sat features')`);
    if (!statSync(root).isDirectory()) throw new FeatureStoreError(`${root}: not a folder (a feature store is the folder 'sat features' wrote)`);
    if (existsSync(manifestPath)) return new FeatureStore(root, checkManifest(readStoreJson(manifestPath), root, manifestPath), true);
    const planPath = join(root, "plan.json");
    if (!existsSync(planPath)) throw new FeatureStoreError(`${root}: not a feature store (no manifest.json); run 'sat features' first`);
    if (!opts.allowPartial) throw new FeatureStoreError(`${root}: feature extraction has not finished (no manifest.json); rerun 'sat features' to complete it`);
    const plan = readStorePlan(planPath);
    const shards: ShardIndex[] = [];
    for (let k = 0; k < shardCount(plan); k++) {
      const s = completedShard(root, plan, k);
      if (s) shards.push(s);
    }
    return new FeatureStore(root, manifestFromShards(plan, shards), false);
  }

  get size(): number {
    return this.ids.length;
  }

  has(id: string): boolean {
    return this.where.has(id);
  }

  private fd(shard: number): number {
    let fd = this.fds[shard];
    if (fd === null) {
      fd = openRegularFile(this.files[shard], { error: FeatureStoreError, what: "shard file", exactBytes: this.rows[shard] * this.rowBytes }).fd;
      this.fds[shard] = fd;
    }
    return fd;
  }

  /** The [L, D] features of one image as float32, into `out` (at `offset`) if given. */
  read(id: string, out?: Float32Array, offset = 0): Float32Array {
    const n = this.L * this.D;
    const dst = out ?? new Float32Array(n);
    if (dst.length < offset + n) throw new RangeError(`output holds ${dst.length} floats, need ${offset + n}`);
    const h = this.readHalf(id, this.half);
    for (let i = 0; i < n; i++) dst[offset + i] = HALF_TO_FLOAT[h[i]];
    return dst;
  }

  /** The [L, D] features of one image as the float16 bits stored, into `out` (at `offset`) if given. */
  readHalf(id: string, out?: Uint16Array, offset = 0): Uint16Array {
    const w = this.where.get(id);
    if (!w) throw new FeatureStoreError(`feature store ${this.dir}: no features for image '${id}'`);
    const n = this.L * this.D;
    const dst = out ?? new Uint16Array(n);
    if (dst.length < offset + n) throw new RangeError(`output holds ${dst.length} values, need ${offset + n}`);
    const bytes = new Uint8Array(dst.buffer, dst.byteOffset + offset * 2, this.rowBytes);
    const fd = this.fd(w.shard);
    let got = 0;
    while (got < this.rowBytes) {
      const r = readSync(fd, bytes, got, this.rowBytes - got, w.row * this.rowBytes + got);
      if (r === 0) throw new FeatureStoreError(`${this.files[w.shard]}: truncated since the store was opened (row ${w.row})`);
      got += r;
    }
    return dst;
  }

  /** Features of several images, [ids.length, L, D], into `out` (allocated if not given). */
  readBatch(ids: readonly string[], out?: Float32Array): Float32Array {
    return this.batch(ids, out ?? new Float32Array(ids.length * this.L * this.D), "floats", (id, dst, at) => this.read(id, dst, at));
  }

  /** readBatch's features as their float16 bits (what an engine's prepareDecode also takes). */
  readBatchHalf(ids: readonly string[], out?: Uint16Array): Uint16Array {
    return this.batch(ids, out ?? new Uint16Array(ids.length * this.L * this.D), "values", (id, dst, at) => this.readHalf(id, dst, at));
  }

  private batch<T extends Float32Array | Uint16Array>(ids: readonly string[], dst: T, unit: string, readOne: (id: string, dst: T, at: number) => void): T {
    const n = this.L * this.D;
    if (dst.length < ids.length * n) throw new RangeError(`output holds ${dst.length} ${unit}, need ${ids.length * n}`);
    ids.forEach((id, b) => readOne(id, dst, b * n));
    return dst;
  }

  close(): void {
    this.fds.forEach((fd, i) => {
      if (fd !== null) closeSync(fd);
      this.fds[i] = null;
    });
  }
}
