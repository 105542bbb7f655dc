/**
 * Worker threads that host an encoder (`sat features` extraction workers, `sat serve` caption
 * workers): how to start one from source or from dist, and how the cores are shared out.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

/** Starts a worker module from source under tsx (tests, `npm run sat`) or compiled JS (dist). */
export function startWorkerModule(url: URL, workerData?: unknown, env: NodeJS.ProcessEnv = process.env): Worker {
  if (!url.pathname.endsWith(".ts")) return new Worker(url, { workerData, env });
  // Node 20 does not apply the parent's `--import tsx` to worker threads, so the worker
  // registers tsx's loader itself first.
  const code = `import("tsx/esm/api").then((t) => { t.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(code, { eval: true, workerData, env });
}

/**
 * Each of n encoder workers' environment: ResNet-50 on onnxruntime gets cores/n intra-op
 * threads (2 workers x 2 threads on 2 cores ran 35% slower than 2 x 1: oversubscribed thread
 * pools spin against each other), unless SAT_ENCODER_THREADS is set.
 */
export function encoderWorkerEnv(n: number): NodeJS.ProcessEnv {
  return { ...process.env, SAT_ENCODER_THREADS: process.env.SAT_ENCODER_THREADS || String(Math.max(1, Math.floor(availableParallelism() / n))) };
}
