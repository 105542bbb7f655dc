/**
 * The same Keras encoder on onnxruntime-node's CPU execution provider (MLAS kernels, several
 * threads): ResNet-50 to activation_39 runs 3.6-4x faster than on single-threaded tfjs-wasm
 * on 2 cores (`npm run bench -- encoder` times both in one run). The ONNX graph is built in
 * memory from the Keras weights (onnx-graph.ts), serialised (onnx-proto.ts) and handed to the
 * runtime as bytes: nothing is downloaded or written to disk.
 *
 * onnxruntime-node is an optional dependency: where it is missing or its native library does
 * not load, `onnxRuntimeStatus()` says why and resnet.ts falls back to tfjs-wasm.
 */
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { UserError } from "../errors.js";
import { packageManifest } from "../util/package-root.js";
import { preprocessFor } from "../data/images.js";
import { IDENTITY_NORMALISATION, normaliseInto, type Encoder, type EncoderIdentity, type Normalisation } from "./encoder.js";
import { IdentifiedEncoder } from "./identified.js";
import { readModelArtifacts } from "./io.js";
import { kerasToOnnx } from "./onnx-graph.js";
import { encodeOnnxModel } from "./onnx-proto.js";

/**
 * onnxruntime-node's native session, which runs synchronously. The public
 * `InferenceSession.run` wraps this same call in a promise (setImmediate); the `Encoder`
 * interface is synchronous (like tfjs' dataSync), so we call the binding directly and feature-
 * check it at load time.
 */
interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: Record<string, unknown>): void;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, null>, options: Record<string, unknown>): Record<string, OrtTensor>;
  dispose(): void;
}
interface NativeBinding {
  binding: { InferenceSession: new () => NativeSession };
  initOrt: () => void;
}

// The few onnxruntime types used, declared here: the package is optional, so the build must
// not need its type declarations.
interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly size: number;
}
interface OrtModule {
  Tensor: new (type: "float32", data: Float32Array, dims: readonly number[]) => OrtTensor;
  env: { versions: { common?: string; node?: string } };
}

interface Runtime {
  ort: OrtModule;
  native: NativeBinding;
  version: string;
}

/**
 * How to add the runtime. onnxruntime-node is an optional peer dependency, not a dependency,
 * because on Linux x64 its postinstall downloads CUDA libraries from NuGet unless told not to.
 * The version range is the one package.json declares.
 */
function missingRuntimeHint(): string {
  const pj = packageManifest();
  const range = pj.peerDependencies?.["onnxruntime-node"] ?? "";
  return `the optional peer dependency onnxruntime-node is not installed; add it with: ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@${range}`;
}

let runtime: { ok: true; rt: Runtime } | { ok: false; reason: string } | null = null;

function loadRuntime(): typeof runtime & object {
  if (runtime) return runtime;
  const require = createRequire(import.meta.url);
  try {
    // CommonJS on purpose: the binding is initialised with the CJS onnxruntime-common's Tensor
    // class, so tensors must come from that same module instance.
    const ort = require("onnxruntime-node") as OrtModule;
    const native = require("onnxruntime-node/dist/binding") as NativeBinding;
    if (typeof native?.initOrt !== "function" || typeof native.binding?.InferenceSession !== "function") {
      throw new Error(`onnxruntime-node ${ort.env?.versions?.node ?? "?"} has no native session binding where expected (dist/binding)`);
    }
    const proto = native.binding.InferenceSession.prototype as Partial<NativeSession>;
    if (typeof proto.loadModel !== "function" || typeof proto.run !== "function") throw new Error("onnxruntime-node's native session lacks loadModel/run");
    native.initOrt();
    runtime = { ok: true, rt: { ort, native, version: ort.env.versions.node ?? ort.env.versions.common ?? "?" } };
  } catch (e) {
    const msg = (e as Error)?.message?.split("\n")[0] ?? String(e);
    runtime = { ok: false, reason: (e as NodeJS.ErrnoException)?.code === "MODULE_NOT_FOUND" && /onnxruntime-node/.test(msg) ? missingRuntimeHint() : msg };
  }
  return runtime;
}

/** Whether onnxruntime-node loads in this process (thread), and if not, why. */
export function onnxRuntimeStatus(): { available: true; version: string } | { available: false; reason: string } {
  const r = loadRuntime();
  return r.ok ? { available: true, version: r.rt.version } : { available: false, reason: r.reason };
}

/**
 * Intra-op threads for a session: SAT_ENCODER_THREADS if set, otherwise every core, for the
 * lowest latency on one photo. Where several encoders run at once (`sat features --workers N`,
 * a pool of caption workers) give each cores/N: N sessions of all cores oversubscribe them
 * (measured with 2 workers on 2 cores: 2 threads each gave 35% fewer images/s than 1 each).
 */
