// The onnxruntime encoder: batch-norm folding algebra, the Keras -> ONNX translation on a tiny
// model exercising every supported layer, ResNet-50 features equal to tfjs-wasm's on real
// photos, worker threads, and backend selection (env override, fallback without onnxruntime).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { UserError } from "../../src/errors.js";
import { loadImage } from "../../src/data/images.js";
import { tf, tfReady } from "../../src/encoder/backend.js";
import { identityDigest, loadTfjsEncoder } from "../../src/encoder/encoder.js";
import { directorySaveHandler, readModelArtifacts } from "../../src/encoder/io.js";
import { defaultOnnxThreads, loadOnnxKerasEncoder, onnxRuntimeStatus } from "../../src/encoder/onnx.js";
import { convAxis, foldBatchNorm, kerasKernelToOnnx, kerasToOnnx } from "../../src/encoder/onnx-graph.js";
import { decodeOnnxModel, encodeOnnxModel } from "../../src/encoder/onnx-proto.js";
import { loadResNet50Encoder, requestedBackend, resnet50ModelPath, resolveBackend, RESNET50_NORMALISATION } from "../../src/encoder/resnet.js";
import { SeededRandom } from "../../src/util/rng.js";
import { writeGoodImages } from "../data/image-fixtures.js";

const ROOT = new URL("../..", import.meta.url).pathname;
const SKIMAGE = process.env.SAT_SAMPLE_PHOTOS ?? "/usr/lib/python3/dist-packages/skimage/data";

/** Skips where onnxruntime-node is absent; in CI (which installs it) that is a failure. */
function needOnnx(t: { skip(msg: string): void }): boolean {
  const s = onnxRuntimeStatus();
  if (s.available) return true;
  const msg = `onnxruntime-node unavailable: ${s.reason}`;
  if (process.env.CI === "true") assert.fail(msg);
  t.skip(msg);
  return false;
}

/** Direct NCHW convolution (one image, stride 1, no padding) in float64, ONNX kernel layout. */
function conv(x: Float64Array, C: number, H: number, W: number, k: Float32Array, b: Float32Array | null, O: number, K: number): Float64Array {
  const oh = H - K + 1;
  const ow = W - K + 1;
  const y = new Float64Array(O * oh * ow);
  for (let o = 0; o < O; o++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        let s = b ? b[o] : 0;
        for (let c = 0; c < C; c++) for (let u = 0; u < K; u++) for (let v = 0; v < K; v++) s += k[((o * C + c) * K + u) * K + v] * x[(c * H + i + u) * W + j + v];
        y[(o * oh + i) * ow + j] = s;
      }
  return y;
}

test("batch norm folded into a conv is the conv followed by batch norm", () => {
  const rng = new SeededRandom(3);
  const [C, O, K, H, W] = [3, 4, 3, 5, 6];
  const r = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.next());
  const kernel = r(O * C * K * K, -1, 1);
  const bias = r(O, -0.5, 0.5);
  // Stats far from the identity (mean != 0, var != 1, gamma != 1) so each term matters.
  const bn = { gamma: r(O, 0.2, 3), beta: r(O, -2, 2), mean: r(O, -1, 1), variance: r(O, 0.05, 4), epsilon: 1e-3 };
  const x = Float64Array.from({ length: C * H * W }, () => rng.next() * 4 - 2);
  const ref = conv(x, C, H, W, kernel, bias, O, K);
  const per = ref.length / O;
  for (let o = 0; o < O; o++) for (let p = 0; p < per; p++) ref[o * per + p] = (bn.gamma[o] * (ref[o * per + p] - bn.mean[o])) / Math.sqrt(bn.variance[o] + bn.epsilon) + bn.beta[o];
  const f = foldBatchNorm(kernel, bias, O, bn);
  const got = conv(x, C, H, W, f.kernel, f.bias, O, K);
  // Only the folded weights are rounded to float32 (relative 2^-24 each), so over 27-term
  // sums of values < 10 the error stays far below 1e-5.
  for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(got[i] - ref[i]) < 1e-5, `output ${i}: ${got[i]} vs ${ref[i]}`);
  // A conv without bias, BN without scale/centre: s = 1/sqrt(var+eps), b' = -mean*s.
  const g = foldBatchNorm(kernel, null, O, { mean: bn.mean, variance: bn.variance, epsilon: 1e-3 });
  for (let o = 0; o < O; o++) {
    const s = 1 / Math.sqrt(bn.variance[o] + 1e-3);
    assert.ok(Math.abs(g.bias[o] + bn.mean[o] * s) < 1e-6);
    assert.ok(Math.abs(g.kernel[o * C * K * K + 5] - kernel[o * C * K * K + 5] * s) < 1e-6);
  }
  assert.throws(() => foldBatchNorm(kernel, bias, O, { ...bn, mean: bn.mean.subarray(1) }), /mean has 3 values, expected 4/);
});

