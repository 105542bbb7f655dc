/**
 * Model configuration: every size and coefficient of docs/model.md, with the paper's (or the
 * authors' code's) defaults, and validation that names the offending field.
 */
export type AttentionType = "soft" | "hard";

export interface ModelConfig {
  /** K: vocabulary size, <pad> <start> <end> <unk> included. */
  vocabSize: number;
  /** m: word embedding size. */
  embedDim: number;
  /** n: LSTM size. */
  hiddenDim: number;
  /** A: attention MLP hidden size. */
  attnDim: number;
  /** D: annotation vector size. */
  featureDim: number;
  /** L: annotation vectors per image (14x14 = 196). */
  numLocations: number;
  attention: AttentionType;
  /** Dropout probability on u_t (deep output) during training. */
  dropout: number;
  /** λ of the doubly stochastic regularisation (alpha_c). */
  alphaC: number;
  /** λ_r: weight of the REINFORCE term (hard attention). */
  reinforceWeight: number;
  /** λ_e: weight of the entropy bonus (hard attention). */
  entropyWeight: number;
  /** Moving-average decay of the REINFORCE baseline. */
  baselineDecay: number;
  /**
   * Keep one REINFORCE baseline per caption length instead of one for all minibatches
   * (docs/model.md §Baseline). Minibatches hold captions of one length and log p scales with
   * length, so a single baseline gives every minibatch a reward offset of tens of nats set by
   * its length alone (docs/model.md §Optional baseline settings).
   */
  baselinePerLength: boolean;
  /**
   * Start the baseline(s) at the first minibatch's mean log p (one extra forward pass on the
   * expectation, at a run's first step) instead of at 0 (docs/model.md §Baseline). From 0,
   * the first ~20 minibatches get rewards of minus tens of nats, whose REINFORCE gradients
   * swamp the rest.
   */
  baselineWarmStart: boolean;
  /** Probability that a hard-attention minibatch trains on the expectation α instead. */
  expectationProb: number;
}

export const DEFAULT_MODEL_CONFIG: Omit<ModelConfig, "vocabSize"> = {
  embedDim: 512,
  hiddenDim: 1024,
  attnDim: 512,
  featureDim: 1024,
  numLocations: 196,
  attention: "soft",
  dropout: 0.5,
  alphaC: 1.0,
  reinforceWeight: 0.1,
  entropyWeight: 0.002,
  baselineDecay: 0.9,
  baselinePerLength: false,
  baselineWarmStart: false,
  expectationProb: 0.5,
};

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`invalid model config: ${field} ${message}`);
  }
}

const SIZE_FIELDS = ["vocabSize", "embedDim", "hiddenDim", "attnDim", "featureDim", "numLocations"] as const;
const NONNEG_FIELDS = ["alphaC", "reinforceWeight", "entropyWeight"] as const;

/** Fills defaults and checks every field; throws ConfigError naming the first bad field. */
export function resolveModelConfig(partial: Partial<ModelConfig> & { vocabSize: number }): ModelConfig {
  const known = new Set<string>([...Object.keys(DEFAULT_MODEL_CONFIG), "vocabSize"]);
  for (const key of Object.keys(partial)) {
    if (!known.has(key)) throw new ConfigError(key, "is not a model config field");
  }
  const cfg: ModelConfig = { ...DEFAULT_MODEL_CONFIG, ...partial };
  for (const f of SIZE_FIELDS) {
    const v = cfg[f];
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw new ConfigError(f, `must be a positive integer (got ${JSON.stringify(v)})`);
  }
  if (cfg.vocabSize < 5) throw new ConfigError("vocabSize", `must be at least 5 (4 special tokens + 1 word), got ${cfg.vocabSize}`);
  if (cfg.attention !== "soft" && cfg.attention !== "hard") {
    throw new ConfigError("attention", `must be "soft" or "hard" (got ${JSON.stringify(cfg.attention)})`);
  }
  for (const f of ["dropout", "baselineDecay", "expectationProb"] as const) {
    const v = cfg[f];
    if (typeof v !== "number" || !(v >= 0 && v < 1 + (f === "expectationProb" ? 1e-12 : 0))) {
      throw new ConfigError(f, `must be a number in [0, 1) (got ${JSON.stringify(v)})`);
    }
  }
  for (const f of ["baselinePerLength", "baselineWarmStart"] as const) {
    if (typeof cfg[f] !== "boolean") throw new ConfigError(f, `must be true or false (got ${JSON.stringify(cfg[f])})`);
  }
  for (const f of NONNEG_FIELDS) {
    const v = cfg[f];
    if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v)) throw new ConfigError(f, `must be a finite number >= 0 (got ${JSON.stringify(v)})`);
  }
  return cfg;
}
