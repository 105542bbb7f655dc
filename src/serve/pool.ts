/**
 * The caption scheduler: `concurrency` worker threads, each with its own Captioner, and a
 * bounded FIFO queue in front of them.
 *
 * - Batching: a worker that becomes free takes the oldest waiting job together with every
 *   other waiting job of the same decoding options (beam, topN, maxLength), up to `maxBatch`
 *   in queue order, and captions them together (one encoder batch, one beam search with all
 *   their beams in each engine step). Images are independent in beam search, so each job's
 *   captions are those it would get alone; under load the engine's per-step cost is shared.
 * - Admission: a job starts at once on an idle worker, else waits if fewer than `queueLimit`
 *   jobs wait, else it is refused (429 queue_full).
 * - Timeout, counted from admission: a job still waiting is dropped from the queue (503
 *   queue_timeout); a running job's request fails (504 caption_timeout) and its result is
 *   discarded when it arrives. The worker is not interrupted (the engine cannot be), so it
 *   stays counted as running until it answers.
 * - A caller's abort (the client went away) drops a waiting job, or discards a running one.
 * - A worker that dies (uncaught error, exit, out of memory) fails only the jobs of the batch
 *   it was running (500 worker_crashed) and is replaced by a fresh one; the queue goes on.
 */
import { encoderWorkerEnv, startWorkerModule } from "../encoder/workers.js";
import type { Worker } from "node:worker_threads";
import { UserError } from "../errors.js";
import { onnxRuntimeStatus } from "../encoder/onnx.js";
import type { EngineChoice } from "../engine/select.js";
import { loadNativeAddon } from "../native/engine.js";
import { ApiError, imageFailure } from "./errors.js";
import type { CaptionJobOptions, CaptionResult, FromWorker, ToWorker, WorkerInfo } from "./protocol.js";

export interface PoolOptions {
  modelDir: string;
  engine?: EngineChoice;
  /** Worker threads, i.e. captions computed at once (default 1). */
  concurrency?: number;
  /** Most jobs waiting for a worker (default 32). */
  queueLimit?: number;
  /** Most jobs a worker captions together (default 8). */
  maxBatch?: number;
  /** Test hook: a module speaking the caption-worker protocol instead of caption-worker.ts. */
  workerModule?: URL;
  /** Passed to every worker as workerData (test workers read their behaviour from it). */
  workerData?: unknown;
  /** One-line notices (a worker restarted). Default: stderr. */
  log?: (line: string) => void;
}

export interface JobOutcome {
  result: CaptionResult;
  /** Time spent waiting for a worker. */
  queueMs: number;
}

interface Job {
  id: number;
  bytes: Uint8Array;
  options: CaptionJobOptions;
  admittedAt: number;
  startedAt: number;
  /** The caller has been answered (result, error, timeout or abort): later news is dropped. */
  settled: boolean;
  resolve(o: JobOutcome): void;
  reject(e: Error): void;
  cleanup(): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  /** The batch it is captioning: jobs leave as their answers arrive; empty = idle. */
  jobs: Job[];
  /** Consecutive failed restarts, for the back-off. */
  failures: number;
}

/**
 * Loads in this (main) thread the native libraries the workers use. A library loaded only by
 * a worker is unloaded when that worker ends, while threads it started (OpenMP's pool,
 * onnxruntime's) may still run its code: a segfault (glibc; sharp's docs describe the same for
 * libvips). Held open here, they stay mapped until the process exits.
 */
function pinNativeLibraries(info: WorkerInfo): void {
  if (info.engine === "native") loadNativeAddon();
  if (info.meta.encoder.spec?.kind === "resnet50") onnxRuntimeStatus();
}

function defaultWorkerModule(): URL {
  return new URL(import.meta.url.endsWith(".ts") ? "./caption-worker.ts" : "./caption-worker.js", import.meta.url);
}

export class CaptionPool {
  readonly info: WorkerInfo;
  readonly concurrency: number;
  readonly queueLimit: number;
  readonly maxBatch: number;
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private nextId = 1;
  private closing = false;
  /** Replacement workers started after crashes (for tests and logs). */
  restarts = 0;

  private constructor(
    private readonly opts: PoolOptions,
    info: WorkerInfo,
    workers: Worker[],
  ) {
    this.info = info;
    this.concurrency = workers.length;
    this.queueLimit = opts.queueLimit ?? 32;
    this.maxBatch = opts.maxBatch ?? 8;
    for (const w of workers) {
      const slot: Slot = { worker: w, ready: true, jobs: [], failures: 0 };
      this.slots.push(slot);
      this.watch(slot, w);
    }
  }

