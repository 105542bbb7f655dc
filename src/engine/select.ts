/**
 * Picks the decoder implementation: the native addon when it is built (the fast path), else
 * the TypeScript reference, saying so once. `native` insists on the addon; `reference`
 * forces the TypeScript path (float32).
 */
import type { ModelConfig } from "../model/config.js";
import type { DecoderEngine } from "../model/engine.js";
import { ReferenceEngine } from "../model/reference.js";
import { createNativeEngine } from "../native/engine.js";

export type EngineChoice = "auto" | "native" | "reference";

export function createEngine(config: ModelConfig, params: Float32Array, choice: EngineChoice = "auto"): DecoderEngine {
  if (choice !== "reference") {
    const native = createNativeEngine(config, params);
    if (native) return native;
    if (choice === "native") {
      throw new Error("the native engine is not built (run `npm run build:native` and see its message); use --engine reference to run on the TypeScript path");
    }
  }
  return new ReferenceEngine(config, Float32Array.from(params));
}
