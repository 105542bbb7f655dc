// The packaged ResNet-50: its source network has the real ImageNet weights (real photos get
// sensible labels), cutting it at activation_39 changes no feature, and the cut gives 14x14x1024.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { decodeHalf, encodeHalf } from "../../src/data/float16.js";
import { loadImage } from "../../src/data/images.js";
import { loadTfjsEncoder } from "../../src/encoder/encoder.js";
import { loadOnnxKerasEncoder, onnxRuntimeStatus } from "../../src/encoder/onnx.js";
import { loadResNet50Encoder, RESNET50_LAYER, RESNET50_NORMALISATION } from "../../src/encoder/resnet.js";
import { FULL_RESNET50, loadFullResNet50Classifier } from "./full-resnet.js";

// Debian's python3-skimage ships these sample photos (.ci/run installs it). SAT_SAMPLE_PHOTOS
// may point elsewhere, e.g. at the data folder of a `dpkg-deb -x` of that package.
const SKIMAGE = process.env.SAT_SAMPLE_PHOTOS ?? "/usr/lib/python3/dist-packages/skimage/data";
const PHOTOS: { file: string; accept: string[]; top: number }[] = [
  // A tabby cat: the top label must be one of ImageNet's domestic cat classes.
  { file: "chelsea.png", accept: ["tabby", "tiger_cat", "Egyptian_cat"], top: 1 },
  // A cup of coffee on a saucer.
  { file: "coffee.png", accept: ["espresso", "cup", "coffee_mug"], top: 1 },
  // A launch pad with a rocket: one of these in the top 5.
  { file: "rocket.jpg", accept: ["space_shuttle", "missile", "projectile"], top: 5 },
];

const photosPresent = PHOTOS.every((p) => existsSync(join(SKIMAGE, p.file)));

test("ResNet-50 weights are real: sample photos get sensible ImageNet labels", async (t) => {
  if (!photosPresent) {
    const msg = `sample photos not found in ${SKIMAGE} (apt-get install python3-skimage)`;
    // CI installs them, so there a missing photo is a failure, not a skip.
    if (process.env.CI === "true") assert.fail(msg);
    t.skip(msg);
    return;
  }
  const clf = await loadFullResNet50Classifier();
  try {
    for (const p of PHOTOS) {
      const im = await loadImage(join(SKIMAGE, p.file));
      const top5 = clf.classify(im.pixels, 5);
      const labels = top5.map((c) => c.label);
      assert.ok(labels.slice(0, p.top).some((l) => p.accept.includes(l)), `${p.file}: top-${p.top} ${labels.join(", ")} has none of ${p.accept.join(", ")}`);
      // A trained network is confident on these; random weights would give ~1/1000 each.
      assert.ok(top5[0].probability > 0.3, `${p.file}: top probability ${top5[0].probability}`);
    }
  } finally {
    clf.dispose();
  }
});

test("the packaged ResNet-50 gives the full network's activation_39 bit for bit, on both backends", async () => {
  const pixels = photosPresent ? (await loadImage(join(SKIMAGE, "chelsea.png"))).pixels : new Uint8Array(224 * 224 * 3).map((_, i) => (i * 13) % 253);
  const common = { layer: RESNET50_LAYER, normalisation: RESNET50_NORMALISATION };
  const backends = [
    { name: "tfjs", full: () => loadTfjsEncoder({ modelPath: FULL_RESNET50, ...common }), packaged: () => loadResNet50Encoder(RESNET50_LAYER, { backend: "tfjs" }) },
    { name: "onnx", full: () => loadOnnxKerasEncoder({ modelPath: FULL_RESNET50, ...common, threads: 1 }), packaged: () => loadResNet50Encoder(RESNET50_LAYER, { backend: "onnx", threads: 1 }) },
  ];
  for (const b of backends) {
    // onnxruntime-node is an optional peer dependency: where it does not load, tfjs alone is compared.
    if (b.name === "onnx" && !onnxRuntimeStatus().available) continue;
    const full = await b.full();
    const want = full.encode([pixels]);
    full.dispose();
    const packaged = await b.packaged();
    const got = packaged.encode([pixels]);
    packaged.dispose();
    // Same weights through the same kernels on one thread: any difference means the cut lost,
    // changed or reordered a weight.
    assert.deepEqual(got, want, `${b.name}: packaged features differ from the full network's`);
  }
});

test("the packaged ResNet-50 refuses a layer past its cut, in one line", async () => {
  await assert.rejects(loadResNet50Encoder("activation_49"), /layer 'activation_49': the packaged model ends at activation_39/);
});

test("ResNet-50 cut at activation_39: 196 x 1024 ReLU features; float16 storage error bound holds", async (t) => {
  const enc = await loadResNet50Encoder();
  try {
    assert.equal(enc.id.layer, "activation_39");
    assert.deepEqual([enc.L, enc.D, enc.id.grid, enc.inputSize], [196, 1024, [14, 14], 224]);
    assert.deepEqual(enc.id.normalisation.mean, [103.939, 116.779, 123.68]);
    let pixels: Uint8Array;
    if (photosPresent) pixels = (await loadImage(join(SKIMAGE, "chelsea.png"))).pixels;
    else {
      t.diagnostic("sample photo absent: using a synthetic gradient image");
      pixels = new Uint8Array(224 * 224 * 3).map((_, i) => (i * 7) % 251);
    }
    const f = enc.encode([pixels]);
    assert.equal(f.length, 196 * 1024);
    let max = 0;
    let positive = 0;
    for (const v of f) {
      assert.ok(v >= 0, "activation_39 is a ReLU");
      if (v > max) max = v;
      if (v > 0) positive++;
    }
    // Sanity: a real photo activates a good share of units, and values sit far below the
    // float16 limit (65504).
    assert.ok(positive > 0.1 * f.length, `only ${positive} positive values`);
    assert.ok(max < 1000, `max ${max}`);
    // The store keeps float16: on real features the error is at most half an ulp, i.e.
    // relative 2^-11 for normal values and absolute 2^-25 below 2^-14.
    const h = new Uint16Array(f.length);
    assert.equal(encodeHalf(f, h), 0);
    const back = decodeHalf(h, new Float32Array(f.length));
    let maxRel = 0;
    let maxAbs = 0;
    for (let i = 0; i < f.length; i++) {
      const err = Math.abs(back[i] - f[i]);
      maxAbs = Math.max(maxAbs, err);
      if (f[i] >= 2 ** -14) maxRel = Math.max(maxRel, err / f[i]);
      else assert.ok(err <= 2 ** -25);
    }
    assert.ok(maxRel <= 2 ** -11, `relative error ${maxRel}`);
    t.diagnostic(`float16 on real features: max relative error ${maxRel.toExponential(2)}, max absolute ${maxAbs.toExponential(2)} (max value ${max.toFixed(2)})`);
  } finally {
    enc.dispose();
  }
});
