// The web page of `sat serve`, end to end in headless Chromium (playwright-core driving the
// system's browser; it never downloads one): a small shapes-task model is trained, served on
// a loopback port, and a rendered scene is uploaded through the page's file input. The page
// must show the caption the model gives, draw the noun's attention map peaking on the object
// it names, and, in in-browser mode (model, encoder and beam search running in the page),
// give the same candidates as the server for three scenes. A second test does the same
// with a ResNet-50 model, whose encoder the page loads lazily and runs on tfjs.
//
// Skipped when no Chromium is installed, unless SAT_REQUIRE_BROWSER=1 (CI), which makes a
// missing browser (or native engine, needed to train the model in seconds) a failure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import sharp from "sharp";
import { Vocabulary } from "../../src/data/vocab.js";
import { resolveModelConfig } from "../../src/model/config.js";
import { initParams } from "../../src/model/init.js";
import { saveModel } from "../../src/model/model-dir.js";
import { Captioner } from "../../src/decode/captioner.js";
import { renderScenePng, type Scene } from "../../src/data/synthetic/index.js";
import { createNativeEngine } from "../../src/native/engine.js";
import type { ModelConfig } from "../../src/model/config.js";
import { startServer, type RunningServer } from "../../src/serve/index.js";
import { DEFAULT_SYNTHETIC_TASK, runSyntheticTask, saveSyntheticTaskModel } from "../../src/train/synthetic-task.js";

