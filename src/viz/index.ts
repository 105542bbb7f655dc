/** Attention figures (paper Sec. 5.4): per-word maps over the input image. */
export { attentionHeatmap, gaussianBlur, gaussianKernel, upsampleAttention } from "./heatmap.js";
export { drawCellMarker, loadRgb, overlayAttention, renderAttentionFigure, renderSingleMap } from "./figure.js";
export type { FigureOptions, ImageInput, MapOptions, OverlayStyle, SingleMapOptions } from "./figure.js";
export { drawBitmapText, drawLabels, labelBackend, setLabelBackend } from "./labels.js";
export type { Label, LabelBackend } from "./labels.js";
