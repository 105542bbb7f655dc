/**
 * The page of `sat serve`: drop or choose a photo, get the beam's candidates from the server
 * (POST /v1/captions) or from the model running in this browser, and see for each word the
 * attention map over the crop the model saw, drawn by the same code as `sat caption`'s
 * figures (src/viz/heatmap.ts, src/viz/overlay.ts).
 */
import type { PreprocessOptions } from "../../data/images.js";
import type { CaptionCandidate, CaptionOptions } from "../../decode/caption-features.js";
import { attentionSigma } from "../../viz/attention-sigma.js";
import type { ModelConfig } from "../../model/config.js";
import { attentionHeatmap } from "../../viz/heatmap.js";
import { drawCellMarker, overlayAttention, type OverlayStyle } from "../../viz/overlay.js";
import { BrowserCaptioner } from "../browser/client.js";
import { preprocessOf, type EncoderInfo, type TfjsBackend } from "../browser/encoders.js";
import { errorMessage } from "../browser/http.js";
import { DecodeError, prepareCrop, rgbToImageData, type PreparedCrop } from "../browser/preprocess.js";

/** GET /v1/model, as the server sends it. */
interface ServerInfo {
  name: string;
  config: ModelConfig;
  vocabSize: number;
  encoder: EncoderInfo;
  engine: "native" | "reference";
  limits: { maxBytes: number; maxPixels: number; maxBeam: number; maxLength: number };
  /** The query's defaults: the server's decoding defaults. */
  defaults: { beam: number; topN: number; maxLength: number };
}

/** POST /v1/captions's answer. */
interface ServerCaptions {
  captions: CaptionCandidate[];
  grid: [number, number];
  image: { width: number; height: number; format: string };
  timing: { queueMs: number; encodeMs: number; decodeMs: number; totalMs: number };
}

type Mode = "server" | "browser";

interface Shown {
  captions: CaptionCandidate[];
  grid: [number, number];
  source: Mode;
  timing: string;
}

const PLAY_STEP_MS = 900;

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page is missing #${id}`);
  return el as T;
}

const ui = {
  info: $("model-info"),
  file: $<HTMLInputElement>("file"),
  drop: $("drop"),
  modeNote: $("mode-note"),
  beam: $<HTMLInputElement>("beam"),
  topN: $<HTMLInputElement>("topn"),
  style: $<HTMLSelectElement>("style"),
  status: $("status"),
  error: $("error"),
  result: $("result"),
  view: $<HTMLCanvasElement>("view"),
  viewCaption: $("view-caption"),
  words: $("words"),
  play: $<HTMLButtonElement>("play"),
  download: $<HTMLButtonElement>("download"),
  candidates: $<HTMLOListElement>("candidates"),
  timing: $("timing"),
};
const modeInputs = Array.from(document.querySelectorAll<HTMLInputElement>('input[name="mode"]'));

const state = {
  info: null as ServerInfo | null,
  mode: "server" as Mode,
  file: null as File | null,
  crop: null as PreparedCrop | null,
  cropNote: "",
  result: null as Shown | null,
  selected: 0,
  /** Word whose map stays on (clicked / tapped), or null. */
  pinned: null as number | null,
  /** Word under the pointer or keyboard focus, or null. */
  preview: null as number | null,
  playTimer: 0,
  playIndex: null as number | null,
  run: 0,
  /** Preprocessing of in-browser mode's encoder, once loaded. */
  browserPreprocess: null as PreprocessOptions | null,
};

/**
 * `?backend=wasm` (or webgl, cpu; comma-separated for an order) picks the tfjs backends of
 * in-browser mode's ResNet-50, for browsers whose WebGL is missing or unreliable.
 */
const BACKENDS = new URLSearchParams(location.search)
  .get("backend")
  ?.split(",")
  .filter((b): b is TfjsBackend => b === "webgl" || b === "wasm" || b === "cpu");

const browser = new BrowserCaptioner(new URL("./worker.js", import.meta.url), (stage, done, total) => {
  if (stage === "weights") setStatus(total > 0 ? `Downloading the model: ${mb(done)} of ${mb(total)} MB` : `Downloading the model: ${mb(done)} MB`);
  else if (stage === "encoder") setStatus("Preparing the image encoder in this browser…");
});

function loadInBrowser(): ReturnType<BrowserCaptioner["load"]> {
  return browser.load("", BACKENDS?.length ? BACKENDS : undefined);
}

function mb(bytes: number): string {
  return (bytes / 1048576).toFixed(bytes < 10 * 1048576 ? 1 : 0);
}