const REQUIRE = process.env.SAT_REQUIRE_BROWSER === "1";
const CHROMIUM = [process.env.SAT_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find((p): p is string => !!p && existsSync(p));
const NATIVE = createNativeEngine({ vocabSize: 5, embedDim: 1, hiddenDim: 1, attnDim: 1, featureDim: 1, numLocations: 1 } as ModelConfig) !== null;
const noBrowser = CHROMIUM ? false : "no Chromium found (/usr/bin/chromium: apt-get install chromium; or set SAT_CHROMIUM); SAT_REQUIRE_BROWSER=1 makes this a failure";
const skipBrowser = REQUIRE ? false : noBrowser;
const skipTraining = REQUIRE ? false : noBrowser || (NATIVE ? false : "native engine not built (the test trains its model with it)");

const ROOT = new URL("../..", import.meta.url).pathname;
/** The page's decoding settings the test uses (the page's defaults: beam 3, 3 candidates). */
const BEAM = 3;
const TOP_N = 3;
const WAIT_MS = 120_000;

interface PageCandidate {
  text: string;
  logProb: number;
}

/** Waits until the page has finished a run newer than `after` (or failed), and returns its run id and source. */
async function waitForRun(page: Page, after: number): Promise<{ run: number; source: string }> {
  await page.waitForFunction(
    (prev) => {
      const st = document.body.dataset.state;
      const run = Number(document.getElementById("result")?.dataset.run ?? 0);
      return st === "error" || (st === "ready" && run > prev);
    },
    after,
    { timeout: WAIT_MS },
  );
  const error = await page.locator("#error").textContent();
  assert.equal(await page.evaluate(() => document.body.dataset.state), "ready", `the page reported an error: ${error}`);
  return page.evaluate(() => {
    const r = document.getElementById("result")!;
    return { run: Number(r.dataset.run), source: r.dataset.source ?? "" };
  });
}

async function currentRun(page: Page): Promise<number> {
  return page.evaluate(() => Number(document.getElementById("result")?.dataset.run ?? 0));
}

async function candidates(page: Page): Promise<PageCandidate[]> {
  // The buttons carry the caption as given (the visible text marks empty or cut captions).
  return page.locator("#candidates button").evaluateAll((bs) =>
    bs.map((b) => ({ text: (b as HTMLElement).dataset.text ?? "", logProb: Number((b as HTMLElement).dataset.logProb) })),
  );
}

async function upload(page: Page, name: string, png: Buffer): Promise<void> {
  await page.setInputFiles("#file", { name, mimeType: "image/png", buffer: png });
}

/** The view canvas as RGB bytes. */
async function viewPixels(page: Page): Promise<{ size: number; rgb: number[] }> {
  return page.evaluate(() => {
    const c = document.getElementById("view") as HTMLCanvasElement;
    const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    const rgb: number[] = [];
    for (let p = 0; p < d.length; p += 4) rgb.push(d[p], d[p + 1], d[p + 2]);
    return { size: c.width, rgb };
  });
}

/**
 * Centre of the win x win window where the drawn map is strongest. The page draws a map by
 * dimming the image where attention is low (to 18%) and adding a haze where it is high, so
 * the drawn pixel over the plain pixel grows with the map's value at that pixel; averaged
 * over a window, its maximum is the map's peak region, whatever the colours underneath.
 */
function strongestWindow(overlay: number[], plain: number[], size: number, win = 16): { x: number; y: number } {
  const gain = new Float64Array(size * size);
  for (let p = 0; p < size * size; p++) {
    const base = plain[3 * p] + plain[3 * p + 1] + plain[3 * p + 2];
    gain[p] = (overlay[3 * p] + overlay[3 * p + 1] + overlay[3 * p + 2]) / Math.max(base, 30);
  }
  let best = { x: 0, y: 0, v: -Infinity };
  for (let y0 = 0; y0 + win <= size; y0 += 2) {
    for (let x0 = 0; x0 + win <= size; x0 += 2) {
      let s = 0;
      for (let y = y0; y < y0 + win; y++) for (let x = x0; x < x0 + win; x++) s += gain[y * size + x];
      if (s > best.v) best = { x: x0 + win / 2, y: y0 + win / 2, v: s };
    }
  }
  return best;
}

test("the page captions an uploaded scene, maps the noun onto its object, and agrees with in-browser mode", { skip: skipTraining, timeout: 15 * 60_000 }, async (t) => {
  assert.ok(CHROMIUM, "SAT_REQUIRE_BROWSER=1 but no Chromium was found (install Debian's chromium, or set SAT_CHROMIUM)");
  assert.ok(NATIVE, "SAT_REQUIRE_BROWSER=1 but the native engine is not built (it trains the test's model)");
  const dir = mkdtempSync(join(tmpdir(), "sat-browser-e2e-"));

  // 1. A small model of the shapes task (800 steps on 2,000 scenes: ~50% exact captions and
  //    ~85% of attention in the named object's box, enough to find correctly captioned
  //    scenes), saved with the `shapes` encoder that reads rendered PNGs.
  const res = runSyntheticTask({
    ...DEFAULT_SYNTHETIC_TASK,
    steps: 800,
    trainScenes: 2000,
    testScenes: 60,
    createEngine: (config, params) => createNativeEngine(config, params)!,
  });
  res.engine.dispose();
  const modelDir = join(dir, "model");
  saveSyntheticTaskModel(modelDir, res, { note: "browser e2e test" });

  // 2. The page, built into this test's folder (scripts/build-web.mjs: esbuild).
  const webRoot = join(dir, "web");
  const build = spawnSync(process.execPath, [join(ROOT, "scripts/build-web.mjs"), "--outdir", webRoot], { encoding: "utf8" });
  assert.equal(build.status, 0, `build-web failed:\n${build.stdout}\n${build.stderr}`);

  // 3. Held-out scenes as PNGs; the reference captions come from the model in this process
  //    (the server's code path without HTTP). The first scene the model captions exactly
  //    right with at least two objects is the one whose noun map is checked: with two
  //    objects, a map on the wrong one fails the box test.
  const pngs = await Promise.all(res.splits.test.map((s) => renderScenePng(s)));
  const oracle = Captioner.load(modelDir);
  const { results } = await oracle.captionImages(pngs, { beamWidth: BEAM, topN: TOP_N });
  oracle.dispose();
  const top = results.map((r) => r.captions[0].text);
  const pick = res.splits.test.findIndex((s, i) => s.objects.length >= 2 && s.captions.some((c) => c.text === top[i]));
  assert.ok(pick >= 0, `no held-out scene with 2+ objects was captioned exactly (captions: ${top.slice(0, 5).join(" | ")})`);
  const scene: Scene = res.splits.test[pick];

  let server: RunningServer | null = null;
  let browser: Browser | null = null;
  try {
    server = await startServer({ modelDir, host: "127.0.0.1", port: 0, webRoot, log: () => {} });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    const captionPosts: string[] = [];
    const modelFetches: string[] = [];
    const tfjsFetches: string[] = [];
    page.on("request", (r) => {
      if (r.method() === "POST" && r.url().includes("/v1/captions")) captionPosts.push(r.url());
      if (r.url().includes("/v1/model/files/")) modelFetches.push(r.url());
      if (/tfjs-encoder|\/wasm\//.test(r.url())) tfjsFetches.push(r.url());
    });

    await page.goto(server.url);
    await page.waitForFunction(() => document.body.dataset.state === "ready", null, { timeout: WAIT_MS });
    assert.match((await page.locator("#model-info").textContent()) ?? "", /shapes-scene-parser/);

    // 4. Server mode: upload, and the model's caption appears with its candidates.
    let run = await waitAfterUpload(page, `${scene.id}.png`, pngs[pick], 0);
    assert.equal(run.source, "server");
    const shown = await candidates(page);
    assert.equal(shown.length, TOP_N);
    assert.equal(shown[0].text, top[pick], "the page's first candidate is the model's caption");
    assert.equal(await page.locator("#candidates .cand-text").first().textContent(), top[pick], "and it is what the page shows");
    assert.deepEqual(shown.map((c) => c.text), results[pick].captions.map((c) => c.text));
    assert.ok(captionPosts.length === 1 && captionPosts[0].includes(`beam=${BEAM}`), `one POST with the page's beam width: ${captionPosts.join(", ")}`);

    // 5. Hover the noun of an object mention: the drawn map is strongest inside that object's box.
    const words = top[pick].split(" ");
    const p = words.findIndex((w, k) => k > 0 && scene.objects.filter((o) => o.shape === w && o.colour === words[k - 1]).length === 1);
    assert.ok(p > 0, `no "<colour> <shape>" mention in "${top[pick]}"`);
    const obj = scene.objects.find((o) => o.shape === words[p] && o.colour === words[p - 1])!;
    const plain = await viewPixels(page);
    assert.equal(plain.size, 224);
    await page.hover(`#words button[data-index="${p}"]`);
    await page.waitForFunction((i) => document.getElementById("view")?.dataset.word === String(i), p);
    const drawn = await viewPixels(page);
    const changed = drawn.rgb.filter((v, k) => v !== plain.rgb[k]).length;
    assert.ok(changed > drawn.rgb.length / 2, `hovering "${words[p]}" should redraw the view with its map (${changed} values changed)`);
    const peak = strongestWindow(drawn.rgb, plain.rgb, drawn.size);
    // The map is blurred (σ = 20 px) over 16 px cells: the peak window may sit a few pixels
    // off the box's edge for a small object, hence the 8 px margin (as in the learning test).
    const b = obj.box;
    assert.ok(
      peak.x >= b.x0 - 8 && peak.x <= b.x1 + 8 && peak.y >= b.y0 - 8 && peak.y <= b.y1 + 8,
      `"${words[p]}": the strongest region (${peak.x}, ${peak.y}) is outside the ${obj.colour} ${obj.shape}'s box ${JSON.stringify(b)}`,
    );
    const shotDir = process.env.SAT_SCREENSHOT_DIR ?? dir;
    const shot = join(shotDir, "sat-serve-page.png");
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`screenshot: ${shot}`);
    console.log(`browser e2e screenshot: ${shot}`);

    // Keyboard: arrow keys move between words (and their maps), Escape goes back to the image.
    const viewWord = () => page.evaluate(() => document.getElementById("view")!.dataset.word);
    await page.mouse.move(0, 0);
    await page.focus('#words button[data-index="0"]');
    assert.equal(await viewWord(), "0");
    await page.keyboard.press("ArrowRight");
    assert.equal(await viewWord(), "1");
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.index), "1");
    await page.keyboard.press("End");
    assert.equal(await viewWord(), String(words.length), "End reaches <end>");
    await page.keyboard.press("Escape");
    assert.equal(await viewWord(), "");

    // Play steps through the words by itself.
    await page.click("#play");
    await page.waitForFunction(() => document.getElementById("view")!.dataset.word === "1", null, { timeout: 10_000 });
    assert.equal(await page.getAttribute("#play", "aria-pressed"), "true");
    await page.click("#play");
    assert.equal(await viewWord(), "");

    // The figure download: a PNG of the input and one panel per word (<end> included).
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    const figure = await download.path();
    assert.match(download.suggestedFilename(), /^attention-.*\.png$/);
    const fig = await sharp(figure).metadata();
    const panels = words.length + 2;
    assert.equal(fig.format, "png");
    assert.ok((fig.width ?? 0) >= Math.min(6, panels) * 224 && (fig.height ?? 0) >= Math.ceil(panels / 6) * 224, `figure ${fig.width}x${fig.height} for ${panels} panels`);

    // 6. In-browser mode: the same candidates (text, and log p up to float rounding) as the
    //    server for three scenes, with no caption request leaving the page.
    const others = res.splits.test.map((_, i) => i).filter((i) => i !== pick).slice(0, 2);
    for (const i of [pick, ...others]) {
      if (i !== pick) {
        run = await waitAfterUpload(page, `${res.splits.test[i].id}.png`, pngs[i], run.run);
        assert.equal(run.source, "server");
      }
      const fromServer = await candidates(page);
      const posts: number = captionPosts.length;
      await page.check('input[name="mode"][value="browser"]');
      run = await waitForRun(page, run.run);
      assert.equal(run.source, "browser");
      const inBrowser = await candidates(page);
      assert.equal(captionPosts.length, posts, "in-browser mode must not POST the image");
      assert.deepEqual(inBrowser.map((c) => c.text), fromServer.map((c) => c.text), `scene ${res.splits.test[i].id}`);
      // Both engines hold float32 weights; the server's native one computes in float32, the
      // reference in float64: log p agrees to ~1e-5, far below the gaps that order beams.
      inBrowser.forEach((c, k) => assert.ok(Math.abs(c.logProb - fromServer[k].logProb) < 1e-3, `log p ${c.logProb} vs ${fromServer[k].logProb}`));
      await page.check('input[name="mode"][value="server"]');
      run = await waitForRun(page, run.run);
      assert.equal(run.source, "server");
    }
    // The model was downloaded once (model.json + weights.bin), not per caption.
    assert.deepEqual(modelFetches.map((u) => u.split("/").pop()).sort(), ["model.json", "weights.bin"]);
    // tfjs is a chunk of its own, never fetched for a shapes model.
    assert.deepEqual(tfjsFetches, []);
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser?.close();
    await server?.close();
  }
});

