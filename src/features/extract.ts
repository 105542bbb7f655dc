/**
 * Feature extraction into a store (feature-store.ts describes the layout): every image
 * decoded and preprocessed once, encoded in batches, written shard by shard. Bad images are
 * recorded with their reason and skipped; they never stop the run. The next batch is decoded
 * (on sharp's threads) while the current one is encoded. tfjs-wasm uses one thread under
 * Node, so `workers: N` runs N encoder instances in worker threads, one shard each at a time.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Worker } from "node:worker_threads";
import { DatasetError, FeatureStoreError, OptionError } from "../errors.js";
import type { Encoder, EncoderIdentity } from "../encoder/encoder.js";
import type { EncoderSpec } from "../encoder/spec.js";
import { encoderWorkerEnv, startWorkerModule } from "../encoder/workers.js";
import type { ToWorker } from "./extract-worker.js";
import {
  checkLittleEndian,
  completedShard,
  manifestFromShards,
  readStorePlan,
  shardCount,
  STORE_FORMAT,
  STORE_VERSION,
  type FailedImage,
  type ShardIndex,
  type StorePlan,
} from "../data/feature-store.js";
import { makeOutputDir, removeStaleTemps, writeFileAtomic } from "../util/fs.js";
import { checkImagesPresent } from "../data/datasets.js";
import { encodeShard, type ExtractImage } from "./shard-writer.js";

export type { ExtractImage } from "./shard-writer.js";

export interface ExtractProgress {
  /** Images handled in this run (encoded or failed). */
  done: number;
  /** Images this run has to handle (those in unfinished shards). */
  total: number;
  failed: number;
}

export interface ExtractOptions {
  images: readonly ExtractImage[];
  out: string;
  encoder: Encoder;
  /** Images per shard file (default 128: ~51 MB at 196x1024 fp16; a kill loses at most one per worker). */
  shardSize?: number;
  /** Images per encoder call (default 8). */
  batchSize?: number;
  /** Worker threads, each with its own encoder (default 1: encode on this thread). */
  workers?: number;
  /** How workers rebuild `encoder` (required when workers > 1; checked against its identity). */
  encoderSpec?: EncoderSpec;
  onProgress?: (p: ExtractProgress) => void;
  /** Called for each bad image; `detail` is the decoder's message (not stored: it varies). */
  onFailed?: (f: FailedImage & { file: string; detail: string }) => void;
  /** Polled between batches; when true the current shard is dropped and the run returns. */
  shouldStop?: () => boolean;
  /** Test hook: pause this long after each batch (makes "kill it halfway" reproducible). */
  throttleMs?: number;
}

export interface ExtractSummary {
  out: string;
  images: number;
  shards: number;
  /** Shards (and their images) already complete from an earlier run. */
  skippedShards: number;
  skippedImages: number;
  /** Encoded in this run. */
  encoded: number;
  /** Every failure in the store (earlier runs included), with reasons. */
  failed: FailedImage[];
  /** Failures found in this run. */
  failedNow: number;
  seconds: number;
  /** Images (encoded or failed) handled per second in this run. */
  imagesPerSecond: number;
  interrupted: boolean;
  complete: boolean;
  saturated: number;
  workers: number;
}

export const DEFAULT_SHARD_SIZE = 128;
export const DEFAULT_BATCH_SIZE = 8;

function samePlan(a: StorePlan, b: StorePlan): string | null {
  if (a.format !== b.format || a.version !== b.version) return "format";
  if (JSON.stringify(a.encoder) !== JSON.stringify(b.encoder)) return "encoder";
  if (a.shardSize !== b.shardSize) return "shard size";
  if (a.ids.length !== b.ids.length || a.ids.some((id, i) => id !== b.ids[i])) return "image list";
  return null;
}

type FromWorker =
  | { type: "ready"; id: EncoderIdentity }
  | { type: "batch"; shard: number; handled: number; failed: (FailedImage & { file: string; detail: string })[] }
  | { type: "shard-done"; shard: number; index: ShardIndex | null }
  | { type: "error"; message: string };