function setStatus(text: string): void {
  ui.status.textContent = text;
}

function setError(text: string | null): void {
  ui.error.hidden = text === null;
  ui.error.textContent = text ?? "";
  if (text !== null) document.body.dataset.state = "error";
}

function ms(x: number): string {
  return `${Math.round(x)} ms`;
}

// ---- model information ----------------------------------------------------------------

async function loadInfo(): Promise<void> {
  const res = await fetch("/v1/model");
  if (!res.ok) throw new Error(`the server did not describe its model (${res.status}: ${await errorMessage(res)})`);
  const info = (await res.json()) as ServerInfo;
  state.info = info;
  const c = info.config;
  const [gh, gw] = info.encoder.grid;
  ui.info.textContent =
    `Model “${info.name}”: ${c.attention} attention, ${info.vocabSize.toLocaleString()} words, ` +
    `encoder ${info.encoder.name} (${gh}×${gw}×${info.encoder.D}), server engine ${info.engine}.`;
  ui.beam.max = String(info.limits.maxBeam);
  ui.topN.max = String(info.limits.maxBeam);
  ui.beam.value = String(info.defaults.beam);
  // The page lists every candidate of the beam unless asked for fewer.
  ui.topN.value = String(info.defaults.beam);
  if (!info.encoder.spec) {
    setError(`This model was trained on ${info.encoder.name}, not on an image encoder's features, so it cannot caption photos.`);
    ui.file.disabled = true;
  }
}

// ---- decoding options, shared by both modes -----------------------------------------------

function options(): Required<Pick<CaptionOptions, "beamWidth" | "topN" | "maxLength">> {
  const info = state.info;
  if (!info) throw new Error("the server has not described its model yet");
  const beamWidth = clampInt(ui.beam.value, 1, info.limits.maxBeam, info.defaults.beam);
  const topN = clampInt(ui.topN.value, 1, beamWidth, beamWidth);
  ui.beam.value = String(beamWidth);
  ui.topN.value = String(topN);
  return { beamWidth, topN, maxLength: info.defaults.maxLength };
}

function clampInt(text: string, lo: number, hi: number, fallback: number): number {
  const v = Math.round(Number(text));
  return Number.isFinite(v) && text.trim() !== "" ? Math.min(hi, Math.max(lo, v)) : fallback;
}

// ---- captioning ---------------------------------------------------------------------------

async function captionOnServer(file: File): Promise<Shown> {
  const o = options();
  const q = new URLSearchParams({ beam: String(o.beamWidth), topN: String(o.topN), maxLength: String(o.maxLength) });
  const t0 = performance.now();
  const res = await fetch(`/v1/captions?${q}`, { method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file });
  if (!res.ok) throw new Error(await errorMessage(res));
  const body = (await res.json()) as ServerCaptions;
  const t = body.timing;
  return {
    captions: body.captions,
    grid: body.grid,
    source: "server",
    timing: `Server: encoder ${ms(t.encodeMs)}, decoder ${ms(t.decodeMs)}, queue ${ms(t.queueMs)}; round trip ${ms(performance.now() - t0)}.`,
  };
}

async function captionInBrowser(crop: PreparedCrop): Promise<Shown> {
  const loaded = await loadInBrowser();
  setStatus("Captioning in this browser…");
  const r = await browser.caption(crop.rgb, options());
  return {
    captions: r.captions,
    grid: loaded.grid,
    source: "browser",
    timing: `This browser: encoder ${ms(r.timing.encodeMs)} (${loaded.backend}), decoder ${ms(r.timing.decodeMs)} (TypeScript reference engine).`,
  };
}

function preprocessFor(mode: Mode): PreprocessOptions {
  if (mode === "browser" && state.browserPreprocess) return state.browserPreprocess;
  if (!state.info) throw new Error("the model is not described yet");
  return preprocessOf(state.info.encoder);
}