test("Keras kernel layout and TensorFlow padding arithmetic", () => {
  // [kh, kw, in, out] = [1, 2, 2, 3]: element (y, x, i, o) holds 1000y + 100x + 10i + o.
  const k = new Float32Array(12);
  for (let x = 0; x < 2; x++) for (let i = 0; i < 2; i++) for (let o = 0; o < 3; o++) k[(x * 2 + i) * 3 + o] = 100 * x + 10 * i + o;
  const t = kerasKernelToOnnx(k, 1, 2, 2, 3);
  // ONNX [out, in, kh, kw]
  for (let o = 0; o < 3; o++) for (let i = 0; i < 2; i++) for (let x = 0; x < 2; x++) assert.equal(t[(o * 2 + i) * 2 + x], 100 * x + 10 * i + o);
  // 'same', stride 2, 3x3 on 8: 4 outputs, one pixel of padding, after (TensorFlow puts the odd one at the end).
  assert.deepEqual(convAxis(8, 3, 2, 1, "same"), { out: 4, before: 0, after: 1 });
  assert.deepEqual(convAxis(14, 3, 1, 1, "same"), { out: 14, before: 1, after: 1 });
  assert.deepEqual(convAxis(230, 7, 2, 1, "valid"), { out: 112, before: 0, after: 0 });
});

/**
 * A tiny Keras model with every layer kind and case the translation handles: zero padding
 * merged into a valid conv, 'same' stride-2 conv with asymmetric padding, folded BNs, a
 * standalone BN (its output is negative, so the following zero padding + max pool must keep
 * Keras' zeros, not ONNX's -inf pads), Add, in-layer ReLU.
 */
