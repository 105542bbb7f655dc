// The command table loads what every command needs and no more: the HTTP stack, TensorFlow.js
// and the training pipeline load in the action of the command that uses them, so that
// `sat eval`, `sat --help` and the rest do not pay for them at start-up. Checked in a fresh
// process (this one has loaded everything), through the CommonJS module cache that fastify's
// and TensorFlow.js's packages land in when imported.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** The npm packages in the module cache of a fresh process after `code` ran. */
function packagesLoadedBy(code: string): Set<string> {
  const script = `${code}
const { createRequire } = await import("node:module");
const names = Object.keys(createRequire(import.meta.url).cache).map((k) => k.match(/node_modules\\/((?:@[^/]+\\/)?[^/]+)/)?.[1]).filter(Boolean);
console.log(JSON.stringify([...new Set(names)]));`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: root, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return new Set(JSON.parse(r.stdout.trim().split("\n").pop()!) as string[]);
}

const cli = pathToFileURL(join(root, "src/cli/index.ts")).href;
const heavy = ["fastify", "@tensorflow/tfjs-core", "@tensorflow/tfjs-backend-wasm"];

test("building the sat command table loads neither the HTTP stack nor TensorFlow.js", () => {
  const loaded = packagesLoadedBy(`const { buildProgram } = await import(${JSON.stringify(cli)}); buildProgram();`);
  assert.ok(loaded.has("commander"), "the probe sees the CLI's own packages");
  for (const p of heavy) assert.ok(!loaded.has(p), `${p} loaded at start-up`);
});

test("the probe does see them once the server and the captioner are imported", () => {
  const loaded = packagesLoadedBy(
    `await import(${JSON.stringify(pathToFileURL(join(root, "src/serve/index.ts")).href)}); await import(${JSON.stringify(pathToFileURL(join(root, "src/decode/captioner.ts")).href)});`,
  );
  for (const p of heavy) assert.ok(loaded.has(p), `${p} not seen`);
});
