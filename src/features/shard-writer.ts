/**
 * Encodes one shard of a feature store and writes it (data file, then index; both renamed
 * into place). Used by the in-process extractor and by each worker thread.
 */
import { join } from "node:path";
import type { Encoder } from "../encoder/encoder.js";
import { writeFileAtomic } from "../util/fs.js";
import { shardName, type FailedImage, type ShardIndex } from "../data/feature-store.js";
import { encodeHalf } from "../data/float16.js";
import { ImageError, loadImage } from "../data/images.js";

export interface ExtractImage {
  id: string;
  file: string;
}

type Prepared = { image: ExtractImage; pixels: Uint8Array } | { image: ExtractImage; error: string; detail: string };

async function prepareBatch(images: readonly ExtractImage[], enc: Encoder): Promise<Prepared[]> {
  return Promise.all(
    images.map(async (image): Promise<Prepared> => {
      try {
        return { image, pixels: (await loadImage(image.file, enc.preprocess)).pixels };
      } catch (e) {
        // Anything sharp or the file system throws is this image's problem, not the run's.
        if (e instanceof ImageError) return { image, error: e.reason, detail: e.detail };
        return { image, error: "unreadable", detail: String((e as Error)?.message ?? e).split("\n")[0] };
      }
    }),
  );
}

export interface ShardJob {
  shard: number;
  /** This shard's images, in plan order. */
  images: readonly ExtractImage[];
  out: string;
  batchSize: number;
  /** Polled between batches: true drops the shard (nothing is written) and returns null. */
  shouldStop?: () => boolean;
  /** After each batch: images handled so far in this shard, and the batch's failures. */
  onBatch?: (handled: number, failed: (FailedImage & { file: string; detail: string })[]) => void;
  throttleMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Decodes and encodes the shard batch by batch (the next batch is decoded on sharp's threads
 * while the current one is encoded), converts to float16, writes the files. Batches are cut
 * from the shard's start, so a rerun forms exactly the same batches.
 */
export async function encodeShard(job: ShardJob, enc: Encoder): Promise<ShardIndex | null> {
  const rowFloats = enc.L * enc.D;
  const buf = new Uint16Array(job.images.length * rowFloats);
  const ids: string[] = [];
  const failed: FailedImage[] = [];
  let saturated = 0;
  let handled = 0;
  const batches: ExtractImage[][] = [];
  for (let s = 0; s < job.images.length; s += job.batchSize) batches.push(job.images.slice(s, s + job.batchSize));
  let next: Promise<Prepared[]> | null = batches.length ? prepareBatch(batches[0], enc) : null;
  for (let i = 0; i < batches.length; i++) {
    const prepared = await next!;
    next = i + 1 < batches.length ? prepareBatch(batches[i + 1], enc) : null;
    if (job.shouldStop?.()) {
      if (next) await next; // settle the prefetch before abandoning the shard
      return null;
    }
    const batchFailed: (FailedImage & { file: string; detail: string })[] = [];
    const ok: Uint8Array[] = [];
    for (const p of prepared) {
      if ("error" in p) {
        failed.push({ id: p.image.id, reason: p.error });
        batchFailed.push({ id: p.image.id, file: p.image.file, reason: p.error, detail: p.detail });
      } else {
        ok.push(p.pixels);
        ids.push(p.image.id);
      }
    }
    if (ok.length) saturated += encodeHalf(enc.encode(ok), buf, (ids.length - ok.length) * rowFloats);
    handled += prepared.length;
    job.onBatch?.(handled, batchFailed);
    if (job.throttleMs) await sleep(job.throttleMs);
  }
  const name = shardName(job.shard);
  writeFileAtomic(join(job.out, `${name}.f16`), new Uint8Array(buf.buffer, 0, ids.length * rowFloats * 2));
  const idx: ShardIndex = { shard: job.shard, file: `${name}.f16`, ids, failed, saturated };
  // The index goes last: its presence is what marks the shard complete.
  writeFileAtomic(join(job.out, `${name}.json`), JSON.stringify(idx));
  return idx;
}
