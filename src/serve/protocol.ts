/**
 * Messages between the server's main thread and its caption workers (caption-worker.ts).
 * Every worker holds one Captioner; the main thread never runs the encoder or the decoder.
 *
 *   main -> worker: init (once), caption (a batch of jobs with the same decoding options,
 *                   decoded together), close (dispose and exit)
 *   worker -> main: ready | init-error (once), then result | failure per caption job
 */
import type { CaptionCandidate } from "../decode/captioner.js";
import type { EngineChoice } from "../engine/select.js";
import type { ModelFile } from "../model/model-dir.js";
import { detachArrayBuffer } from "../util/free-bytes.js";

export interface InitMessage {
  type: "init";
  modelDir: string;
  engine: EngineChoice;
}

export interface CaptionJobOptions {
  beamWidth: number;
  topN: number;
  maxLength: number;
  /** Render each returned word's attention map over the input crop as a PNG. */
  overlay: boolean;
}

export interface CaptionJob {
  id: number;
  /** The uploaded file, as received (transferred, not copied). */
  bytes: Uint8Array;
  options: CaptionJobOptions;
}

/** Jobs whose beamWidth, topN and maxLength agree (overlay may differ): one encoder batch, one beam search. */
export interface CaptionMessage {
  type: "caption";
  jobs: CaptionJob[];
}

export type ToWorker = InitMessage | CaptionMessage | { type: "close" };

/**
 * Frees a job's upload as soon as the worker is done reading it. The upload was transferred
 * to the worker, so only the worker's garbage collector would free it otherwise; a worker
 * allocates little on its own heap, so that collection may come many uploads later (a flood
 * of 9 MiB uploads left 100 MiB more resident this way). Detaching the ArrayBuffer (transfer
 * to length 0) drops its memory at once. Node 20 has no ArrayBuffer.prototype.transfer; there
 * the collector still frees it, later.
 */
export function releaseUpload(job: CaptionJob): void {
  detachArrayBuffer(job.bytes.buffer);
}

export interface WorkerInfo {
  meta: ModelFile;
  engine: "native" | "reference";
  /** Side of the encoder's square input crop. */
  inputSize: number;
}

/** A caption with, when asked, a base64 PNG per attention entry. */
export type ServedCaption = Omit<CaptionCandidate, "attention"> & {
  attention: (CaptionCandidate["attention"][number] & { overlayPng?: string })[];
};

export interface CaptionResult {
  captions: ServedCaption[];
  image: { width: number; height: number; format: string };
  /** Milliseconds spent in the worker on each stage; encodeMs and decodeMs are those of the whole batch the image was in. */
  timing: { prepareMs: number; encodeMs: number; decodeMs: number; overlayMs: number };
}

export type FromWorker =
  | { type: "ready"; info: WorkerInfo }
  /** `user`: the model directory is at fault (bad file, no image encoder), not the program. */
  | { type: "init-error"; message: string; user: boolean }
  | { type: "result"; id: number; result: CaptionResult }
  /** `image`: the image could not be decoded (ImageError's category); otherwise an internal error. */
  | { type: "failure"; id: number; image: boolean; reason: string; message: string };