  /** Starts the workers and waits until every one has loaded the model. */
  static async start(opts: PoolOptions): Promise<CaptionPool> {
    const n = opts.concurrency ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`concurrency must be a positive integer, got ${n}`);
    const q = opts.queueLimit ?? 32;
    if (!Number.isInteger(q) || q < 0) throw new RangeError(`queueLimit must be a non-negative integer, got ${q}`);
    const b = opts.maxBatch ?? 8;
    if (!Number.isInteger(b) || b < 1) throw new RangeError(`maxBatch must be a positive integer, got ${b}`);
    const workers = Array.from({ length: n }, () => startWorkerModule(opts.workerModule ?? defaultWorkerModule(), opts.workerData, encoderWorkerEnv(n)));
    try {
      const infos = await Promise.all(workers.map((w) => initWorker(w, opts)));
      pinNativeLibraries(infos[0]);
      return new CaptionPool(opts, infos[0], workers);
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
  }

  stats(): { running: number; waiting: number; concurrency: number; limit: number } {
    return { running: this.slots.reduce((sum, s) => sum + s.jobs.length, 0), waiting: this.waiting.length, concurrency: this.concurrency, limit: this.queueLimit };
  }

  /** Throws the ApiError that submit() would reject with now (shutting down, queue full). */
  checkAdmission(): void {
    if (this.closing) throw new ApiError(503, "shutting_down", "the server is shutting down");
    if (!this.idleSlot() && this.waiting.length >= this.queueLimit) {
      const s = this.stats();
      throw new ApiError(429, "queue_full", `too many requests: ${s.running} captioning and ${s.waiting} waiting (queue limit ${this.queueLimit}); retry later`, { "retry-after": "1" });
    }
  }

  /** Captions one image; rejects with an ApiError (queue full, timeout, bad image, crash). */
  submit(bytes: Uint8Array, options: CaptionJobOptions, o: { timeoutMs: number; signal?: AbortSignal }): Promise<JobOutcome> {
    try {
      this.checkAdmission();
    } catch (e) {
      return Promise.reject(e as Error);
    }
    const idle = this.idleSlot();
    return new Promise<JobOutcome>((resolve, reject) => {
      const job: Job = {
        id: this.nextId++,
        // A copy the job owns: the request's Buffer may be a view into Node's shared pool,
        // which must not be transferred (detached) to the worker.
        bytes: new Uint8Array(bytes),
        options,
        admittedAt: performance.now(),
        startedAt: 0,
        settled: false,
        resolve: (v) => {
          if (job.settled) return;
          job.settled = true;
          job.cleanup();
          resolve(v);
        },
        reject: (e) => {
          if (job.settled) return;
          job.settled = true;
          job.cleanup();
          reject(e);
        },
        cleanup: () => {},
      };
      const timer = setTimeout(() => {
        if (this.dropWaiting(job)) job.reject(new ApiError(503, "queue_timeout", `no worker became free within the ${o.timeoutMs} ms timeout; retry later`, { "retry-after": "1" }));
        else job.reject(new ApiError(504, "caption_timeout", `captioning took longer than the ${o.timeoutMs} ms timeout`));
      }, o.timeoutMs);
      const onAbort = () => {
        this.dropWaiting(job);
        job.reject(new ApiError(499, "client_closed", "the client closed the connection"));
      };
      o.signal?.addEventListener("abort", onAbort, { once: true });
      job.cleanup = () => {
        clearTimeout(timer);
        o.signal?.removeEventListener("abort", onAbort);
      };
      if (o.signal?.aborted) return onAbort();
      this.waiting.push(job);
      if (idle) this.dispatch();
    });
  }

  /** Stops the workers; jobs not finished are failed with 503 shutting_down. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const err = () => new ApiError(503, "shutting_down", "the server is shutting down");
    for (const job of this.waiting.splice(0)) job.reject(err());
    await Promise.all(
      this.slots.map(async (s) => {
        const busy = s.jobs.length > 0 || !s.ready;
        for (const job of s.jobs.splice(0)) job.reject(err());
        s.worker.removeAllListeners();
        s.worker.on("error", () => {}); // an error while it ends must not become uncaught here
        if (!busy) {
          // An idle worker disposes of its model and ends by itself; terminate() if it hangs.
          const exited = new Promise<boolean>((res) => s.worker.once("exit", () => res(true)));
          s.worker.postMessage({ type: "close" } satisfies ToWorker);
          const timer = new Promise<boolean>((res) => setTimeout(() => res(false), 2000).unref());
          if (await Promise.race([exited, timer])) return;
        }
        await s.worker.terminate();
      }),
    );
  }

  private idleSlot(): Slot | undefined {
    return this.slots.find((s) => s.ready && s.jobs.length === 0);
  }

  private dropWaiting(job: Job): boolean {
    const i = this.waiting.indexOf(job);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  /** The oldest waiting job and, in queue order, the waiting jobs it can be decoded with. */
  private takeBatch(): Job[] {
    const first = this.waiting[0];
    if (!first) return [];
    const o = first.options;
    const batch: Job[] = [];
    for (const job of this.waiting) {
      if (batch.length >= this.maxBatch) break;
      const p = job.options;
      if (p.beamWidth === o.beamWidth && p.topN === o.topN && p.maxLength === o.maxLength) batch.push(job);
    }
    const taken = new Set(batch);
    this.waiting.splice(0, this.waiting.length, ...this.waiting.filter((j) => !taken.has(j)));
    return batch;
  }