function startWorker(workers: number): Worker {
  const ext = import.meta.url.endsWith(".ts") ? "ts" : "js";
  return startWorkerModule(new URL(`./extract-worker.${ext}`, import.meta.url), undefined, encoderWorkerEnv(workers));
}

interface ShardRunner {
  /** Runs the shards; calls back as each finishes; resolves false if stopped early. */
  (todo: number[], onBatch: (shard: number, handled: number, failed: (FailedImage & { file: string; detail: string })[]) => void, onDone: (idx: ShardIndex) => void): Promise<boolean>;
}

async function runWorkers(n: number, opts: ExtractOptions, jobFor: (k: number) => Omit<ToWorker & { type: "shard" }, "type">["job"]): Promise<ShardRunner> {
  if (!opts.encoderSpec) throw new Error("extractFeatures: workers > 1 needs encoderSpec");
  const spec = opts.encoderSpec;
  const workers = Array.from({ length: n }, () => startWorker(n));
  const ready = workers.map(
    (w) =>
      new Promise<void>((res, rej) => {
        const onMsg = (m: FromWorker) => {
          if (m.type === "ready") {
            w.off("message", onMsg);
            if (JSON.stringify(m.id) !== JSON.stringify(opts.encoder.id)) rej(new Error("a worker built a different encoder than the main thread"));
            else res();
          } else if (m.type === "error") rej(new Error(`feature worker: ${m.message}`));
        };
        w.on("message", onMsg);
        w.once("error", rej);
        w.postMessage({ type: "init", spec } satisfies ToWorker);
      }),
  );
  try {
    await Promise.all(ready);
  } catch (e) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw e;
  }
  return (todo, onBatch, onDone) =>
    new Promise<boolean>((resolvePool, rejectPool) => {
      const queue = [...todo];
      let stopping = false;
      let busy = 0;
      let failedErr: Error | null = null;
      const finish = () => {
        clearInterval(poll);
        void Promise.all(workers.map((w) => w.terminate())).then(() => (failedErr ? rejectPool(failedErr) : resolvePool(!stopping)));
      };
      const assign = (w: Worker) => {
        const k = stopping || failedErr ? undefined : queue.shift();
        if (k === undefined) {
          if (busy === 0) finish();
          return;
        }
        busy++;
        w.postMessage({ type: "shard", job: jobFor(k) } satisfies ToWorker);
      };
      const poll = setInterval(() => {
        if (!stopping && opts.shouldStop?.()) {
          stopping = true;
          for (const w of workers) w.postMessage({ type: "stop" } satisfies ToWorker);
        }
      }, 50);
      for (const w of workers) {
        w.on("message", (m: FromWorker) => {
          if (m.type === "batch") onBatch(m.shard, m.handled, m.failed);
          else if (m.type === "shard-done") {
            busy--;
            if (m.index) onDone(m.index);
            else stopping = true;
            assign(w);
          } else if (m.type === "error") {
            busy--;
            failedErr ??= new Error(`feature worker: ${m.message}`);
            assign(w);
          }
        });
        w.on("error", (e) => {
          failedErr ??= e;
          busy--;
          if (busy === 0) finish();
        });
      }
      for (const w of workers) assign(w);
    });
}

