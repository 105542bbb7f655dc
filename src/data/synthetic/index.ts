/**
 * The generated captioning task (the package's embedded default, for the demo and tests):
 * scenes of 1-3 coloured shapes with captions from a small grammar, as synthesised
 * annotation vectors (features.ts) or rendered images (render.ts).
 */
export { COLOURS, SHAPES, COLOUR_RGB, BACKGROUND_RGB, RELATIONS, captionWords } from "./vocabulary.js";
export type { Colour, Shape, Relation } from "./vocabulary.js";
export { boxArea, boxCentre, cellBox, cellCoverage, intersectionArea, regionCoverage, shapeContains, unitShapeContains } from "./geometry.js";
export type { Box } from "./geometry.js";
export { describeScene, relationOf } from "./captions.js";
export type { Caption, CaptionForm, SceneObject, TokenObjectLink } from "./captions.js";
export { generateScenes, generateSplits } from "./scenes.js";
export type { Scene, SceneOptions, SceneSplits, SplitName, SplitSizes } from "./scenes.js";
export { SyntheticFeatures, sceneFeatures } from "./features.js";
export type { FeatureOptions } from "./features.js";
export { renderScene, renderScenePng, writeImageDataset } from "./render.js";
export type { ImageDatasetSummary, RenderOptions } from "./render.js";
export { attentionInBox, attentionOnCoverage, chanceInBox } from "./localisation.js";
