// The native boundary cannot be misused from JS: another engine's context, forged contexts,
// wrong buffer lengths and types, out-of-range ids, bad numbers, a disposed engine and a foreign
// `this` all throw a JS Error naming the problem; none reaches C++ unchecked (which would crash
// the process and so this test file).
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveModelConfig } from "../../src/model/config.js";
import { paramLayout } from "../../src/model/layout.js";
import { createNativeEngine, loadNativeAddon, type EngineDims } from "../../src/native/engine.js";

const addon = loadNativeAddon();
const skip = addon ? false : "native addon not built (npm run build:native)";

const cfg = resolveModelConfig({ vocabSize: 13, embedDim: 6, hiddenDim: 8, attnDim: 5, featureDim: 7, numLocations: 4 });
const dims: EngineDims = { K: 13, m: 6, n: 8, A: 5, D: 7, L: 4 };
const total = paramLayout(cfg).total;
const B = 2;
const T = 3;

/** A valid training-step options object for the raw addon; tests spoil one field at a time. */
function stepArgs(): Record<string, unknown> {
  return {
    params: new Float32Array(total).fill(0.01), grads: new Float32Array(total), features: new Float32Array(B * 4 * 7).fill(0.5),
    inputs: new Int32Array(B * T).fill(1), targets: new Int32Array(B * T).fill(2), mask: new Float32Array(B * T).fill(1), B, T,
    mode: 0, dropout: 0.1, seed: 7, alphaC: 1, reinforceWeight: 0, entropyWeight: 0, baseline: 0, computeGrad: true,
    logProbOut: new Float64Array(B), locationsOut: new Int32Array(B * T),
  };
}

/** A valid decodeStep options object for `ctx` (2 rows over 1 image). */
function decodeArgs(ctx: object): Record<string, unknown> {
  return {
    params: new Float32Array(total), ctx, rowImage: new Int32Array(2), tokens: new Int32Array(2), h: new Float32Array(2 * 8),
    c: new Float32Array(2 * 8), logProbs: new Float32Array(2 * 13), alpha: new Float32Array(2 * 4), beta: new Float32Array(2),
  };
}

test("a valid raw call runs (the baseline the misuse cases spoil)", { skip }, () => {
  const e = new addon!.Engine(dims);
  const r = e.forwardBackward(stepArgs() as never);
  assert.ok(Number.isFinite(r.loss) && r.loss > 0);
  const ctx = e.prepareDecode({ params: new Float32Array(total), features: new Float32Array(4 * 7), numImages: 1 });
  e.decodeStep(decodeArgs(ctx) as never);
  e.dispose();
});