export async function extractFeatures(opts: ExtractOptions): Promise<ExtractSummary> {
  checkLittleEndian();
  const t0 = performance.now();
  const out = resolve(opts.out);
  const enc = opts.encoder;
  const shardSize = opts.shardSize ?? DEFAULT_SHARD_SIZE;
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  const nWorkers = opts.workers ?? 1;
  if (!Number.isInteger(shardSize) || shardSize < 1) throw new OptionError(`--shard-size must be a positive integer (got ${shardSize})`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new OptionError(`--batch-size must be a positive integer (got ${batchSize})`);
  if (!Number.isInteger(nWorkers) || nWorkers < 1) throw new OptionError(`--workers must be a positive integer (got ${nWorkers})`);
  checkImagesPresent(opts.images);
  const seen = new Set<string>();
  for (const im of opts.images) {
    if (seen.has(im.id)) throw new DatasetError(`image id '${im.id}' appears twice in the dataset`);
    seen.add(im.id);
  }
  const plan: StorePlan = {
    format: STORE_FORMAT,
    version: STORE_VERSION,
    dtype: "float16",
    encoder: enc.id,
    L: enc.L,
    D: enc.D,
    shardSize,
    ids: opts.images.map((im) => im.id),
  };
  makeOutputDir(out, "--out");
  const planPath = join(out, "plan.json");
  if (existsSync(planPath)) {
    let old: StorePlan;
    try {
      old = readStorePlan(planPath);
    } catch (e) {
      throw new FeatureStoreError(`${(e as Error).message}; remove the folder or choose another --out`);
    }
    const diff = samePlan(old, plan);
    if (diff) throw new FeatureStoreError(`${out}: holds features with a different ${diff}; choose another --out or remove that folder`);
  } else {
    writeFileAtomic(planPath, JSON.stringify(plan));
  }
  removeStaleTemps(out);

  const nShards = shardCount(plan);
  const done: (ShardIndex | null)[] = [];
  for (let k = 0; k < nShards; k++) done.push(completedShard(out, plan, k));
  const todo = done.flatMap((s, k) => (s ? [] : [k]));
  const skippedImages = done.reduce((s, x) => s + (x ? x.ids.length + x.failed.length : 0), 0);
  const total = opts.images.length - skippedImages;
  const shardImages = (k: number) => opts.images.slice(k * shardSize, (k + 1) * shardSize);

  // Progress: images handled in finished shards plus those in shards under way.
  let finishedHandled = 0;
  const underWay = new Map<number, number>();
  let failedNow = 0;
  let encoded = 0;
  const report = () => {
    let n = finishedHandled;
    for (const v of underWay.values()) n += v;
    opts.onProgress?.({ done: n, total, failed: failedNow });
  };
  const onBatch = (shard: number, handled: number, failed: (FailedImage & { file: string; detail: string })[]) => {
    underWay.set(shard, handled);
    failedNow += failed.length;
    for (const f of failed) opts.onFailed?.(f);
    report();
  };
  const onDone = (idx: ShardIndex) => {
    underWay.delete(idx.shard);
    finishedHandled += idx.ids.length + idx.failed.length;
    encoded += idx.ids.length;
    done[idx.shard] = idx;
  };
  report();

  let interrupted = false;
  const workersUsed = Math.max(1, Math.min(nWorkers, todo.length));
  if (workersUsed <= 1) {
    for (const k of todo) {
      const idx = await encodeShard(
        { shard: k, images: shardImages(k), out, batchSize, throttleMs: opts.throttleMs, shouldStop: opts.shouldStop, onBatch: (h, f) => onBatch(k, h, f) },
        enc,
      );
      if (!idx) {
        interrupted = true;
        break;
      }
      onDone(idx);
    }
  } else {
    const run = await runWorkers(workersUsed, opts, (k) => ({ shard: k, images: shardImages(k), out, batchSize, throttleMs: opts.throttleMs }));
    interrupted = !(await run(todo, onBatch, onDone));
  }

  const complete = done.every((s) => s !== null);
  const finished = done.filter((s): s is ShardIndex => s !== null);
  const manifest = manifestFromShards(plan, finished);
  if (complete) writeFileAtomic(join(out, "manifest.json"), JSON.stringify(manifest));
  const seconds = (performance.now() - t0) / 1000;
  return {
    out,
    images: opts.images.length,
    shards: nShards,
    skippedShards: nShards - todo.length,
    skippedImages,
    encoded,
    failed: manifest.failed,
    failedNow,
    seconds,
    imagesPerSecond: finishedHandled / Math.max(seconds, 1e-9),
    interrupted: interrupted && !complete,
    complete,
    saturated: manifest.saturated,
    workers: workersUsed,
  };
}