export function defaultOnnxThreads(): number {
  const env = process.env.SAT_ENCODER_THREADS;
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new UserError(`SAT_ENCODER_THREADS must be a positive integer (got '${env}')`);
    return n;
  }
  return availableParallelism();
}

export interface OnnxKerasEncoderOptions {
  /** Path of a Keras model in tfjs layers format (model.json). */
  modelPath: string;
  layer: string;
  normalisation?: Normalisation;
  /** Name recorded in the identity; default `<model folder>-<layer>` (as loadTfjsEncoder). */
  name?: string;
  /** Intra-op threads (default: defaultOnnxThreads()). */
  threads?: number;
}

export interface OnnxEncoder extends Encoder {
  readonly backend: "onnx";
  /** Convolution FLOPs per image (2 x multiply-adds), for GFLOP/s figures. */
  readonly flopsPerImage: number;
  readonly threads: number;
}

class OnnxSessionEncoder extends IdentifiedEncoder implements OnnxEncoder {
  readonly backend = "onnx" as const;
  private session: NativeSession | null;
  constructor(
    readonly id: EncoderIdentity,
    private readonly rt: Runtime,
    session: NativeSession,
    readonly flopsPerImage: number,
    readonly threads: number,
  ) {
    super();
    this.session = session;
  }
  encode(images: readonly Uint8Array[]): Float32Array {
    if (!this.session) throw new Error("encoder used after dispose()");
    if (images.length === 0) return new Float32Array(0);
    const s = this.inputSize;
    const x = new this.rt.ort.Tensor("float32", normaliseInto(images, s, this.id.normalisation), [images.length, s, s, 3]);
    const y = this.session.run({ input: x }, { features: null }, {}).features;
    const expect = images.length * this.L * this.D;
    if (y.size !== expect) throw new Error(`onnx encoder produced ${y.dims.join("x")}, expected ${images.length}x${this.L}x${this.D}`);
    // NHWC output flattened is [N, h*w, C] = [N, L, D], as the tfjs encoder returns.
    return y.data as Float32Array;
  }
  dispose(): void {
    this.session?.dispose();
    this.session = null;
  }
}

/**
 * A Keras layers model cut at `layer`, run by onnxruntime-node. Same identity as
 * loadTfjsEncoder would give for the same options (the features are the same function of
 * the image, up to float32 rounding), so feature stores and models do not depend on the backend.
 */
export async function loadOnnxKerasEncoder(opts: OnnxKerasEncoderOptions): Promise<OnnxEncoder> {
  const r = loadRuntime();
  if (!r.ok) throw new UserError(`onnxruntime-node cannot be used: ${r.reason}`);
  const path = resolve(opts.modelPath);
  const { artifacts, sha256 } = readModelArtifacts(path);
  let built: ReturnType<typeof kerasToOnnx>;
  try {
    built = kerasToOnnx(artifacts, opts.layer);
  } catch (e) {
    throw new UserError(`${path}: cannot translate to ONNX: ${(e as Error).message}`);
  }
  const bytes = encodeOnnxModel(built.graph);
  const threads = opts.threads ?? defaultOnnxThreads();
  const session = new r.rt.native.binding.InferenceSession();
  try {
    // Create off the current tick, as the public InferenceSession.create does (graph optimisation takes ~0.5 s).
    await new Promise<void>((res, rej) =>
      setImmediate(() => {
        try {
          session.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, {
            executionProviders: ["cpu"],
            intraOpNumThreads: threads,
            interOpNumThreads: 1,
            executionMode: "sequential",
            graphOptimizationLevel: "all",
          });
          res();
        } catch (e) {
          rej(e as Error);
        }
      }),
    );
  } catch (e) {
    session.dispose();
    throw new Error(`onnxruntime rejected the ONNX graph of ${path} up to '${opts.layer}': ${(e as Error).message.split("\n")[0]}`);
  }
  const [h, w, D] = built.outShape;
  const id: EncoderIdentity = {
    name: opts.name ?? `${path.split("/").slice(-2, -1)[0] ?? "model"}-${opts.layer}`,
    modelSha256: sha256,
    layer: opts.layer,
    L: h * w,
    D,
    grid: [h, w],
    inputSize: built.inputSize,
    normalisation: opts.normalisation ?? IDENTITY_NORMALISATION,
    preprocess: preprocessFor(built.inputSize),
  };
  return new OnnxSessionEncoder(id, r.rt, session, built.flops, threads);
}
