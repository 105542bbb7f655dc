// `sat serve`'s defences, each against the attack it is for: DNS rebinding (Host allow-list),
// cross-site POSTs (Origin), framing and sniffing (headers), a shared server (bearer token),
// an upload flood (byte budget, 503 at once), image shapes the decoder cannot resize (4xx),
// and option values outside their working range (refused before anything starts).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { OptionError } from "../../src/errors.js";
import { ImageError, prepareImage, PAPER_PREPROCESS } from "../../src/data/images.js";
import { startServer, type RunningServer, type StartOptions } from "../../src/serve/index.js";
import type { FakeBehaviour } from "./fake-worker.js";
import { makeTinyModel, thinPng } from "./fixtures.js";
import { errorCodeOf, rawRequest } from "./http-raw.js";

const FAKE = new URL("./fake-worker.ts", import.meta.url);
const WEB = new URL("../../src/serve/web/", import.meta.url).pathname;
let model: string;
const running: RunningServer[] = [];

before(async () => {
  model = await makeTinyModel();
});
after(async () => {
  await Promise.all(running.map((s) => s.close()));
});

async function serve(o: Partial<StartOptions> = {}, behaviour: FakeBehaviour = { delayMs: 0 }): Promise<RunningServer> {
  const s = await startServer({ modelDir: model, port: 0, workerModule: FAKE, workerData: behaviour, log: () => {}, ...o });
  running.push(s);
  return s;
}

const png = (width = 12, height = 8) => sharp({ create: { width, height, channels: 3, background: { r: 200, g: 20, b: 30 } } }).png().toBuffer();

const port = (s: RunningServer) => new URL(s.url).port;

describe("Host allow-list (DNS rebinding)", () => {
  test("a Host naming another site is refused on every route, the weights above all", async () => {
    const s = await serve();
    for (const path of ["/v1/model", "/v1/model/files/weights.bin", "/v1/model/files/model.json", "/healthz", "/openapi.json", "/"]) {
      const r = await rawRequest(s.url, { path, headers: { host: `evil.example:${port(s)}` } });
      assert.equal(r.status, 403, path);
      assert.equal(errorCodeOf(r), "host_not_allowed", path);
    }
    for (const host of ["evil.example", "127.0.0.1.evil.example", "localhost.evil.example", "evil.example:99999x"]) {
      assert.equal((await rawRequest(s.url, { path: "/v1/model", headers: { host } })).status, 403, host);
    }
    // Node's HTTP parser itself answers 400 to a missing or malformed Host; either way, no data.
    for (const [what, o] of [["no Host", { setHost: false }], ["two ports", { headers: { host: `evil.example:${port(s)}:80` } }], ["open bracket", { headers: { host: "[::1" } }]] as const) {
      const r = await rawRequest(s.url, { path: "/v1/model", ...o });
      assert.ok(r.status === 400 || r.status === 403, `${what}: ${r.status}`);
      assert.doesNotMatch(r.body, /vocabSize/, what);
    }
  });

  test("IP literals, localhost names and --allow-host names are answered", async () => {
    const s = await serve({ access: { allowHosts: ["captions.lan"] } });
    for (const host of [`127.0.0.1:${port(s)}`, `localhost:${port(s)}`, "LOCALHOST.", `app.localhost:${port(s)}`, `[::1]:${port(s)}`, "10.1.2.3", `captions.lan:${port(s)}`, "Captions.LAN"]) {
      const r = await rawRequest(s.url, { path: "/v1/model", headers: { host } });
      assert.equal(r.status, 200, `${host}: ${r.body.slice(0, 200)}`);
    }
    assert.equal((await rawRequest(s.url, { path: "/v1/model", headers: { host: "other.lan" } })).status, 403);
  });
});

