throw new Error("@tensorflow/tfjs-node is stubbed out by show-attend-tell (its install downloads libtensorflow); ResNet-50 runs on tfjs-backend-wasm through src/encoder");
