// Routes through Fastify's inject with a stub pool (no worker: they never caption): the
// ResNet-50 encoder's tfjs files for resnet50 models (browser mode), the web page from
// dist/web or 503 JSON when it has not been built, and unexpected errors as 500 JSON.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { resnet50ModelPath } from "../../src/encoder/resnet.js";
import { loadModel } from "../../src/model/model-dir.js";
import { buildServer } from "../../src/serve/server.js";
import type { CaptionPool } from "../../src/serve/pool.js";
import { makeTinyModel, photo } from "./fixtures.js";

/** Just enough of a pool for routes that only read the model's metadata. */
function stubPool(meta: ReturnType<typeof loadModel>["meta"]): CaptionPool {
  return {
    info: { meta, engine: "reference", inputSize: 224 },
    stats: () => ({ running: 0, waiting: 0, concurrency: 1, limit: 0 }),
    checkAdmission: () => {},
    submit: () => Promise.reject(new Error("stub pool: no captioning here")),
  } as unknown as CaptionPool;
}

test("/v1/encoder/files/*: a resnet50 model serves the packaged ResNet-50's model.json and weights, nothing outside", async () => {
  const model = await makeTinyModel();
  const { meta } = loadModel(model);
  const resnetMeta = { ...meta, encoder: { ...meta.encoder, spec: { kind: "resnet50" as const } } };
  const app = await buildServer({ pool: stubPool(resnetMeta), modelDir: model });
  try {
    const dir = dirname(resnet50ModelPath());
    const mj = await app.inject({ url: "/v1/encoder/files/model.json" });
    assert.equal(mj.statusCode, 200);
    assert.ok(mj.rawPayload.equals(readFileSync(join(dir, "model.json"))));
    // Every shard that model.json lists is reachable at the path it names (relative URLs).
    const manifest = JSON.parse(mj.payload) as { weightsManifest: { paths: string[] }[] };
    const first = manifest.weightsManifest[0].paths[0];
    const shard = await app.inject({ url: `/v1/encoder/files/${first}` });
    assert.equal(shard.statusCode, 200);
    assert.ok(shard.rawPayload.equals(readFileSync(join(dir, first))));
    for (const bad of ["..%2Fpackage.json", "..%2F..%2Fpackage.json", ".hidden", "missing.bin"]) {
      const r = await app.inject({ url: `/v1/encoder/files/${bad}` });
      assert.equal(r.statusCode, 404, bad);
      assert.equal(r.json().error.code, "not_found", bad);
    }
  } finally {
    await app.close();
  }
});

test("the web page: 503 JSON when dist/web is missing, the files when it is built", async () => {
  const model = await makeTinyModel();
  const { meta } = loadModel(model);
  const web = mkdtempSync(join(tmpdir(), "sat-web-"));
  const app = await buildServer({ pool: stubPool(meta), modelDir: model, webRoot: web });
  try {
    let r = await app.inject({ url: "/" });
    assert.equal(r.statusCode, 503);
    assert.equal(r.json().error.code, "web_not_built");
    assert.match(r.json().error.message, /npm run build/);
    // Built while the server runs: picked up without a restart.
    mkdirSync(join(web, "assets"));
    writeFileSync(join(web, "index.html"), "<!doctype html><title>sat</title>");
    writeFileSync(join(web, "assets", "app.js"), "console.log(1)");
    r = await app.inject({ url: "/" });
    assert.equal(r.statusCode, 200);
    assert.match(r.headers["content-type"] as string, /^text\/html/);
    assert.equal(r.payload, "<!doctype html><title>sat</title>");
    r = await app.inject({ url: "/assets/app.js" });
    assert.equal(r.statusCode, 200);
    assert.equal(r.payload, "console.log(1)");
    for (const bad of ["/assets/..%2Findex.html", "/assets/missing.js"]) assert.equal((await app.inject({ url: bad })).statusCode, 404, bad);
  } finally {
    await app.close();
  }
});

test("an unexpected error inside a handler is a 500 JSON error, logged, and the server goes on", async () => {
  const model = await makeTinyModel();
  const { meta } = loadModel(model);
  const pool = stubPool(meta);
  const logged: string[] = [];
  const app = await buildServer({ pool, modelDir: model, logError: (l) => logged.push(l) });
  try {
    const png = await photo("png");
    for (const fail of [() => Promise.reject(new Error("boom: async")), () => { throw new TypeError("boom: sync"); }]) {
      (pool as unknown as { submit: () => unknown }).submit = fail;
      const r = await app.inject({ method: "POST", url: "/v1/captions", headers: { "content-type": "image/png" }, payload: png });
      assert.equal(r.statusCode, 500);
      assert.deepEqual(r.json(), { error: { code: "internal_error", message: "internal server error (details are in the server's log)" } });
    }
    assert.equal(logged.length, 2);
    assert.match(logged[0], /POST \/v1\/captions: Error: boom: async/);
    assert.match(logged[1], /TypeError: boom: sync/);
    assert.equal((await app.inject({ url: "/healthz" })).statusCode, 200);
  } finally {
    await app.close();
  }
});

test("Content-Type parameters and letter case do not matter", async () => {
  const model = await makeTinyModel();
  const { meta } = loadModel(model);
  const pool = stubPool(meta);
  let calls = 0;
  (pool as unknown as { submit: () => unknown }).submit = async () => {
    calls++;
    return { result: { captions: [], image: { width: 60, height: 40, format: "png" }, timing: { prepareMs: 0, encodeMs: 0, decodeMs: 0, overlayMs: 0 } }, queueMs: 0 };
  };
  const app = await buildServer({ pool, modelDir: model });
  try {
    const png = await photo("png");
    for (const type of ["image/png; foo=bar", "IMAGE/PNG", "image/png ;charset=x", "application/octet-stream; x=1"]) {
      const r = await app.inject({ method: "POST", url: "/v1/captions", headers: { "content-type": type }, payload: png });
      assert.equal(r.statusCode, 200, `${type}: ${r.payload}`);
    }
    assert.equal(calls, 4);
  } finally {
    await app.close();
  }
});
