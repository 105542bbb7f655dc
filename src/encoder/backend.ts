/**
 * tfjs on the WebAssembly backend, initialised from the local package files. Under Node the
 * backend runs single-threaded (its threaded build needs browser workers) with SIMD.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as tf from "./tfjs.js";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";

let ready: Promise<typeof tf> | null = null;

/** The folder holding tfjs-backend-wasm's .wasm binaries (a local path, never a URL). */
export function wasmDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist") + "/";
}

/** Initialises tfjs with the wasm backend once; every encoder awaits this. */
export function tfReady(): Promise<typeof tf> {
  ready ??= (async () => {
    setWasmPaths(wasmDir());
    const ok = await tf.setBackend("wasm");
    if (!ok) throw new Error("tfjs: the wasm backend failed to initialise");
    await tf.ready();
    return tf;
  })();
  return ready;
}

export { tf };
