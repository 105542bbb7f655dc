/** A small feature store written by hand (no encoder), for the store validation tests and the fuzzer. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { STORE_FORMAT, STORE_VERSION, type StoreManifest } from "../../src/data/feature-store.js";
import { encodeHalf } from "../../src/data/float16.js";

export const L = 4;
export const D = 3;
const encoder = { name: "hand-made", modelSha256: "0".repeat(64), layer: "x", L, D, grid: [2, 2], inputSize: 8, normalisation: "none", preprocess: {} };

/** A two-shard store written by hand (rows of i + 0.25 * j), with its manifest. */
export function handMadeStore(): { dir: string; manifest: StoreManifest } {
  const dir = mkdtempSync(join(tmpdir(), "sat-store-"));
  const shards = [
    { file: "shard-00000.f16", ids: ["a.jpg", "b.jpg"] },
    { file: "shard-00001.f16", ids: ["c.jpg"] },
  ];
  let row = 0;
  for (const s of shards) {
    const half = new Uint16Array(s.ids.length * L * D);
    const vals = Float32Array.from({ length: half.length }, (_, j) => row + 0.25 * (j % (L * D)) + Math.floor(j / (L * D)));
    encodeHalf(vals, half, 0);
    row += s.ids.length;
    writeFileSync(join(dir, s.file), new Uint8Array(half.buffer));
  }
  const manifest = {
    format: STORE_FORMAT,
    version: STORE_VERSION,
    dtype: "float16",
    encoder,
    L,
    D,
    shardSize: 2,
    images: 4,
    encoded: 3,
    shards,
    failed: [{ id: "d.jpg", reason: "missing" }],
    saturated: 0,
  } as unknown as StoreManifest;
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
  return { dir, manifest };
}