async function buildTinyKeras(dir: string): Promise<string> {
  await tfReady();
  const u = (seed: number, minval = -1, maxval = 1) => tf.initializers.randomUniform({ minval, maxval, seed });
  const bn = (name: string, seed: number) =>
    tf.layers.batchNormalization({ name, epsilon: 1e-3, gammaInitializer: u(seed, 0.5, 2), betaInitializer: u(seed + 1), movingMeanInitializer: u(seed + 2), movingVarianceInitializer: u(seed + 3, 0.2, 2) });
  const cv = (name: string, filters: number, k: number, strides: number, padding: "valid" | "same", seed: number, activation: "linear" | "relu" = "linear") =>
    tf.layers.conv2d({ name, filters, kernelSize: k, strides, padding, activation, kernelInitializer: u(seed), biasInitializer: u(seed + 1, -0.2, 0.2) });
  const ap = (l: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => l.apply(x) as tf.SymbolicTensor;
  const input = tf.input({ shape: [15, 15, 3] });
  const p = ap(tf.layers.zeroPadding2d({ name: "pad", padding: [[1, 2], [2, 1]] }), input); // 18x18
  const a1 = ap(tf.layers.activation({ name: "a1", activation: "relu" }), ap(bn("b1", 10), ap(cv("c1", 4, 3, 2, "valid", 1), p))); // 8x8
  const b2 = ap(bn("b2", 20), ap(cv("c2", 4, 3, 2, "same", 2), a1)); // 4x4
  const b3 = ap(bn("b3", 30), ap(cv("c3", 4, 1, 2, "valid", 3), a1)); // 4x4
  const add = ap(tf.layers.add({ name: "add" }), [b2, b3]);
  const act = ap(tf.layers.activation({ name: "act", activation: "relu" }), add);
  const bnx = ap(bn("bnx", 40), act);
  const mp = ap(tf.layers.maxPooling2d({ name: "mp", poolSize: 3, strides: 2, padding: "valid" }), ap(tf.layers.zeroPadding2d({ name: "pad2", padding: 1 }), bnx)); // 2x2
  const out = ap(cv("out", 6, 3, 1, "same", 4, "relu"), mp);
  const m = tf.model({ inputs: input, outputs: out });
  await m.save(directorySaveHandler(dir));
  m.dispose();
  return join(dir, "model.json");
}

test("Keras -> ONNX on a tiny model with every supported layer: same outputs as tfjs", async (t) => {
  const modelPath = await buildTinyKeras(mkdtempSync(join(tmpdir(), "sat-onnx-tiny-")));
  const built = kerasToOnnx(readModelArtifacts(modelPath).artifacts, "out");
  assert.equal(built.foldedBatchNorms, 3, "b1, b2, b3 fold into their convs; bnx follows a ReLU and stays");
  const model = decodeOnnxModel(encodeOnnxModel(built.graph)) as { ir_version: number; opset_import: { version: number }[]; graph: { node: { op_type: string }[] } };
  assert.equal(model.ir_version, 8);
  assert.equal(model.opset_import[0].version, 13);
  const ops = model.graph.node.map((n) => n.op_type);
  assert.deepEqual([ops.filter((o) => o === "BatchNormalization").length, ops.filter((o) => o === "Pad").length], [1, 1], ops.join(","));
  if (!needOnnx(t)) return;
  const rng = new SeededRandom(9);
  const images = [0, 1].map(() => Uint8Array.from({ length: 15 * 15 * 3 }, () => Math.floor(rng.next() * 256)));
  const norm = { channelOrder: "bgr" as const, scale: 1 / 64, mean: [2, 1.5, 2.5] as [number, number, number], std: [1, 1, 1] as [number, number, number] };
  for (const layer of ["out", "add", "a1"]) {
    const ref = await loadTfjsEncoder({ modelPath, layer, normalisation: norm });
    const onnx = await loadOnnxKerasEncoder({ modelPath, layer, normalisation: norm, threads: 1 });
    assert.deepEqual(onnx.id, ref.id, "same identity whatever the backend");
    const want = ref.encode(images);
    const got = onnx.encode(images);
    assert.equal(got.length, want.length);
    const scale = Math.max(...want.map(Math.abs));
    // Float32 through at most 5 layers of <= 36-term sums: ~1e-6 relative; 1e-5 leaves margin
    // while any wrong pad, stride or fold is O(1).
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-5 * scale, `${layer}[${i}]: onnx ${got[i]} vs tfjs ${want[i]}`);
    ref.dispose();
    onnx.dispose();
  }
});

test("untranslatable models are refused with the layer's name", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sat-onnx-bad-"));
  await tfReady();
  const input = tf.input({ shape: [8, 8, 3] });
  const x = tf.layers.averagePooling2d({ name: "avg", poolSize: 2 }).apply(input) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: x });
  await m.save(directorySaveHandler(dir));
  m.dispose();
  const a = readModelArtifacts(join(dir, "model.json")).artifacts;
  assert.throws(() => kerasToOnnx(a, "avg"), /layer avg \(AveragePooling2D\) is not supported/);
  assert.throws(() => kerasToOnnx(a, "nope"), /no layer named 'nope'/);
});

/** Relative L2 distance and max |a - b| / max |b|. */
function compare(a: Float32Array, b: Float32Array): { relL2: number; relMax: number } {
  let num = 0;
  let den = 0;
  let maxD = 0;
  let maxB = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
    maxD = Math.max(maxD, Math.abs(d));
    maxB = Math.max(maxB, Math.abs(b[i]));
  }
  return { relL2: Math.sqrt(num / den), relMax: maxD / maxB };
}