/** Captions the current file in the current mode; a newer run supersedes an older one. */
async function run(): Promise<void> {
  const file = state.file;
  if (!file || !state.info) return;
  const id = ++state.run;
  const mode = state.mode;
  stopPlaying();
  setError(null);
  document.body.dataset.state = "busy";
  ui.result.setAttribute("aria-busy", "true");
  try {
    // In-browser mode uploads nothing, so only server mode has the server's size limit.
    if (mode === "server" && file.size > state.info.limits.maxBytes) throw new Error(`The file is ${mb(file.size)} MB; the server takes at most ${mb(state.info.limits.maxBytes)} MB.`);
    if (mode === "browser") {
      setStatus("Loading the model into this browser…");
      state.browserPreprocess = (await loadInBrowser()).preprocess;
    } else {
      setStatus("Captioning on the server…");
    }
    const pre = preprocessFor(mode);
    let crop: PreparedCrop | null = null;
    try {
      crop = await prepareCrop(file, pre);
    } catch (e) {
      // The server may still read what this browser cannot (e.g. TIFF): captions without maps.
      if (!(e instanceof DecodeError) || mode === "browser") throw e;
    }
    const result = mode === "server" ? await captionOnServer(file) : await captionInBrowser(crop!);
    if (id !== state.run) return;
    state.crop = crop;
    state.cropNote = crop
      ? crop.width === pre.crop && crop.height === pre.crop && pre.keepExactCrop !== false
        ? `The ${pre.crop}×${pre.crop} image, taken as it is.`
        : `The ${pre.crop}×${pre.crop} centre crop of the ${crop.width}×${crop.height} image, its shorter side resized to ${pre.resize}.`
      : "This browser cannot display the image; the captions come from the server.";
    state.result = result;
    state.selected = 0;
    state.pinned = null;
    state.preview = null;
    render();
    setStatus(`Done: “${result.captions[0]?.text ?? ""}”.`);
    document.body.dataset.state = "ready";
  } catch (e) {
    if (id !== state.run) return;
    setStatus("");
    setError(e instanceof Error ? e.message : String(e));
  } finally {
    if (id === state.run) ui.result.removeAttribute("aria-busy");
  }
}

function setFile(file: File | null | undefined): void {
  if (!file) return;
  state.file = file;
  void run();
}

// ---- drawing --------------------------------------------------------------------------------

/** Whether maps can be drawn: heatmap.ts upsamples square grids. */
function squareGrid(): number | null {
  const g = state.result?.grid;
  return g && g[0] === g[1] ? g[0] : null;
}

/** The crop with word `i`'s map over it (or the plain crop), as RGB bytes. */
function pixelsFor(i: number | null, c: CaptionCandidate | undefined = state.result?.captions[state.selected]): Uint8Array | null {
  const crop = state.crop;
  if (!crop) return null;
  const g = squareGrid();
  const a = i === null ? undefined : c?.attention[i];
  if (!a || g === null) return crop.rgb;
  const heat = attentionHeatmap(a.alpha, g, crop.size, attentionSigma(crop.size));
  const px = overlayAttention(crop.rgb, heat, ui.style.value as OverlayStyle);
  if (a.location !== undefined) drawCellMarker(px, crop.size, g, a.location);
  return px;
}

function shownWord(): number | null {
  return state.playIndex ?? state.preview ?? state.pinned;
}

function drawView(): void {
  const crop = state.crop;
  const ctx = ui.view.getContext("2d");
  if (!ctx) return;
  if (!crop) {
    ctx.clearRect(0, 0, ui.view.width, ui.view.height);
    ui.view.setAttribute("aria-label", "No image to show");
    return;
  }
  if (ui.view.width !== crop.size) ui.view.width = ui.view.height = crop.size;
  const i = shownWord();
  const px = pixelsFor(i);
  if (px) ctx.putImageData(rgbToImageData(px, crop.size), 0, 0);
  const a = i === null ? undefined : state.result?.captions[state.selected]?.attention[i];
  ui.view.setAttribute(
    "aria-label",
    a ? `Attention when the model said “${a.word}”: bright where it looked, dark elsewhere.` : "The image the model saw, without attention.",
  );
  ui.view.dataset.word = a ? String(i) : "";
  for (const b of wordButtons()) b.classList.toggle("shown", Number(b.dataset.index) === i);
}

function render(): void {
  const r = state.result;
  if (!r) return;
  ui.result.hidden = false;
  ui.result.dataset.source = r.source;
  ui.result.dataset.run = String(state.run);
  ui.viewCaption.textContent = state.cropNote + (squareGrid() === null ? " (Attention maps need a square encoder grid.)" : "");
  ui.timing.textContent = r.timing;
  renderCandidates();
  renderWords();
  drawView();
}

