// The HTTP API of `sat serve` on a real listening server with a real caption worker (a small
// model whose encoder is a tiny tfjs network): routes, captions identical to the library's,
// overlays, and every kind of malformed upload answered with a 4xx JSON error while the
// server keeps answering.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import sharp from "sharp";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Captioner } from "../../src/decode/captioner.js";
import { prepareImage, preprocessFor } from "../../src/data/images.js";
import { renderSingleMap } from "../../src/viz/index.js";
import { startServer, type RunningServer } from "../../src/serve/index.js";
import { makeTinyModel, photo, pngBomb } from "./fixtures.js";

let model: string;
let server: RunningServer;
let url: string;

before(async () => {
  model = await makeTinyModel();
  server = await startServer({ modelDir: model, port: 0, limits: { maxBytes: 2 * 1024 * 1024, maxPixels: 4_000_000 }, log: () => {} });
  url = server.url;
});
after(async () => {
  await server?.close();
});

type ErrorJson = { error: { code: string; message: string } };

async function expectError(res: Response, status: number, code: string): Promise<ErrorJson> {
  const text = await res.text();
  assert.equal(res.status, status, `status for ${code}: ${text.slice(0, 300)}`);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const j = JSON.parse(text) as ErrorJson;
  assert.equal(j.error.code, code);
  assert.ok(j.error.message.length > 0 && !j.error.message.includes("\n"), "one-line message");
  return j;
}

function postRaw(body: Uint8Array | ReadableStream | null, type?: string, query = ""): Promise<Response> {
  const headers: Record<string, string> = type ? { "content-type": type } : {};
  // fetch's types want an ArrayBuffer-backed view (a Buffer may sit on a shared pool): copy.
  const payload = body instanceof Uint8Array ? new Uint8Array(body) : body;
  return fetch(`${url}/v1/captions${query}`, { method: "POST", headers, body: payload, ...(body instanceof ReadableStream ? { duplex: "half" } : {}) } as RequestInit);
}

function postForm(field: string, bytes: Uint8Array, query = ""): Promise<Response> {
  const fd = new FormData();
  fd.append(field, new Blob([new Uint8Array(bytes)], { type: "image/jpeg" }), "upload.jpg");
  return fetch(`${url}/v1/captions${query}`, { method: "POST", body: fd });
}

async function stillServing(): Promise<void> {
  const res = await fetch(`${url}/healthz`);
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { status: string }).status, "ok");
}