test("ResNet-50 on onnxruntime = ResNet-50 on tfjs-wasm: same identity, same features on real photos", async (t) => {
  if (!needOnnx(t)) return;
  const photos = ["chelsea.png", "coffee.png", "rocket.jpg"].map((f) => join(SKIMAGE, f)).filter((p) => existsSync(p));
  if (photos.length < 3) {
    const msg = `sample photos not found in ${SKIMAGE}`;
    if (process.env.CI === "true") assert.fail(msg);
    t.diagnostic(`${msg}: comparing on the generated fixtures only`);
  }
  const fixtures = mkdtempSync(join(tmpdir(), "sat-onnx-img-"));
  await writeGoodImages(fixtures);
  const files = [...photos, join(fixtures, "rgb.jpg"), join(fixtures, "cmyk.jpg")];
  // Default (auto) must pick onnx; the env var alone must give tfjs.
  const saved = process.env.SAT_ENCODER_BACKEND;
  let onnx, ref;
  try {
    delete process.env.SAT_ENCODER_BACKEND;
    onnx = await loadResNet50Encoder();
    process.env.SAT_ENCODER_BACKEND = "tfjs";
    ref = await loadResNet50Encoder();
  } finally {
    if (saved === undefined) delete process.env.SAT_ENCODER_BACKEND;
    else process.env.SAT_ENCODER_BACKEND = saved;
  }
  try {
    assert.equal(onnx.backend, "onnx");
    assert.equal(ref.backend, "tfjs");
    // Feature stores and models record this identity: it must not depend on the backend.
    assert.deepEqual(onnx.id, ref.id);
    assert.equal(identityDigest(onnx.id), identityDigest(ref.id));
    const pixels = await Promise.all(files.map(async (f) => (await loadImage(f, onnx.preprocess)).pixels));
    for (const [k, f] of files.entries()) {
      const a = onnx.encode([pixels[k]]);
      const b = ref.encode([pixels[k]]);
      const { relL2, relMax } = compare(a, b);
      t.diagnostic(`${f.split("/").pop()}: relative L2 ${relL2.toExponential(2)}, max |diff| / max ${relMax.toExponential(2)}`);
      // Both are float32 through 43 convolutions of up to 4,608-term sums, summed in different
      // orders (XNNPACK vs MLAS) and with BN applied vs folded: measured 1-3e-6 on these
      // images. 2e-5 leaves 6x margin and sits 25x below the float16 storage step (2^-11 =
      // 4.9e-4 relative), so the two backends' features are interchangeable in a store. The
      // control below shows the bound catches a small real defect.
      assert.ok(relL2 <= 2e-5 && relMax <= 2e-5, `${f}: relative L2 ${relL2}, relative max ${relMax}`);
    }
    // Batched encoding gives each image's own features, bit for bit.
    const both = onnx.encode([pixels[0], pixels[1]]);
    assert.deepEqual(both.subarray(196 * 1024), onnx.encode([pixels[1]]));

    // Control: the bound notices a small real defect, the ImageNet means rounded to integers
    // ([104, 117, 124], as often quoted): ~2e-3 relative L2.
    const rounded = await loadOnnxKerasEncoder({ modelPath: resnet50ModelPath(), layer: "activation_39", normalisation: { ...RESNET50_NORMALISATION, mean: [104, 117, 124] } });
    const bad = compare(rounded.encode([pixels[0]]), ref.encode([pixels[0]]));
    rounded.dispose();
    assert.ok(bad.relL2 > 20 * 2e-5, `rounded means give relative L2 ${bad.relL2}`);
  } finally {
    onnx.dispose();
    ref.dispose();
  }
});

