/**
 * The parts of TensorFlow.js the encoders use: the core, Keras-style layers models, graph
 * models, and (backend.ts) the WebAssembly backend. Not the `@tensorflow/tfjs` bundle: that
 * also carries the WebGL and CPU backends and tf.data, about 190 MB installed that a Node
 * user never runs.
 */
export * from "@tensorflow/tfjs-core";
export * from "@tensorflow/tfjs-layers";
export { loadGraphModel } from "@tensorflow/tfjs-converter";