describe("cross-origin requests", () => {
  test("a POST from another origin is refused; same-origin and Origin-less POSTs pass", async () => {
    const s = await serve();
    const body = await png();
    const post = (headers: Record<string, string>) => rawRequest(s.url, { method: "POST", path: "/v1/captions", headers: { "content-type": "image/png", ...headers }, body });
    const evil = await post({ origin: "http://evil.example" });
    assert.equal(evil.status, 403);
    assert.equal(errorCodeOf(evil), "cross_origin");
    assert.equal((await post({ origin: "null" })).status, 403, "sandboxed frames and file: pages send Origin: null");
    assert.equal((await post({ origin: `http://127.0.0.1:${port(s)}` })).status, 200, "the page itself");
    assert.equal((await post({})).status, 200, "curl and scripts send no Origin");
    // Preflight from anywhere is refused when --cors names no origin.
    assert.equal((await rawRequest(s.url, { method: "OPTIONS", path: "/v1/captions", headers: { origin: "http://evil.example", "access-control-request-method": "POST" } })).status, 403);
  });

  test("--cors ORIGIN: that origin may POST (preflight, then the request), no other", async () => {
    const s = await serve({ access: { corsOrigins: ["https://app.example"] } });
    const pre = await rawRequest(s.url, { method: "OPTIONS", path: "/v1/captions", headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type" } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers["access-control-allow-origin"], "https://app.example");
    assert.match(String(pre.headers["access-control-allow-methods"]), /POST/);
    assert.match(String(pre.headers["access-control-allow-headers"]), /content-type/);
    const ok = await rawRequest(s.url, { method: "POST", path: "/v1/captions", headers: { "content-type": "image/png", origin: "https://app.example" }, body: await png() });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers["access-control-allow-origin"], "https://app.example");
    const other = await rawRequest(s.url, { method: "POST", path: "/v1/captions", headers: { "content-type": "image/png", origin: "https://other.example" }, body: await png() });
    assert.equal(other.status, 403);
    assert.equal(other.headers["access-control-allow-origin"], undefined);
  });
});

describe("security headers", () => {
  test("the page ships no inline script, style attribute or event handler (so the CSP can forbid them)", () => {
    const html = readFileSync(join(WEB, "index.html"), "utf8");
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    assert.ok(scripts.length > 0);
    for (const [, attrs, text] of scripts) {
      assert.match(attrs, /\bsrc="\/assets\//, "every script is a file");
      assert.equal(text.trim(), "", "no inline script");
    }
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, "no inline event handlers");
    assert.doesNotMatch(html, /\sstyle\s*=/i, "no style attributes");
    assert.doesNotMatch(html, /<style\b/i, "no style elements");
    assert.doesNotMatch(html, /javascript:/i);
  });

  test("every response carries CSP (no inline script, frame-ancestors 'none'), nosniff and a referrer policy", async () => {
    const web = mkdtempSync(join(tmpdir(), "sat-web-"));
    copyFileSync(join(WEB, "index.html"), join(web, "index.html"));
    const s = await serve({ webRoot: web });
    for (const [path, status] of [["/", 200], ["/v1/model", 200], ["/healthz", 200], ["/v1/model/files/weights.bin", 200], ["/nothing", 404]] as const) {
      const r = await rawRequest(s.url, { path });
      assert.equal(r.status, status, path);
      const csp = String(r.headers["content-security-policy"]);
      assert.match(csp, /script-src 'self'( 'wasm-unsafe-eval')?(;|$)/, `${path}: ${csp}`);
      assert.doesNotMatch(csp, /'unsafe-inline'|'unsafe-eval'|\*/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.equal(r.headers["x-content-type-options"], "nosniff", path);
      assert.equal(r.headers["x-frame-options"], "DENY", path);
      assert.equal(r.headers["referrer-policy"], "no-referrer", path);
      assert.equal(r.headers["cross-origin-resource-policy"], "same-origin", path);
    }
  });
});

describe("--token", () => {
  test("the API needs the bearer token or the page's cookie; /healthz and the page stay open", async () => {
    const web = mkdtempSync(join(tmpdir(), "sat-web-"));
    copyFileSync(join(WEB, "index.html"), join(web, "index.html"));
    const token = "0123456789abcdef0123";
    const s = await serve({ webRoot: web, access: { token } });
    for (const path of ["/v1/model", "/v1/model/files/weights.bin", "/openapi.json"]) {
      const r = await rawRequest(s.url, { path });
      assert.equal(r.status, 401, path);
      assert.equal(errorCodeOf(r), "unauthorized");
      assert.match(String(r.headers["www-authenticate"]), /^Bearer/);
      assert.equal((await rawRequest(s.url, { path, headers: { authorization: `Bearer ${token}x` } })).status, 401, `${path}: wrong token`);
      assert.equal((await rawRequest(s.url, { path, headers: { authorization: `Bearer ${token}` } })).status, 200, path);
    }
    const body = await png();
    assert.equal((await rawRequest(s.url, { method: "POST", path: "/v1/captions", headers: { "content-type": "image/png" }, body })).status, 401);
    assert.equal((await rawRequest(s.url, { path: "/healthz" })).status, 200);
    assert.equal((await rawRequest(s.url, { path: "/" })).status, 200);
    // Opening the page with ?token= sets an HttpOnly, SameSite=Strict cookie and drops the token from the URL.
    assert.equal((await rawRequest(s.url, { path: "/?token=wrong-token-wrong-token" })).status, 401);
    const open = await rawRequest(s.url, { path: `/?token=${token}` });
    assert.equal(open.status, 303);
    assert.equal(open.headers.location, "/");
    const cookie = String(open.headers["set-cookie"]);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const jar = cookie.split(";")[0];
    assert.equal((await rawRequest(s.url, { path: "/v1/model", headers: { cookie: jar } })).status, 200);
    assert.equal((await rawRequest(s.url, { method: "POST", path: "/v1/captions", headers: { "content-type": "image/png", cookie: jar, origin: `http://127.0.0.1:${port(s)}` }, body })).status, 200);
  });

  test("a short token is refused before the server starts", async () => {
    await assert.rejects(startServer({ modelDir: model, port: 0, access: { token: "short" } }), (e: unknown) => e instanceof OptionError && /--token must be at least 16/.test((e as Error).message));
  });
});

describe("uploads in flight", () => {
  test("past the byte budget, uploads get 503 at once; the admitted ones finish; the budget comes back", async () => {
    const MiB = 1024 * 1024;
    // Four 900 kB uploads fit in 3.6 MiB; four stand-in workers hold them for 1.5 s, so all ten
    // arrive (within milliseconds, even on a loaded machine) while the first four hold their bytes.
    const s = await serve({ concurrency: 4, queueLimit: 20, limits: { maxBytes: MiB, uploadMemory: Math.round(3.6 * MiB) } }, { delayMs: 1500 });
    const body = Buffer.concat([await png(), Buffer.alloc(900 * 1024)]);
    const t0 = Date.now();
    const results = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const r = await rawRequest(s.url, { method: "POST", path: "/v1/captions", headers: { "content-type": "image/png", "content-length": String(body.length) }, body });
        return { status: r.status, code: errorCodeOf(r), ms: Date.now() - t0, retry: r.headers["retry-after"] };
      }),
    );
    const ok = results.filter((r) => r.status === 200);
    const busy = results.filter((r) => r.status === 503);
    assert.equal(ok.length + busy.length, 10, JSON.stringify(results));
    assert.equal(ok.length, 4, JSON.stringify(results));
    assert.ok(busy.every((r) => r.code === "uploads_busy" && r.retry === "1"));
    // "At once": every refusal came back before the first admitted upload was captioned.
    assert.ok(Math.max(...busy.map((r) => r.ms)) < Math.min(...ok.map((r) => r.ms)), JSON.stringify(results));
    const again = await rawRequest(s.url, { method: "POST", path: "/v1/captions", headers: { "content-type": "image/png" }, body });
    assert.equal(again.status, 200, "the reservations were given back");
  });

  test("an upload without Content-Length reserves the largest upload; a client that hangs up gives it back", async () => {
    const MiB = 1024 * 1024;
    const s = await serve({ limits: { maxBytes: MiB, uploadMemory: MiB } });
    // A chunked upload that never ends holds the whole budget.
    const u = new URL(s.url);
    const stalled = request({ host: u.hostname, port: u.port, method: "POST", path: "/v1/captions", headers: { "content-type": "image/png", "transfer-encoding": "chunked" } });
    const hungUp = new Promise((r) => stalled.once("close", r));
    stalled.on("error", () => {});
    stalled.write(Buffer.alloc(10));
    const small = await png();
    let blocked = null;
    for (let i = 0; i < 50 && blocked?.status !== 503; i++) {
      blocked = await rawRequest(s.url, { method: "POST", path: "/v1/captions", headers: { "content-type": "image/png" }, body: small });
    }
    assert.equal(blocked?.status, 503);
    stalled.destroy();
    await hungUp;
    let freed = null;
    for (let i = 0; i < 50 && freed?.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 20));
      freed = await rawRequest(s.url, { method: "POST", path: "/v1/captions", headers: { "content-type": "image/png" }, body: small });
    }
    assert.equal(freed?.status, 200);
  });
});