test("the onnx encoder runs in a worker thread (sat features --workers), 1 thread giving the main thread's 2-thread bytes", async (t) => {
  if (!needOnnx(t)) return;
  const img = Uint8Array.from({ length: 224 * 224 * 3 }, (_, i) => (i * 7) % 251);
  const main = await loadResNet50Encoder(undefined, { backend: "onnx", threads: 2 });
  const want = main.encode([img]);
  main.dispose();
  // As extract.ts starts workers under tsx: the worker registers tsx's loader itself.
  const url = new URL("../../src/encoder/resnet.ts", import.meta.url).href;
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    import("tsx/esm/api").then((t) => { t.register(); return import(${JSON.stringify(url)}); }).then(async (m) => {
      const enc = await m.loadResNet50Encoder(undefined, { backend: "onnx" });
      const f = enc.encode([workerData]);
      parentPort.postMessage({ backend: enc.backend, threads: enc.threads, f });
      enc.dispose();
    });`;
  const got = await new Promise<{ backend: string; threads: number; f: Float32Array }>((res, rej) => {
    // The way a pool of N encoders should be started: SAT_ENCODER_THREADS = cores / N.
    const w = new Worker(code, { eval: true, workerData: img, env: { ...process.env, SAT_ENCODER_THREADS: "1" } });
    w.once("message", (m) => {
      res(m);
      void w.terminate();
    });
    w.once("error", rej);
  });
  assert.equal(got.backend, "onnx");
  assert.equal(got.threads, 1, "SAT_ENCODER_THREADS sets the intra-op threads");
  // MLAS splits work across threads without reordering sums: 1 and 2 threads agree exactly,
  // so `--workers N` writes the same feature bytes as one process.
  assert.deepEqual(got.f, want);
});

test("backend selection: SAT_ENCODER_BACKEND and SAT_ENCODER_THREADS parsing, explicit tfjs, auto", () => {
  assert.equal(requestedBackend(undefined), "auto");
  assert.equal(requestedBackend(""), "auto");
  assert.equal(requestedBackend(" ONNX "), "onnx");
  assert.equal(requestedBackend("tfjs"), "tfjs");
  assert.throws(() => requestedBackend("cuda"), (e: unknown) => e instanceof UserError && /SAT_ENCODER_BACKEND must be onnx, tfjs or auto \(got 'cuda'\)/.test(e.message));
  assert.deepEqual(resolveBackend("tfjs"), { backend: "tfjs" });
  const saved = process.env.SAT_ENCODER_THREADS;
  try {
    delete process.env.SAT_ENCODER_THREADS;
    assert.equal(defaultOnnxThreads(), availableParallelism());
    process.env.SAT_ENCODER_THREADS = "3";
    assert.equal(defaultOnnxThreads(), 3);
    process.env.SAT_ENCODER_THREADS = "0";
    assert.throws(() => defaultOnnxThreads(), (e: unknown) => e instanceof UserError && /SAT_ENCODER_THREADS must be a positive integer \(got '0'\)/.test(e.message));
  } finally {
    if (saved === undefined) delete process.env.SAT_ENCODER_THREADS;
    else process.env.SAT_ENCODER_THREADS = saved;
  }
  const s = onnxRuntimeStatus();
  assert.deepEqual(resolveBackend("auto"), s.available ? { backend: "onnx" } : { backend: "tfjs", fallback: s.reason });
});

test("without onnxruntime-node: auto falls back to tfjs with one note, a forced onnx is a clear error", () => {
  const dir = mkdtempSync(join(tmpdir(), "sat-onnx-missing-"));
  // Makes `require("onnxruntime-node")` fail as if the optional package had not installed.
  writeFileSync(
    join(dir, "hide-ort.cjs"),
    `const M = require("node:module");
const orig = M._resolveFilename;
M._resolveFilename = function (req, ...rest) {
  if (req === "onnxruntime-node" || req.startsWith("onnxruntime-node/")) {
    const e = new Error("Cannot find module '" + req + "'");
    e.code = "MODULE_NOT_FOUND";
    throw e;
  }
  return orig.call(this, req, ...rest);
};`,
  );
  const script = join(dir, "probe.mts");
  writeFileSync(
    script,
    `import { loadResNet50Encoder, resolveBackend } from ${JSON.stringify(join(ROOT, "src/encoder/resnet.ts"))};
const out: Record<string, unknown> = { auto: resolveBackend("auto") };
try { resolveBackend("onnx"); } catch (e) { out.forced = (e as Error).message; }
const a = await loadResNet50Encoder();
const b = await loadResNet50Encoder();
out.backends = [a.backend, b.backend];
a.dispose(); b.dispose();
console.log(JSON.stringify(out));`,
  );
  const env = { ...process.env };
  delete env.SAT_ENCODER_BACKEND;
  const r = spawnSync(process.execPath, ["--require", join(dir, "hide-ort.cjs"), "--import", "tsx", script], { cwd: ROOT, env, encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { auto: unknown; forced: string; backends: string[] };
  const missing = "the optional peer dependency onnxruntime-node is not installed; add it with: ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@~1.30.0";
  assert.deepEqual(out.auto, { backend: "tfjs", fallback: missing });
  assert.equal(out.forced, `SAT_ENCODER_BACKEND=onnx, but onnxruntime-node cannot be used: ${missing}`);
  assert.deepEqual(out.backends, ["tfjs", "tfjs"]);
  const notes = r.stderr.split("\n").filter((l) => l.includes("onnxruntime-node unavailable"));
  assert.equal(notes.length, 1, `one note for two encoders: ${r.stderr}`);
});
