#!/usr/bin/env node
// Builds the page of `sat serve` into dist/web with esbuild: index.html, assets/app.{js,css},
// assets/worker.js (in-browser captioning), lazily loaded chunks (tfjs for ResNet-50 models)
// and tfjs-backend-wasm's binaries under assets/wasm/. Everything is served by `sat serve`
// itself: no CDN, no web fonts.
//
// The page imports shared modules (model format, beam search, heatmaps) that sit next to
// Node-only code. Imports of Node built-ins and of server-only packages are marked
// side-effect free so that tree-shaking drops them; if any is still referenced after that,
// the page would fail in the browser, so the build fails instead and names it.
//
// Usage: node scripts/build-web.mjs [--outdir DIR] [--dev]   (--dev: no minification)
import { createRequire } from "node:module";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SERVER_ONLY = new Set(["sharp", "onnxruntime-node"]);
// Only our own sources use "node:"-prefixed built-ins; packages' bare ones ("fs") are left to
// esbuild, which maps them through the packages' "browser" fields.
const isNodeOnly = (p) => p.startsWith("node:") || SERVER_ONLY.has(p);

/** @type {esbuild.Plugin} */
const nodeOnlyImports = {
  name: "node-only-imports",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === "entry-point" || !isNodeOnly(args.path)) return undefined;
      return { path: args.path, external: true, sideEffects: false };
    });
  },
};

/** Builds the page into `outdir` (default dist/web). Returns esbuild's metafile. */
export async function buildWeb({ outdir = join(root, "dist/web"), minify = true, log = console.log } = {}) {
  const web = join(root, "src/serve/web");
  const assets = join(outdir, "assets");
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(join(assets, "wasm"), { recursive: true });
  const result = await esbuild.build({
    entryPoints: { app: join(web, "app.ts"), worker: join(root, "src/serve/browser/worker.ts"), "app-style": join(web, "app.css") },
    entryNames: "[name]",
    chunkNames: "chunks/[name]-[hash]",
    outdir: assets,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "browser",
    target: ["chrome109", "firefox115", "safari16"],
    minify,
    sourcemap: true,
    metafile: true,
    legalComments: "linked",
    logLevel: "warning",
    plugins: [nodeOnlyImports],
  });
  // The CSS entry comes out as app-style.css (esbuild names CSS after its entry).
  copyFileSync(join(assets, "app-style.css"), join(assets, "app.css"));
  rmSync(join(assets, "app-style.css"));
  rmSync(join(assets, "app-style.css.map"), { force: true });
  rmSync(join(assets, "app-style.js"), { force: true });
  copyFileSync(join(web, "index.html"), join(outdir, "index.html"));

  const leaks = [];
  for (const [file, out] of Object.entries(result.metafile.outputs)) {
    for (const imp of out.imports ?? []) if (imp.external && isNodeOnly(imp.path)) leaks.push(`${relative(root, file)} imports ${imp.path}`);
  }
  if (leaks.length) throw new Error(`the page's bundle still uses server-only modules:\n  ${leaks.join("\n  ")}`);

  const require = createRequire(import.meta.url);
  const wasmDir = join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist");
  for (const f of readdirSync(wasmDir)) if (f.endsWith(".wasm")) copyFileSync(join(wasmDir, f), join(assets, "wasm", f));

  const sizes = Object.entries(result.metafile.outputs)
    .filter(([f]) => !f.endsWith(".map") && !f.endsWith(".LEGAL.txt") && !f.includes("app-style"))
    .map(([f, o]) => `${relative(outdir, f)} ${(o.bytes / 1024).toFixed(0)} KiB`);
  log(`build-web: ${relative(root, outdir) || outdir}: ${sizes.join(", ")}`);
  return result.metafile;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const i = args.indexOf("--outdir");
  await buildWeb({ outdir: i >= 0 ? resolve(args[i + 1]) : undefined, minify: !args.includes("--dev") }).catch((e) => {
    console.error(`build-web: ${e.message}`);
    process.exit(1);
  });
}
