#!/usr/bin/env node
// Builds the native decoder engine (native/*.cc, OpenBLAS) with node-gyp at install time.
// Never fails the install: without a compiler or OpenBLAS the package runs on the pure
// TypeScript reference path, and this script says so in one line. Node's headers must come
// from the local installation (nodedir), never from the network.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

const root = new URL("..", import.meta.url).pathname;
const require = createRequire(import.meta.url);
const force = process.argv.includes("--force");
const strict = force || process.env.SAT_REQUIRE_NATIVE === "1";

function skip(reason) {
  const msg = `show-attend-tell: native engine not built (${reason}); the TypeScript reference path will be used`;
  if (strict) {
    console.error(msg);
    process.exit(1);
  }
  console.warn(msg);
  process.exit(0);
}

if (process.env.SAT_SKIP_NATIVE === "1" && !force) skip("SAT_SKIP_NATIVE=1");

const blasHeaders = ["/usr/include/x86_64-linux-gnu/cblas.h", "/usr/include/aarch64-linux-gnu/cblas.h", "/usr/include/cblas.h", "/usr/include/openblas/cblas.h", "/usr/local/include/cblas.h"];
if (!blasHeaders.some((p) => existsSync(p))) skip("OpenBLAS headers not found: apt-get install libopenblas-dev");

// Node's own headers: npm's nodedir setting, else the prefix of the running node binary.
function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, dirname(dirname(process.execPath)), "/usr", "/usr/local"];
  return candidates.find((d) => d && existsSync(join(d, "include", "node", "node_api.h")));
}
const nodedir = findNodeDir();
if (!nodedir) skip("Node.js headers (include/node/node_api.h) not found next to the node binary");

let gyp;
try {
  gyp = require.resolve("node-gyp/bin/node-gyp.js");
} catch {
  skip("node-gyp is not installed");
}
const res = spawnSync(process.execPath, [gyp, "rebuild", `--nodedir=${nodedir}`, "--jobs=2"], {
  cwd: root,
  stdio: process.env.SAT_NATIVE_VERBOSE === "1" || strict ? "inherit" : ["ignore", "ignore", "pipe"],
  encoding: "utf8",
});
if (res.status !== 0) {
  const lastError = (res.stderr ?? "").split("\n").filter((l) => /error/i.test(l)).slice(0, 1).join(" ").trim();
  skip(`node-gyp failed${lastError ? `: ${lastError.slice(0, 200)}` : ""}; rerun with SAT_NATIVE_VERBOSE=1 npm run build:native`);
}
console.log("show-attend-tell: native engine built (build/Release/sat_native.node)");