describe("image shapes", () => {
  test("a 1 x 40,000,000 PNG (under the pixel limit) gets a 400, as does 40,000,000 x 1", async () => {
    const s = await serve();
    for (const [w, h] of [[1, 40_000_000], [40_000_000, 1]]) {
      const r = await rawRequest(s.url, { method: "POST", path: "/v1/captions", headers: { "content-type": "image/png" }, body: thinPng(w, h) });
      assert.equal(r.status, 400, r.body);
      assert.equal(errorCodeOf(r), "unsupported_shape");
    }
    // A thin image the decoder can take still captions.
    assert.equal((await rawRequest(s.url, { method: "POST", path: "/v1/captions", headers: { "content-type": "image/png" }, body: thinPng(1, 30_000) })).status, 200);
  });

  test("the decoder itself reports the shape as an ImageError, not a raw sharp error", async () => {
    await assert.rejects(prepareImage(thinPng(1, 40_000_000), PAPER_PREPROCESS, "thin.png"), (e: unknown) => e instanceof ImageError && e.reason === "unsupported shape" && /thin\.png: unsupported shape \(1x40000000/.test(e.message));
    const ok = await prepareImage(thinPng(1, 30_000), PAPER_PREPROCESS);
    assert.equal(ok.pixels.length, 224 * 224 * 3);
  });
});

describe("option ranges", () => {
  test("limits outside their working range are refused before any worker starts", async () => {
    // 2^31 ms overflows setTimeout, which then fires at once: every request was a 504.
    for (const [limits, pattern] of [
      [{ timeoutMs: 2 ** 31 }, /timeoutMs must be an integer in \[1, 86400000\]/],
      [{ timeoutMs: 0.5 }, /timeoutMs/],
      [{ maxBytes: 0 }, /maxBytes/],
      [{ maxPixels: 1e12 }, /maxPixels/],
      [{ maxBeam: 1000 }, /maxBeam/],
      [{ uploadMemory: 1000, maxBytes: 2000 }, /uploadMemory \(1000\) must hold at least one upload/],
    ] as const) {
      await assert.rejects(startServer({ modelDir: "/nonexistent", port: 0, limits }), (e: unknown) => e instanceof OptionError && pattern.test((e as Error).message), JSON.stringify(limits));
    }
    for (const [o, pattern] of [
      [{ concurrency: 0 }, /concurrency/],
      [{ queueLimit: -1 }, /queueLimit/],
      [{ port: 70000 }, /port/],
      [{ access: { allowHosts: ["http://x.example/"] } }, /--allow-host/],
      [{ access: { corsOrigins: ["*"] } }, /--cors "\*": not an origin/],
      [{ access: { corsOrigins: ["https://a.example/path"] } }, /--cors/],
    ] as const) {
      await assert.rejects(startServer({ modelDir: "/nonexistent", ...o }), (e: unknown) => e instanceof OptionError && pattern.test((e as Error).message), JSON.stringify(o));
    }
  });
});