  private run(slot: Slot, jobs: Job[]): void {
    slot.jobs = jobs;
    const now = performance.now();
    for (const job of jobs) job.startedAt = now;
    const msg: ToWorker = { type: "caption", jobs: jobs.map((j) => ({ id: j.id, bytes: j.bytes, options: j.options })) };
    slot.worker.postMessage(msg, jobs.map((j) => j.bytes.buffer as ArrayBuffer));
  }

  private dispatch(): void {
    if (this.closing) return;
    for (const slot of this.slots) {
      if (!slot.ready || slot.jobs.length > 0) continue;
      const jobs = this.takeBatch();
      if (jobs.length === 0) return;
      this.run(slot, jobs);
    }
  }

  private watch(slot: Slot, w: Worker): void {
    let crash = "";
    w.on("message", (m: FromWorker) => {
      if (slot.worker !== w || (m.type !== "result" && m.type !== "failure")) return;
      const k = slot.jobs.findIndex((j) => j.id === m.id);
      if (k < 0) return;
      const [job] = slot.jobs.splice(k, 1);
      if (m.type === "result") job.resolve({ result: m.result, queueMs: job.startedAt - job.admittedAt });
      else if (m.image) job.reject(imageFailure(m.reason, m.message));
      else job.reject(new ApiError(500, "caption_failed", `captioning failed: ${m.message}`));
      this.dispatch();
    });
    w.on("error", (e) => {
      crash = (e as Error)?.message ?? String(e);
    });
    w.on("exit", (code) => {
      if (slot.worker !== w || this.closing) return;
      const jobs = slot.jobs.splice(0);
      slot.ready = false;
      const why = crash || `exit code ${code}`;
      for (const job of jobs) job.reject(new ApiError(500, "worker_crashed", `the caption worker crashed while captioning this image (${why}); it has been restarted`));
      this.log(`sat serve: caption worker died (${why}); restarting it`);
      this.replace(slot);
    });
  }

  private replace(slot: Slot): void {
    if (this.closing) return;
    const w = startWorkerModule(this.opts.workerModule ?? defaultWorkerModule(), this.opts.workerData, encoderWorkerEnv(this.concurrency));
    slot.worker = w;
    this.restarts++;
    initWorker(w, this.opts).then(
      () => {
        if (slot.worker !== w || this.closing) return;
        slot.failures = 0;
        slot.ready = true;
        this.watch(slot, w);
        this.dispatch();
      },
      (e: Error) => {
        if (slot.worker !== w || this.closing) return;
        void w.terminate();
        // The model loaded before, so this is transient (memory, files being replaced): back off.
        const delay = Math.min(10_000, 250 * 2 ** slot.failures++);
        this.log(`sat serve: restarting a caption worker failed (${e.message}); trying again in ${delay} ms`);
        setTimeout(() => this.replace(slot), delay).unref();
      },
    );
  }

  private log(line: string): void {
    (this.opts.log ?? ((l: string) => process.stderr.write(l + "\n")))(line);
  }
}

function initWorker(w: Worker, opts: PoolOptions): Promise<WorkerInfo> {
  return new Promise<WorkerInfo>((resolve, reject) => {
    const done = () => {
      w.off("message", onMessage);
      w.off("error", onError);
      w.off("exit", onExit);
    };
    const onMessage = (m: FromWorker) => {
      if (m.type === "ready") {
        done();
        resolve(m.info);
      } else if (m.type === "init-error") {
        done();
        reject(m.user ? new UserError(m.message) : new Error(`caption worker: ${m.message}`));
      }
    };
    const onError = (e: Error) => {
      done();
      reject(new Error(`caption worker failed to start: ${e.message}`));
    };
    const onExit = (code: number) => {
      done();
      reject(new Error(`caption worker exited during start (code ${code})`));
    };
    w.on("message", onMessage);
    w.on("error", onError);
    w.on("exit", onExit);
    const msg: ToWorker = { type: "init", modelDir: opts.modelDir, engine: opts.engine ?? "auto" };
    w.postMessage(msg);
  });
}