describe("routes", () => {
  test("GET /healthz: status and queue state", async () => {
    const res = await fetch(`${url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok", queue: { running: 0, waiting: 0, limit: 32, concurrency: 1 } });
  });

  test("GET /v1/model: the model's metadata, engine and the server's limits", async () => {
    const meta = JSON.parse(readFileSync(join(model, "model.json"), "utf8"));
    const j = (await (await fetch(`${url}/v1/model`)).json()) as Record<string, unknown>;
    assert.equal(j.name, "model");
    assert.deepEqual(j.config, meta.config);
    assert.equal(j.vocabSize, meta.config.vocabSize);
    assert.deepEqual(j.encoder, { spec: meta.encoder.spec, name: "tiny-mixed", grid: [8, 8], L: 64, D: 5 });
    assert.deepEqual(j.training, { note: "serve test model" });
    assert.ok(j.engine === "native" || j.engine === "reference");
    assert.deepEqual(j.limits, { maxBytes: 2 * 1024 * 1024, maxPixels: 4_000_000, maxBeam: 10, maxLength: 50, timeoutMs: 30_000, uploadMemory: 100 * 1024 * 1024 });
    assert.deepEqual(j.defaults, { beam: 3, topN: 1, maxLength: 20 });
  });

  test("GET /v1/model/files/*: the model directory's files byte for byte, nothing else", async () => {
    for (const f of ["model.json", "weights.bin"]) {
      const res = await fetch(`${url}/v1/model/files/${f}`);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(readFileSync(join(model, f))), f);
    }
    await expectError(await fetch(`${url}/v1/model/files/secret.txt`), 404, "not_found");
    await expectError(await fetch(`${url}/v1/model/files/..%2f..%2fetc%2fpasswd`), 404, "not_found");
  });

  test("GET /v1/encoder/files/*: 404 JSON for a model whose encoder is not resnet50", async () => {
    await expectError(await fetch(`${url}/v1/encoder/files/model.json`), 404, "no_encoder_files");
  });

  test("GET /openapi.json: a valid OpenAPI 3 document listing every route", async () => {
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: { content: Record<string, unknown> } }>> };
    const v = new Validator();
    const res = await v.validate(doc as unknown as Parameters<Validator["validate"]>[0]);
    assert.ok(res.valid, JSON.stringify(res.errors));
    assert.match(doc.openapi, /^3\./);
    const routes = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    for (const r of ["GET /healthz", "GET /v1/model", "GET /v1/model/files/{name}", "GET /v1/encoder/files/{name}", "POST /v1/captions", "GET /openapi.json", "GET /"]) {
      assert.ok(routes.includes(r), `${r} in ${routes.join(", ")}`);
    }
    const post = doc.paths["/v1/captions"].post;
    assert.deepEqual(Object.keys(post.requestBody!.content).sort(), ["application/octet-stream", "image/gif", "image/jpeg", "image/png", "image/webp", "multipart/form-data"]);
    for (const s of ["200", "400", "413", "415", "429", "503", "504"]) assert.ok(post.responses[s], `response ${s} documented`);
  });

  test("unknown routes: 404 JSON", async () => {
    await expectError(await fetch(`${url}/v2/nothing`), 404, "not_found");
  });
});

describe("captions", () => {
  test("raw bytes and multipart give exactly Captioner.captionImages' captions for the same bytes", async () => {
    const jpeg = await photo("jpeg");
    const png = await photo("png");
    const local = Captioner.load(model);
    try {
      for (const [name, bytes, res] of [
        ["raw JPEG", jpeg, await postRaw(jpeg, "image/jpeg", "?beam=3&topN=2")],
        ["raw PNG as octet-stream", png, await postRaw(png, "application/octet-stream", "?beam=3&topN=2")],
        ["multipart PNG", png, await postForm("image", png, "?beam=3&topN=2")],
      ] as const) {
        assert.equal(res.status, 200, name);
        const j = (await res.json()) as { captions: unknown[]; grid: number[]; image: { width: number; height: number; format: string }; timing: Record<string, number> };
        const { results } = await local.captionImages([bytes], { beamWidth: 3, topN: 2, maxLength: 20 });
        // Same engine kind, same bytes, same code path: identical to the last bit.
        assert.deepEqual(j.captions, results[0].captions, name);
        assert.equal(j.captions.length, 2);
        assert.deepEqual(j.grid, [8, 8]);
        assert.deepEqual(j.image, { width: 60, height: 40, format: bytes === jpeg ? "jpeg" : "png" });
        for (const k of ["queueMs", "prepareMs", "encodeMs", "decodeMs", "overlayMs", "totalMs"]) assert.ok(j.timing[k] >= 0, `timing.${k}`);
        assert.ok(j.timing.totalMs >= j.timing.encodeMs + j.timing.decodeMs);
      }
      // The two photos differ only in compression: both must not be the trivially same answer
      // for every input (a server returning a cached caption would pass the checks above once).
      const other = await sharp({ create: { width: 50, height: 50, channels: 3, background: { r: 0, g: 255, b: 0 } } }).png().toBuffer();
      const res = await postRaw(other, "image/png");
      const { results } = await local.captionImages([other], { beamWidth: 3, topN: 1, maxLength: 20 });
      assert.deepEqual(((await res.json()) as { captions: unknown }).captions, results[0].captions);
    } finally {
      local.dispose();
    }
  });

  test("requests sent together (captioned in one batch once queued) each get the captions they get alone", async () => {
    const images = [await photo("jpeg"), await photo("png"), ...(await Promise.all([0, 128, 255].map((g) => sharp({ create: { width: 40 + Math.floor(g / 8), height: 30, channels: 3, background: { r: 200, g, b: 40 } } }).png().toBuffer())))];
    const local = Captioner.load(model);
    try {
      // The first runs at once; the others queue behind it and go to the worker as one batch
      // (the pool's batching itself is checked with a stand-in worker in api-queue.test.ts).
      const answers = await Promise.all(images.map((bytes) => postRaw(bytes, "image/png", "?beam=3&topN=3")));
      for (const [k, res] of answers.entries()) {
        assert.equal(res.status, 200);
        const { results } = await local.captionImages([images[k]], { beamWidth: 3, topN: 3, maxLength: 20 });
        assert.deepEqual(((await res.json()) as { captions: unknown }).captions, results[0].captions, `image ${k}`);
      }
    } finally {
      local.dispose();
    }
  });

  test("query options: beam 1, topN, maxLength are applied", async () => {
    const res = await postRaw(await photo(), "image/jpeg", "?beam=1&maxLength=3");
    const j = (await res.json()) as { captions: { words: string[] }[] };
    assert.equal(j.captions.length, 1);
    assert.ok(j.captions[0].words.length <= 3);
  });

  test("overlay=true: every word's map is a 224x224 PNG equal to renderSingleMap over the crop", async () => {
    const jpeg = await photo();
    const res = await postRaw(jpeg, "image/jpeg", "?overlay=true&topN=2");
    assert.equal(res.status, 200);
    const j = (await res.json()) as { captions: { attention: { alpha: number[]; overlayPng?: string }[] }[] };
    const crop = (await prepareImage(jpeg, preprocessFor(16))).pixels;
    const cropPng = await sharp(crop, { raw: { width: 16, height: 16, channels: 3 } }).png().toBuffer();
    for (const c of j.captions) {
      for (const a of c.attention) {
        assert.ok(a.overlayPng, "overlayPng present");
        const buf = Buffer.from(a.overlayPng, "base64");
        const m = await sharp(buf).metadata();
        assert.equal(m.format, "png");
        assert.deepEqual([m.width, m.height], [224, 224]);
      }
    }
    // The first map drawn by the library from the same α: same pixels.
    const a0 = j.captions[0].attention[0];
    const expected = (await renderSingleMap({ image: cropPng, alpha: a0.alpha, grid: 8, size: 224, sigma: 20 })).png;
    const got = await sharp(Buffer.from(a0.overlayPng!, "base64")).raw().toBuffer();
    assert.ok(got.equals(await sharp(expected).raw().toBuffer()), "overlay pixels match renderSingleMap");
    // Without overlay=true there are none.
    const plain = (await (await postRaw(jpeg, "image/jpeg")).json()) as { captions: { attention: { overlayPng?: string }[] }[] };
    assert.ok(plain.captions[0].attention.every((a) => a.overlayPng === undefined));
  });
});

describe("malformed uploads: 4xx JSON, and the server keeps answering", () => {
  test("empty body", async () => {
    await expectError(await postRaw(new Uint8Array(0), "image/jpeg"), 400, "empty_body");
    await expectError(await postRaw(null), 400, "empty_body");
    const fd = new FormData();
    await expectError(await fetch(`${url}/v1/captions`, { method: "POST", body: fd }), 400, "empty_body");
    await stillServing();
  });

  test("truncated and corrupt JPEGs", async () => {
    const jpeg = await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 90, g: 20, b: 200 } } }).jpeg().toBuffer();
    // Cut inside the header: refused by the header check.
    await expectError(await postRaw(jpeg.subarray(0, 20), "image/jpeg"), 400, "corrupt_image");
    // Header intact, scan data cut in half: only decoding finds it (in the worker).
    await expectError(await postRaw(jpeg.subarray(0, jpeg.length >> 1), "image/jpeg"), 400, "corrupt_image");
    await expectError(await postForm("image", jpeg.subarray(0, jpeg.length >> 1)), 400, "corrupt_image");
    await stillServing();
  });

  test("a PNG header declaring 20000x20000: 413 from the header, never decoded", async () => {
    // Decoding this file would fail as truncated (400 corrupt_image), so 413 image_too_large
    // can only come from the header check, before any decoding.
    const t0 = performance.now();
    const j = await expectError(await postRaw(pngBomb(20000), "image/png"), 413, "image_too_large");
    assert.match(j.error.message, /20000x20000/);
    assert.ok(performance.now() - t0 < 5000, "answered from the header, not after a 1.2 GB decode");
    await expectError(await postForm("image", pngBomb(20000)), 413, "image_too_large");
    await stillServing();
  });

  test("50 MB bodies: declared length, chunked, and multipart", async () => {
    const big = Buffer.alloc(50 * 1024 * 1024, 0xff);
    big.set([0xff, 0xd8, 0xff], 0);
    await expectError(await postRaw(big, "image/jpeg"), 413, "body_too_large");
    // No Content-Length: the body parser stops at the limit.
    const chunked = Readable.toWeb(Readable.from((function* () {
      for (let i = 0; i < 50; i++) yield big.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024);
    })())) as ReadableStream;
    await expectError(await postRaw(chunked, "image/jpeg"), 413, "body_too_large");
    await expectError(await postForm("image", big), 413, "body_too_large");
    // A multipart body whose declared length passes the early check (the limit plus room for
    // part headers) but whose file is over the limit: the multipart parser's own limit.
    const justOver = Buffer.alloc(2 * 1024 * 1024 + 1000, 0xff);
    justOver.set([0xff, 0xd8, 0xff], 0);
    await expectError(await postForm("image", justOver), 413, "body_too_large");
    await stillServing();
  });

  test("wrong content types", async () => {
    const jpeg = await photo();
    await expectError(await postRaw(jpeg, "application/json"), 415, "unsupported_media_type");
    await expectError(await postRaw(jpeg, "text/plain"), 415, "unsupported_media_type");
    await expectError(await postRaw(Buffer.from("a=b"), "application/x-www-form-urlencoded"), 415, "unsupported_media_type");
    await stillServing();
  });

  test("bytes that are not an image", async () => {
    await expectError(await postRaw(Buffer.from("%PDF-1.4 not an image at all"), "image/jpeg"), 415, "not_an_image");
    await expectError(await postRaw(Buffer.from("<svg xmlns='http://www.w3.org/2000/svg'/>"), "image/svg+xml"), 415, "not_an_image");
    await expectError(await postForm("image", Buffer.from("just text")), 415, "not_an_image");
    await stillServing();
  });

  test("multipart with the wrong field, or more than one file", async () => {
    const jpeg = await photo();
    await expectError(await postForm("photo", jpeg), 400, "bad_multipart");
    const fd = new FormData();
    fd.append("image", new Blob([new Uint8Array(jpeg)]), "a.jpg");
    fd.append("image", new Blob([new Uint8Array(jpeg)]), "b.jpg");
    await expectError(await fetch(`${url}/v1/captions`, { method: "POST", body: fd }), 413, "too_many_parts");
    await expectError(await postRaw(jpeg, "multipart/form-data; boundary=nothing-here"), 400, "bad_multipart");
    await stillServing();
  });

  test("bad query parameters name the parameter", async () => {
    const jpeg = await photo();
    const cases: [string, RegExp][] = [
      ["?beam=0", /'beam'/],
      ["?beam=99", /'beam' must be at most 10/],
      ["?beam=abc", /'beam'/],
      ["?beam=2&topN=3", /'topN' must be at most the beam width 2/],
      ["?maxLength=500", /'maxLength' must be at most 50/],
      ["?overlay=maybe", /'overlay'/],
      ["?beams=3", /unknown query parameter 'beams'/],
    ];
    for (const [q, re] of cases) assert.match((await expectError(await postRaw(jpeg, "image/jpeg", q), 400, "bad_query")).error.message, re, q);
    await stillServing();
  });
});
