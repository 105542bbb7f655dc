/**
 * A serialisable description of an encoder, so the same encoder can be rebuilt elsewhere
 * (in each feature-extraction worker thread, or from a saved model's metadata).
 */
import { loadTfjsEncoder, type Encoder, type Normalisation } from "./encoder.js";
import { loadResNet50Encoder, RESNET50_LAYER } from "./resnet.js";

export type EncoderSpec = { kind: "resnet50"; layer?: string } | { kind: "tfjs"; modelPath: string; layer: string; normalisation: Normalisation };

export const DEFAULT_ENCODER_SPEC: EncoderSpec = { kind: "resnet50", layer: RESNET50_LAYER };

export function loadEncoder(spec: EncoderSpec): Promise<Encoder> {
  return spec.kind === "resnet50" ? loadResNet50Encoder(spec.layer ?? RESNET50_LAYER) : loadTfjsEncoder(spec);
}
