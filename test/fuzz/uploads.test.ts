// Seeded-random fuzzing of `sat serve`'s upload path, with the real caption worker (a tiny
// model, so each caption takes milliseconds): mutated JPEG/PNG/WebP/GIF/TIFF files, PNG
// headers declaring random and extreme shapes, random bytes, random Content-Types, multipart
// bodies and query strings. Every answer must be 200 or a 4xx with a one-line JSON error:
// never a 500, a hang, or a dead worker; the server still answers afterwards.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import sharp from "sharp";
import { startServer, type RunningServer } from "../../src/serve/index.js";
import { makeTinyModel } from "../serve/fixtures.js";
import { errorCodeOf, rawRequest } from "../serve/http-raw.js";
import { fuzzLoop, mutateBytes, pick, type SeededRandom } from "./mutate.js";

let server: RunningServer;
const logged: string[] = [];
let seeds: Buffer[] = [];

before(async () => {
  const model = await makeTinyModel();
  server = await startServer({ modelDir: model, port: 0, limits: { maxBytes: 512 * 1024, maxPixels: 4_000_000, timeoutMs: 20_000 }, log: (l) => logged.push(l) });
  const raw = Buffer.alloc(24 * 16 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37) & 255;
  const base = () => sharp(raw, { raw: { width: 24, height: 16, channels: 3 } });
  seeds = await Promise.all([base().jpeg().toBuffer(), base().png().toBuffer(), base().webp().toBuffer(), base().gif().toBuffer(), base().tiff().toBuffer()]);
});
after(async () => {
  await server?.close();
});

/** A PNG's IHDR rewritten to declare w x h (its CRC fixed, so only the shape is wrong). */
function withPngShape(png: Buffer, w: number, h: number): Buffer {
  const b = Buffer.from(png);
  b.writeUInt32BE(w >>> 0, 16);
  b.writeUInt32BE(h >>> 0, 20);
  b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
  return b;
}

const EXTREME = [0, 1, 2, 223, 224, 225, 16383, 16384, 65535, 65536, 1_000_000, 40_000_000, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];
const TYPES = ["image/png", "image/jpeg", "application/octet-stream", "image/webp", "image/x-anything", "IMAGE/PNG; charset=binary", "text/plain", "application/json", "", "multipart/form-data", "multipart/form-data; boundary=zzz"];
const QUERIES = ["", "?beam=1", "?beam=3&topN=2", "?beam=0", "?beam=-1", "?beam=1e9", "?topN=9&beam=2", "?maxLength=0", "?maxLength=1000", "?overlay=true", "?overlay=maybe", "?beam=abc", "?unknown=1", "?beam=2&beam=3", "?%zz"];

function uploadBody(rng: SeededRandom): Buffer {
  const seed = pick(rng, seeds);
  switch (rng.int(5)) {
    case 0:
      return Buffer.from(seed);
    case 1: {
      let b: Uint8Array = seed;
      for (let k = 0, n = 1 + rng.int(4); k < n; k++) b = mutateBytes(rng, b);
      return Buffer.from(b);
    }
    case 2:
      return withPngShape(seeds[1], pick(rng, EXTREME), pick(rng, EXTREME));
    case 3:
      return Buffer.from(Array.from({ length: rng.int(2048) }, () => rng.int(256)));
    default:
      // A valid header, then the body of another format.
      return Buffer.concat([seed.subarray(0, 8 + rng.int(40)), pick(rng, seeds).subarray(rng.int(64))]);
  }
}

function multipart(rng: SeededRandom, file: Buffer): { type: string; body: Buffer } {
  const boundary = `b${rng.int(1e9)}`;
  const field = pick(rng, ["image", "image", "file", ""]);
  const parts = [`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="x"\r\nContent-Type: image/png\r\n\r\n`, file, `\r\n--${boundary}${rng.next() < 0.8 ? "--" : ""}\r\n`];
  if (rng.next() < 0.2) parts.splice(2, 0, `\r\n--${boundary}\r\nContent-Disposition: form-data; name="extra"\r\n\r\nvalue`);
  return { type: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p))) };
}

test("fuzz: uploads get 200 or a one-line 4xx JSON error, never a 500, a hang or a dead worker", async (t) => {
  const statuses = new Map<number, number>();
  const n = await fuzzLoop(707, 400, 8000, async (rng, i) => {
    let body = uploadBody(rng);
    let type = pick(rng, TYPES);
    if (rng.next() < 0.25) ({ type, body } = multipart(rng, body));
    const headers: Record<string, string> = type ? { "content-type": type } : {};
    const r = await rawRequest(server.url, { method: "POST", path: `/v1/captions${rng.next() < 0.5 ? "" : pick(rng, QUERIES)}`, headers, body, timeoutMs: 20_000 });
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    const what = `upload #${i} (${type || "no type"}, ${body.length} bytes): ${r.status} ${r.body.slice(0, 200)}`;
    assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), what);
    if (r.status !== 200) {
      const code = errorCodeOf(r);
      assert.match(code, /^[a-z_]+$/, what);
      const message = (JSON.parse(r.body) as { error: { message: string } }).error.message;
      assert.ok(message.length > 0 && !message.includes("\n"), what);
    }
  });
  t.diagnostic(`${n} uploads; answers by status: ${JSON.stringify(Object.fromEntries(statuses))}`);
  assert.ok(n >= 50, `only ${n} uploads in the budget`);
  assert.ok((statuses.get(200) ?? 0) > 0 && [...statuses.keys()].some((s) => s >= 400), `a mix of answers: ${JSON.stringify([...statuses])}`);
  assert.deepEqual(logged, [], "no worker died and nothing was logged as an internal error");
  const health = await rawRequest(server.url, { path: "/healthz" });
  assert.equal(health.status, 200);
});
