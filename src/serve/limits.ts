/**
 * The server's limits and working ranges, apart from the server itself so that `sat serve`
 * can state its options' defaults and check them without loading the HTTP stack.
 */
import { MAX_INPUT_PIXELS } from "../data/images.js";
import { OptionError } from "../errors.js";

export interface ServerLimits {
  /** Largest upload in bytes (default 10 MiB). */
  maxBytes: number;
  /** Largest image, width x height from its header (default 50 Mpx). */
  maxPixels: number;
  /** Largest beam width a request may ask for (default 10). */
  maxBeam: number;
  /** Largest maxLength a request may ask for (default 50). */
  maxLength: number;
  /** Per request, from admission to the queue to the result (default 30 s). */
  timeoutMs: number;
  /** Bytes of uploads in flight (received, queued or being captioned); past it, 503 at once (default 100 MiB). */
  uploadMemory: number;
}

export const DEFAULT_LIMITS: ServerLimits = { maxBytes: 10 * 1024 * 1024, maxPixels: 50_000_000, maxBeam: 10, maxLength: 50, timeoutMs: 30_000, uploadMemory: 100 * 1024 * 1024 };

/**
 * The range in which each limit works: uploads up to 1 GiB (one Buffer each); pixels up to
 * what the decoder accepts (src/data/images.ts); beams and lengths the decoder handles in
 * reasonable time; a timeout that fits a timer (setTimeout fires at once past 2^31 - 1 ms,
 * which failed every request with 504), here at most a day; an upload budget that holds at
 * least one largest upload.
 */
export const LIMIT_RANGES: Readonly<Record<keyof ServerLimits, { min: number; max: number }>> = {
  maxBytes: { min: 1, max: 1024 * 1024 * 1024 },
  maxPixels: { min: 1, max: MAX_INPUT_PIXELS },
  maxBeam: { min: 1, max: 100 },
  maxLength: { min: 1, max: 500 },
  timeoutMs: { min: 1, max: 24 * 3600 * 1000 },
  uploadMemory: { min: 1, max: 64 * 1024 * 1024 * 1024 },
};

/** Throws OptionError naming the first limit outside LIMIT_RANGES (or below one upload, for uploadMemory). */
export function checkLimits(l: ServerLimits): void {
  for (const [k, r] of Object.entries(LIMIT_RANGES) as [keyof ServerLimits, { min: number; max: number }][]) {
    const v = l[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < r.min || v > r.max) throw new OptionError(`server limit ${k} must be an integer in [${r.min}, ${r.max}] (got ${JSON.stringify(v)})`);
  }
  if (l.uploadMemory < l.maxBytes) throw new OptionError(`server limit uploadMemory (${l.uploadMemory}) must hold at least one upload of maxBytes (${l.maxBytes})`);
}

/** Worker threads, queue length and port in their working ranges (each worker holds a model and an encoder). */
export const START_RANGES = {
  concurrency: { min: 1, max: 256 },
  queueLimit: { min: 0, max: 100_000 },
  port: { min: 0, max: 65535 },
} as const;

