/**
 * show-attend-tell as a library. The command line (`sat`) is built on exactly these pieces.
 */
// Errors a caller's input can cause (each names the file or flag and the field).
export { UserError, DatasetError, FeatureStoreError, OptionError } from "./errors.js";
// Captioning: load a model directory, caption photos or annotation vectors.
export { loadModel, Captioner } from "./decode/captioner.js";
export type { CaptionOptions, CaptionCandidate, ImageCaptions, ImageFailure, WordAttention } from "./decode/captioner.js";
export { beamSearch } from "./decode/beam.js";
export type { BeamCaption, BeamOptions } from "./decode/beam.js";
export { greedyDecode } from "./decode/greedy.js";

// The decoder: configuration, parameters, the two engines, model files.
export { resolveModelConfig, DEFAULT_MODEL_CONFIG, ConfigError } from "./model/config.js";
export type { ModelConfig, AttentionType } from "./model/config.js";
export type { DecoderEngine, TrainBatch, StepOptions, StepResult, OptimizerSettings } from "./model/engine.js";
export { DEFAULT_OPTIMIZER } from "./model/engine.js";
export { initParams } from "./model/init.js";
export { paramLayout, PARAM_NAMES } from "./model/layout.js";
export { ReferenceEngine } from "./model/reference.js";
export { createEngine } from "./engine/select.js";
export type { EngineChoice } from "./engine/select.js";
export { saveModel, loadModel as loadModelFiles, ModelFileError } from "./model/model-dir.js";
export { trainingStepFlops } from "./model/flops.js";

// Training: a whole run (`sat train`), its checkpoints, and the trainers it drives.
export { runTraining } from "./train/run.js";
export { DEFAULT_TRAIN_OPTIONS, VAL_METRICS, VAL_METRIC_LABEL, plannedSteps, scheduledLr } from "./train/options.js";
export type { TrainRunOptions, TrainRunResult, ValMetric } from "./train/options.js";
export type { ValidationResult } from "./train/validation.js";
export type { RunIdentity } from "./train/identity.js";
export { loadCheckpoint, saveCheckpoint } from "./train/checkpoint.js";
export type { Checkpoint, RunRecord } from "./train/checkpoint.js";
export { SelfCriticalTrainer } from "./train/self-critical.js";
export { Trainer } from "./train/trainer.js";
export type { CaptionCorpus, StepLog, TrainerSettings } from "./train/trainer.js";
export { runSyntheticTask, DEFAULT_SYNTHETIC_TASK } from "./train/synthetic-task.js";

// Data: datasets, vocabulary, images, encoders, feature stores, the generated task.
export { loadDataset, readFlickr8k, readKarpathy, readCoco, readCaptionTable } from "./data/datasets.js";
export type { CaptionDataset, ImageEntry, Split } from "./data/datasets.js";
export { Vocabulary } from "./data/vocab.js";
export { tokenize } from "./data/tokenize.js";
export { loadImage, prepareImage, ImageError } from "./data/images.js";
export { FeatureStore } from "./data/feature-store.js";
export { loadEncoder, DEFAULT_ENCODER_SPEC } from "./encoder/spec.js";
export type { EncoderSpec } from "./encoder/spec.js";
export type { Encoder } from "./encoder/encoder.js";
export { loadResNet50Encoder } from "./encoder/resnet.js";
export { ShapesEncoder, parseScene } from "./encoder/shapes.js";
export * as synthetic from "./data/synthetic/index.js";

// Metrics and figures.
export { scoreCaptions, bleu, ciderD, rougeL, Meteor, tokenizeCaption } from "./metrics/index.js";
export { WordNetMissingError } from "./metrics/wordnet.js";
export { renderAttentionFigure, renderSingleMap, attentionHeatmap } from "./viz/index.js";

// Serving: `sat serve` as a library call.
export { startServer } from "./serve/index.js";
export type { StartOptions } from "./serve/index.js";