test("in-browser mode runs ResNet-50 on tfjs (lazily loaded) and captions a photo as the server does", { skip: skipBrowser, timeout: 10 * 60_000 }, async () => {
  assert.ok(CHROMIUM, "SAT_REQUIRE_BROWSER=1 but no Chromium was found (install Debian's chromium, or set SAT_CHROMIUM)");
  const dir = mkdtempSync(join(tmpdir(), "sat-browser-resnet-"));
  // An untrained decoder over ResNet-50's activation_39 (14x14x1024): what matters here is
  // that the page rebuilds the encoder (weights from the server, the cut, the normalisation)
  // exactly. Output weights are scaled up, as in the server tests' fixture, so the beams'
  // scores differ by image and are apart by far more than float noise.
  const vocab = Vocabulary.build(["a dog runs on the grass", "a cat sits on a red mat", "two people walk down the street"]);
  const config = resolveModelConfig({ vocabSize: vocab.size, embedDim: 8, hiddenDim: 12, attnDim: 6, featureDim: 1024, numLocations: 196 });
  const params = initParams(config, 3);
  for (let i = params.length - config.vocabSize * (config.embedDim + 1); i < params.length; i++) params[i] *= 100;
  const modelDir = join(dir, "model");
  saveModel(modelDir, { config, vocab: vocab.toJSON(), encoder: { spec: { kind: "resnet50", layer: "activation_39" }, name: "resnet50-activation_39", grid: [14, 14], L: 196, D: 1024 }, params });
  const webRoot = join(dir, "web");
  const build = spawnSync(process.execPath, [join(ROOT, "scripts/build-web.mjs"), "--outdir", webRoot], { encoding: "utf8" });
  assert.equal(build.status, 0, `build-web failed:\n${build.stdout}\n${build.stderr}`);
  // A 224x224 photo-like card: taken as it is on both sides, so the encoders see the same bytes.
  const card = Buffer.alloc(224 * 224 * 3);
  for (let y = 0; y < 224; y++) {
    for (let x = 0; x < 224; x++) {
      const k = (y * 224 + x) * 3;
      card[k] = x < 112 ? 200 : 40;
      card[k + 1] = Math.round(127 + 100 * Math.sin(x / 9) * Math.cos(y / 13));
      card[k + 2] = y;
    }
  }
  const png = await sharp(card, { raw: { width: 224, height: 224, channels: 3 } }).png().toBuffer();

  let server: RunningServer | null = null;
  let browser: Browser | null = null;
  try {
    server = await startServer({ modelDir, host: "127.0.0.1", port: 0, webRoot, log: () => {} });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    const fetched: string[] = [];
    page.on("request", (r) => fetched.push(new URL(r.url()).pathname));
    // WebAssembly, not WebGL: headless Chromium's WebGL is a slow software rasteriser, and
    // the wasm kernels are the server's own.
    await page.goto(`${server.url}/?backend=wasm`);
    await page.waitForFunction(() => document.body.dataset.state === "ready", null, { timeout: WAIT_MS });
    let run = await waitAfterUpload(page, "card.png", png, 0);
    const fromServer = await candidates(page);
    assert.ok(!fetched.some((p) => p.includes("tfjs-encoder")), "the tfjs chunk is not loaded before in-browser mode is chosen");
    await page.check('input[name="mode"][value="browser"]');
    run = await waitForRun(page, run.run);
    assert.equal(run.source, "browser");
    const inBrowser = await candidates(page);
    assert.match((await page.locator("#timing").textContent()) ?? "", /\(wasm\)/);
    assert.ok(fetched.some((p) => /^\/assets\/chunks\/tfjs-encoder-.*\.js$/.test(p)), "the tfjs chunk was loaded");
    assert.ok(fetched.some((p) => p.startsWith("/assets/wasm/") && p.endsWith(".wasm")), "the wasm binaries come from the page's assets");
    assert.ok(fetched.includes("/v1/encoder/files/model.json"), "ResNet-50 comes from the server");
    assert.deepEqual(inBrowser.map((c) => c.text), fromServer.map((c) => c.text));
    // Same pixels, same network on the same kernels (modulo threading): log p agrees to
    // ~1e-6 measured; the beams are ~0.03 apart.
    inBrowser.forEach((c, k) => assert.ok(Math.abs(c.logProb - fromServer[k].logProb) < 1e-3, `log p ${c.logProb} vs ${fromServer[k].logProb}`));
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser?.close();
    await server?.close();
  }
});

async function waitAfterUpload(page: Page, name: string, png: Buffer, after: number): Promise<{ run: number; source: string }> {
  const before = Math.max(after, await currentRun(page));
  await upload(page, name, png);
  return waitForRun(page, before);
}
