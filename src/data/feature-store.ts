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
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { endianness } from "node:os";
import { join, resolve } from "node:path";
import { UserError } from "../errors.js";
import type { EncoderIdentity } from "../encoder/encoder.js";
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

function readJsonFile<T>(path: string): T {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UserError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new UserError(`${path}: not valid JSON`);
  }
}


/** The index of shard k if that shard is complete on disk (index present, data the right size). */
export function completedShard(dir: string, plan: StorePlan, k: number): ShardIndex | null {
  const name = shardName(k);
  const indexPath = join(dir, `${name}.json`);
  const dataPath = join(dir, `${name}.f16`);
  if (!existsSync(indexPath) || !existsSync(dataPath)) return null;
  let idx: ShardIndex;
  try {
    idx = JSON.parse(readFileSync(indexPath, "utf8")) as ShardIndex;
  } catch {
    return null;
  }
  const expectIds = plan.ids.slice(k * plan.shardSize, (k + 1) * plan.shardSize);
  const got = new Set([...idx.ids, ...idx.failed.map((f) => f.id)]);
  if (idx.shard !== k || got.size !== expectIds.length || !expectIds.every((id) => got.has(id))) return null;
  if (statSync(dataPath).size !== idx.ids.length * plan.L * plan.D * 2) return null;
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
  private readonly fds: (number | null)[];
  private readonly rowBytes: number;
  private readonly buf: Buffer;
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
    const ids: string[] = [];
    m.shards.forEach((s, shard) =>
      s.ids.forEach((id, row) => {
        this.where.set(id, { shard, row });
        ids.push(id);
      }),
    );
    this.ids = ids;
    this.rowBytes = this.L * this.D * 2;
    this.buf = Buffer.alloc(this.rowBytes);
    this.half = new Uint16Array(this.buf.buffer, this.buf.byteOffset, this.L * this.D);
  }

  static open(dir: string, opts: OpenOptions = {}): FeatureStore {
    const root = resolve(dir);
    const manifestPath = join(root, "manifest.json");
    if (existsSync(manifestPath)) {
      const m = readJsonFile<StoreManifest>(manifestPath);
      if (m.format !== STORE_FORMAT || m.version !== STORE_VERSION || m.dtype !== "float16") {
        throw new UserError(`${manifestPath}: not a sat feature store (format ${String(m.format)} v${String(m.version)})`);
      }
      return new FeatureStore(root, m, true);
    }
    const planPath = join(root, "plan.json");
    if (!existsSync(planPath)) throw new UserError(`${root}: not a feature store (no manifest.json); run 'sat features' first`);
    if (!opts.allowPartial) throw new UserError(`${root}: feature extraction has not finished (no manifest.json); rerun 'sat features' to complete it`);
    const plan = readJsonFile<StorePlan>(planPath);
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
      fd = openSync(this.files[shard], "r");
      this.fds[shard] = fd;
    }
    return fd;
  }

  /** The [L, D] features of one image as float32, into `out` (at `offset`) if given. */
  read(id: string, out?: Float32Array, offset = 0): Float32Array {
    const w = this.where.get(id);
    if (!w) throw new UserError(`feature store ${this.dir}: no features for image '${id}'`);
    const n = this.L * this.D;
    const dst = out ?? new Float32Array(n);
    if (dst.length < offset + n) throw new RangeError(`output holds ${dst.length} floats, need ${offset + n}`);
    const fd = this.fd(w.shard);
    let got = 0;
    while (got < this.rowBytes) {
      const r = readSync(fd, this.buf, got, this.rowBytes - got, w.row * this.rowBytes + got);
      if (r === 0) throw new Error(`${this.files[w.shard]}: truncated (row ${w.row})`);
      got += r;
    }
    const h = this.half;
    for (let i = 0; i < n; i++) dst[offset + i] = HALF_TO_FLOAT[h[i]];
    return dst;
  }

  /** Features of several images, [ids.length, L, D], into `out` (allocated if not given). */
  readBatch(ids: readonly string[], out?: Float32Array): Float32Array {
    const n = this.L * this.D;
    const dst = out ?? new Float32Array(ids.length * n);
    if (dst.length < ids.length * n) throw new RangeError(`output holds ${dst.length} floats, need ${ids.length * n}`);
    ids.forEach((id, b) => this.read(id, dst, b * n));
    return dst;
  }

  close(): void {
    this.fds.forEach((fd, i) => {
      if (fd !== null) closeSync(fd);
      this.fds[i] = null;
    });
  }
}
