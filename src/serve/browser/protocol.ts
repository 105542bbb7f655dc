/**
 * Messages between the page and its in-browser captioning worker (worker.ts), which holds
 * the model and the encoder so that decoding never blocks the page.
 */
import type { PreprocessOptions } from "../../data/images.js";
import type { CaptionCandidate, CaptionOptions } from "../../decode/caption-features.js";
import type { TfjsBackend } from "./encoders.js";

export type ToWorker =
  | { type: "load"; base: string; backends?: TfjsBackend[] }
  | { type: "caption"; id: number; rgb: Uint8Array; options: CaptionOptions };

export interface LoadedInfo {
  /** e.g. "shapes-scene-parser", "resnet50-activation_39" */
  encoder: string;
  /** Where the encoder runs ("js", or a tfjs backend). */
  backend: string;
  preprocess: PreprocessOptions;
  grid: [number, number];
  parameters: number;
  loadMs: number;
}

export interface BrowserResult {
  captions: CaptionCandidate[];
  timing: { encodeMs: number; decodeMs: number };
}

export type FromWorker =
  | { type: "progress"; stage: string; done: number; total: number }
  | { type: "loaded"; info: LoadedInfo }
  | { type: "load-error"; message: string }
  | { type: "result"; id: number; result: BrowserResult }
  | { type: "error"; id: number; message: string };