function renderCandidates(): void {
  const r = state.result!;
  ui.candidates.replaceChildren(
    ...r.captions.map((c, k) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.setAttribute("aria-pressed", String(k === state.selected));
      const text = document.createElement("span");
      text.className = "cand-text";
      text.textContent = c.text + (c.finished ? "" : " …");
      const score = document.createElement("span");
      score.className = "cand-score";
      score.textContent = `log p ${c.logProb.toFixed(2)}`;
      score.title = c.score === c.logProb ? "log probability of the caption" : `ranking score ${c.score.toFixed(3)}`;
      b.append(text, score);
      b.dataset.text = c.text;
      b.dataset.logProb = String(c.logProb);
      b.addEventListener("click", () => {
        state.selected = k;
        state.pinned = null;
        state.preview = null;
        stopPlaying();
        renderCandidates();
        renderWords();
        drawView();
      });
      li.append(b);
      return li;
    }),
  );
}

function renderWords(): void {
  const c = state.result!.captions[state.selected];
  const canMap = squareGrid() !== null && state.crop !== null;
  ui.words.replaceChildren(
    ...(c?.attention ?? []).map((a, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.index = String(i);
      b.dataset.word = a.word;
      b.className = a.word === "<end>" ? "end" : "";
      b.tabIndex = i === 0 ? 0 : -1;
      b.disabled = !canMap;
      b.setAttribute("aria-pressed", String(state.pinned === i));
      b.title = `gate β = ${a.beta.toFixed(2)} (how much the image fed this word)`;
      const w = document.createElement("span");
      w.textContent = a.word;
      const beta = document.createElement("span");
      beta.className = "beta";
      beta.style.width = `${Math.round(100 * Math.min(1, Math.max(0, a.beta)))}%`;
      beta.setAttribute("aria-hidden", "true");
      b.append(w, beta);
      return b;
    }),
  );
}

function wordButtons(): HTMLButtonElement[] {
  return Array.from(ui.words.querySelectorAll<HTMLButtonElement>("button"));
}

function wordIndexOf(target: EventTarget | null): number | null {
  const b = (target as HTMLElement | null)?.closest?.("button");
  return b && ui.words.contains(b) ? Number(b.dataset.index) : null;
}

// ---- words: hover, focus, tap, keys, play ---------------------------------------------------

ui.words.addEventListener("mouseover", (e) => {
  const i = wordIndexOf(e.target);
  if (i === null || i === state.preview) return;
  state.preview = i;
  drawView();
});
ui.words.addEventListener("mouseleave", () => {
  state.preview = null;
  drawView();
});
ui.words.addEventListener("focusin", (e) => {
  const i = wordIndexOf(e.target);
  if (i === null) return;
  // Roving tab stop: the focused word is the one Tab comes back to.
  for (const b of wordButtons()) b.tabIndex = Number(b.dataset.index) === i ? 0 : -1;
  state.preview = i;
  drawView();
});
ui.words.addEventListener("focusout", (e) => {
  if (ui.words.contains(e.relatedTarget as Node | null)) return;
  state.preview = null;
  drawView();
});
ui.words.addEventListener("click", (e) => {
  const i = wordIndexOf(e.target);
  if (i === null) return;
  state.pinned = state.pinned === i ? null : i;
  for (const b of wordButtons()) b.setAttribute("aria-pressed", String(Number(b.dataset.index) === state.pinned));
  drawView();
});
ui.words.addEventListener("keydown", (e) => {
  const buttons = wordButtons();
  const i = wordIndexOf(e.target);
  if (i === null || buttons.length === 0) return;
  const go: Record<string, number> = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: buttons.length - 1 };
  if (e.key in go) {
    e.preventDefault();
    buttons[Math.min(buttons.length - 1, Math.max(0, go[e.key]))].focus();
  } else if (e.key === "Escape") {
    state.pinned = null;
    state.preview = null;
    for (const b of buttons) b.setAttribute("aria-pressed", "false");
    (e.target as HTMLElement).blur();
    drawView();
  }
});

function stopPlaying(): void {
  if (state.playTimer) window.clearInterval(state.playTimer);
  state.playTimer = 0;
  state.playIndex = null;
  ui.play.setAttribute("aria-pressed", "false");
  ui.play.textContent = "Play the words";
}

ui.play.addEventListener("click", () => {
  if (state.playTimer) {
    stopPlaying();
    drawView();
    return;
  }
  const n = state.result?.captions[state.selected]?.attention.length ?? 0;
  if (n === 0 || !state.crop) return;
  ui.play.setAttribute("aria-pressed", "true");
  ui.play.textContent = "Stop";
  state.playIndex = 0;
  drawView();
  state.playTimer = window.setInterval(() => {
    if (state.playIndex === null || state.playIndex + 1 >= n) {
      stopPlaying();
    } else {
      state.playIndex++;
    }
    drawView();
  }, PLAY_STEP_MS);
});