test("another engine's context is refused, in the addon and in NativeEngine", { skip }, () => {
  const a = new addon!.Engine(dims);
  const b = new addon!.Engine(dims);
  const bigger = new addon!.Engine({ ...dims, L: 40, D: 64 });
  const ctxA = a.prepareDecode({ params: new Float32Array(total), features: new Float32Array(4 * 7), numImages: 1 });
  assert.throws(() => b.decodeStep(decodeArgs(ctxA) as never), /decodeStep: ctx belongs to another engine/);
  assert.throws(() => b.initialState({ params: new Float32Array(total), ctx: ctxA, rowImage: new Int32Array(1), h: new Float32Array(8), c: new Float32Array(8) }),
    /initialState: ctx belongs to another engine/);
  // An engine of other dimensions would read past the context's buffers: refused before that.
  const bigTotal = paramLayout(resolveModelConfig({ vocabSize: 13, embedDim: 6, hiddenDim: 8, attnDim: 5, featureDim: 64, numLocations: 40 })).total;
  assert.throws(() => bigger.decodeStep({ ...decodeArgs(ctxA), params: new Float32Array(bigTotal), alpha: new Float32Array(2 * 40) } as never),
    /ctx belongs to another engine/);
  // A context outlives its disposed engine, and still decodes nowhere else.
  a.dispose();
  assert.throws(() => b.decodeStep(decodeArgs(ctxA) as never), /ctx belongs to another engine/);
  b.dispose();
  bigger.dispose();

  const ea = createNativeEngine(cfg, new Float32Array(total))!;
  const eb = createNativeEngine(cfg, new Float32Array(total))!;
  const ctx = ea.prepareDecode(new Float32Array(4 * 7), 1);
  assert.throws(() => eb.initialState(ctx, new Int32Array(1)), /ctx was not returned by this engine's prepareDecode/);
  ea.dispose();
  eb.dispose();
});

test("forged contexts are refused", { skip }, () => {
  const e = new addon!.Engine(dims);
  for (const ctx of [{ numImages: 1 }, Object.create(null), new Float32Array(4), 42, null, "ctx"]) {
    assert.throws(() => e.decodeStep(decodeArgs(ctx as object) as never), /decodeStep: ctx is not a context from prepareDecode/);
  }
  e.dispose();
});

test("wrong buffer lengths are refused, naming the field and the expected length", { skip }, () => {
  const e = new addon!.Engine(dims);
  const cases: [string, unknown, RegExp][] = [
    ["params", new Float32Array(total - 1), /params has \d+ floats, expected the parameter count = \d+/],
    ["grads", new Float32Array(0), /grads has 0 floats/],
    ["features", new Float32Array(5), /features has 5 floats, expected B\*L\*D = 56/],
    ["inputs", new Int32Array(B * T + 1), /inputs has 7 ints, expected B\*T = 6/],
    ["mask", new Float32Array(3), /mask has 3 floats/],
    ["logProbOut", new Float64Array(1), /logProbOut has 1 doubles, expected B = 2/],
    ["locationsOut", new Int32Array(2), /locationsOut has 2 ints/],
    ["locations", new Int32Array(1), /locations has 1 ints/],
  ];
  for (const [field, value, re] of cases) {
    assert.throws(() => e.forwardBackward({ ...stepArgs(), [field]: value } as never), re, field);
  }
  const ctx = e.prepareDecode({ params: new Float32Array(total), features: new Float32Array(4 * 7), numImages: 1 });
  assert.throws(() => e.prepareDecode({ params: new Float32Array(total), features: new Float32Array(4 * 7), numImages: 2 }), /features has 28 floats, expected numImages\*L\*D = 56/);
  for (const [field, len] of [["h", 15], ["c", 17], ["logProbs", 25], ["alpha", 7], ["beta", 1]] as const) {
    assert.throws(() => e.decodeStep({ ...decodeArgs(ctx), [field]: new Float32Array(len) } as never), new RegExp(`decodeStep: ${field} has ${len} floats`));
  }
  assert.throws(() => e.optimizerStep({
    params: new Float32Array(total), grads: new Float32Array(total), kind: 0, lr: 1e-3, beta1: 0.9, beta2: 0.999, rho: 0.9, eps: 1e-8,
    weightDecay: 0, clipNorm: 0, step: 1, state1: new Float32Array(total), state2: new Float32Array(3),
  }), /optimizerStep: state2 has 3 floats/);
  // The top-k form: k in [1, K], its outputs sized rows*topK, blocked K flags, logProbs optional.
  const top = { ...decodeArgs(ctx), logProbs: undefined, topK: 3, blocked: new Uint8Array(13), topIds: new Int32Array(6), topLogProbs: new Float32Array(6) };
  e.decodeStep(top as never);
  assert.throws(() => e.decodeStep({ ...top, topK: 14 } as never), /decodeStep: topK must be an integer in \[1, 13\]/);
  assert.throws(() => e.decodeStep({ ...top, topIds: new Int32Array(5) } as never), /decodeStep: topIds has 5 ints, expected rows\*topK = 6/);
  assert.throws(() => e.decodeStep({ ...top, topLogProbs: new Float32Array(7) } as never), /decodeStep: topLogProbs has 7 floats/);
  assert.throws(() => e.decodeStep({ ...top, blocked: new Uint8Array(12) } as never), /decodeStep: blocked has 12 bytes, expected K = 13/);
  assert.throws(() => e.decodeStep({ ...top, blocked: new Int32Array(13) } as never), /decodeStep: blocked must be a Uint8Array/);
  // A transferred (detached) buffer has no memory left: its length no longer matches.
  const h = new Float32Array(16);
  structuredClone(h.buffer, { transfer: [h.buffer] });
  assert.throws(() => e.decodeStep({ ...decodeArgs(ctx), h } as never), /decodeStep: h has 0 floats/);
  e.dispose();
});

test("wrong types, out-of-range ids and bad numbers are refused", { skip }, () => {
  const e = new addon!.Engine(dims);
  const cases: [string, unknown, RegExp][] = [
    ["params", new Float64Array(total), /params must be a Float32Array/],
    ["mask", Array.from({ length: B * T }, () => 1), /mask must be a Float32Array/],
    ["inputs", new Float32Array(B * T), /inputs must be a Int32Array/],
    ["inputs", Int32Array.from([1, 2, 13, 0, 0, 0]), /inputs\[2\] = 13 is outside \[0, 13\)/],
    ["targets", Int32Array.from([0, -1, 0, 0, 0, 0]), /targets\[1\] = -1 is outside/],
    ["locations", Int32Array.from([0, 1, 2, 3, 4, 0]), /locations\[4\] = 4 is outside \[0, 4\)/],
    ["B", "2", /B must be a number/],
    ["B", 1.5, /B must be an integer/],
    ["T", 0, /T must be an integer in \[1, /],
    ["mode", 3, /mode must be an integer in \[0, 2\]/],
    ["seed", Number.NaN, /seed must be finite/],
    ["seed", -1, /seed must be a uint32/],
    ["dropout", 1, /dropout must be in \[0, 1\)/],
    ["computeGrad", 1, /computeGrad must be a boolean/],
  ];
  for (const [field, value, re] of cases) {
    assert.throws(() => e.forwardBackward({ ...stepArgs(), [field]: value } as never), re, `${field} = ${String(value)}`);
  }
  assert.throws(() => e.forwardBackward({ ...stepArgs(), B: 2 ** 30, T: 2 ** 10 } as never), /too large a step/);
  const ctx = e.prepareDecode({ params: new Float32Array(total), features: new Float32Array(4 * 7), numImages: 1 });
  assert.throws(() => e.decodeStep({ ...decodeArgs(ctx), rowImage: Int32Array.from([0, 1]) } as never), /rowImage\[1\] = 1 is outside \[0, 1\)/);
  assert.throws(() => e.decodeStep({ ...decodeArgs(ctx), tokens: Int32Array.from([0, 99]) } as never), /tokens\[1\] = 99 is outside/);
  assert.throws(() => e.decodeStep({ ...decodeArgs(ctx), sampleSeed: 2 ** 32 } as never), /sampleSeed must be a uint32/);
  assert.throws(() => e.prepareDecode({ params: new Float32Array(total), features: new Float32Array(0), numImages: 0 }), /numImages must be an integer in \[1, /);
  assert.throws(() => (e.forwardBackward as (...a: unknown[]) => unknown)(), /forwardBackward: expects one options object/);
  assert.throws(() => new addon!.Engine({ ...dims, n: -3 }), /Engine: dims.n must be an integer/);
  assert.throws(() => new addon!.Engine({ ...dims, K: undefined } as never), /Engine: dims.K must be a number/);
  e.dispose();
});

test("a disposed engine and a foreign `this` throw instead of touching freed memory", { skip }, () => {
  const e = new addon!.Engine(dims);
  const ctx = e.prepareDecode({ params: new Float32Array(total), features: new Float32Array(4 * 7), numImages: 1 });
  e.dispose();
  assert.throws(() => e.forwardBackward(stepArgs() as never), /forwardBackward: the engine was disposed/);
  assert.throws(() => e.decodeStep(decodeArgs(ctx) as never), /decodeStep: the engine was disposed/);
  assert.throws(() => e.prepareDecode({ params: new Float32Array(total), features: new Float32Array(4 * 7), numImages: 1 }), /disposed/);
  e.dispose(); // twice is harmless
  assert.equal(e.workspaceBytes(), 0);
  const live = new addon!.Engine(dims);
  const method = Object.getPrototypeOf(live).forwardBackward as (o: unknown) => unknown;
  assert.throws(() => method.call({}, stepArgs()));
  assert.throws(() => method.call(new Float32Array(3), stepArgs()));
  live.dispose();

  const native = createNativeEngine(cfg, new Float32Array(total))!;
  native.dispose();
  assert.throws(() => native.optimizerStep({ kind: "adam", lr: 1e-3, beta1: 0.9, beta2: 0.999, rho: 0.9, eps: 1e-8, weightDecay: 0, clipNorm: 0 }, 1), /used after dispose/);
});