ui.style.addEventListener("change", () => drawView());

// ---- the figure ---------------------------------------------------------------------------

/** The paper-style figure: the crop, then one labelled panel per word of the selected caption. */
function figureCanvas(): HTMLCanvasElement | null {
  const r = state.result;
  const crop = state.crop;
  const c = r?.captions[state.selected];
  if (!r || !crop || !c) return null;
  const size = crop.size;
  const panels = [{ label: "input", sub: "", px: crop.rgb }, ...c.attention.map((a, i) => ({ label: a.word, sub: `β ${a.beta.toFixed(2)}`, px: pixelsFor(i, c)! }))];
  const cols = Math.min(6, panels.length);
  const rows = Math.ceil(panels.length / cols);
  const pad = 10;
  const labelH = 38;
  const headerH = 34;
  const canvas = document.createElement("canvas");
  canvas.width = pad + cols * (size + pad);
  canvas.height = headerH + rows * (size + labelH) + pad;
  const ctx = canvas.getContext("2d")!;
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#111111";
  ctx.textBaseline = "middle";
  ctx.font = "600 16px system-ui, sans-serif";
  ctx.fillText(`“${c.text}”   (log p ${c.logProb.toFixed(2)})`, pad, headerH / 2 + 2, canvas.width - 2 * pad);
  panels.forEach((p, k) => {
    const x = pad + (k % cols) * (size + pad);
    const y = headerH + Math.floor(k / cols) * (size + labelH);
    ctx.putImageData(rgbToImageData(p.px, size), x, y);
    ctx.fillStyle = "#111111";
    ctx.textAlign = "center";
    ctx.font = "600 15px system-ui, sans-serif";
    ctx.fillText(p.label, x + size / 2, y + size + 12, size);
    ctx.fillStyle = "#555555";
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillText(p.sub, x + size / 2, y + size + 28, size);
  });
  return canvas;
}

ui.download.addEventListener("click", () => {
  const canvas = figureCanvas();
  if (!canvas) return;
  canvas.toBlob((blob) => {
    if (!blob) return setError("This browser could not make the PNG.");
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    const words = state.result?.captions[state.selected]?.words ?? [];
    a.download = `attention-${words.join("-").replace(/[^\w-]+/g, "").slice(0, 60) || "figure"}.png`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }, "image/png");
});

// ---- input: file, drop, paste, mode -------------------------------------------------------

ui.file.addEventListener("change", () => {
  setFile(ui.file.files?.[0]);
});

for (const type of ["dragenter", "dragover"] as const) {
  window.addEventListener(type, (e) => {
    if (!e.dataTransfer?.types.includes("Files")) return;
    e.preventDefault();
    ui.drop.classList.add("dragging");
  });
}
window.addEventListener("dragleave", (e) => {
  if (e.relatedTarget === null) ui.drop.classList.remove("dragging");
});
// A drop anywhere on the page is taken (a missed drop zone would otherwise open the file).
window.addEventListener("drop", (e) => {
  e.preventDefault();
  ui.drop.classList.remove("dragging");
  if (!ui.file.disabled) setFile(e.dataTransfer?.files[0]);
});
window.addEventListener("paste", (e) => {
  const f = Array.from(e.clipboardData?.files ?? []).find((x) => x.type.startsWith("image/"));
  if (f && !ui.file.disabled) setFile(f);
});

for (const input of modeInputs) {
  input.addEventListener("change", () => {
    if (!input.checked) return;
    state.mode = input.value as Mode;
    ui.modeNote.textContent =
      state.mode === "browser"
        ? "The model runs in this page: your photo is not uploaded. The first caption downloads the model."
        : "In-browser mode downloads the model once and captions without uploading your photo.";
    if (state.file) void run();
    else if (state.mode === "browser") {
      // Start the download now, so the first photo is captioned sooner.
      setStatus("Loading the model into this browser…");
      loadInBrowser().then(
        (i) => {
          state.browserPreprocess = i.preprocess;
          setStatus(`Model loaded in this browser (${i.parameters.toLocaleString()} parameters, encoder on ${i.backend}).`);
        },
        (e: Error) => setError(e.message),
      );
    }
  });
}

ui.beam.addEventListener("change", () => void run());
ui.topN.addEventListener("change", () => void run());

loadInfo().then(
  () => {
    document.body.dataset.state = "ready";
    setStatus("Ready: drop or choose a photo.");
  },
  (e: Error) => setError(e.message),
);
