#!/usr/bin/env node
// Builds the native decoder engine (native/*.cc, OpenBLAS) with node-gyp at install time.
// Never fails the install: without a compiler or OpenBLAS the package runs on the pure
// TypeScript reference path, and this script says so in one line. Node's headers must come
// from the local installation (nodedir), never from the network.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

// SAT_NATIVE_ROOT: build another checkout's addon with this toolchain lookup (the decode
// bench builds its baseline commit this way).
const root = process.env.SAT_NATIVE_ROOT ?? new URL("..", import.meta.url).pathname;
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

// Node's own headers, never downloaded: those of the node binary running this script (the
// version the addon will load into) come first, even where npm's nodedir setting points at
// another installation (Debian's npm sets nodedir=/usr, whatever node runs it).
function headerVersion(dir) {
  try {
    const h = readFileSync(join(dir, "include", "node", "node_version.h"), "utf8");
    const part = (k) => h.match(new RegExp(`#define NODE_${k}_VERSION (\\d+)`))?.[1];
    return `v${part("MAJOR")}.${part("MINOR")}.${part("PATCH")}`;
  } catch {
    return null;
  }
}
function findNodeDir() {
  const candidates = [dirname(dirname(process.execPath)), process.env.npm_config_nodedir, "/usr", "/usr/local"].filter((d) => d && existsSync(join(d, "include", "node", "node_api.h")));
  return candidates.find((d) => headerVersion(d) === process.version) ?? candidates[0];
}
const nodedir = findNodeDir();
if (!nodedir) skip("Node.js headers (include/node/node_api.h) not found next to the node binary");

// node-gyp: the copy npm itself ships (npm names it in npm_config_node_gyp for every script),
// else one installed beside this package; nothing is downloaded.
function findNodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  try {
    return require.resolve("node-gyp/bin/node-gyp.js");
  } catch {
    // run by hand: the node-gyp inside the npm found on PATH
    for (const dir of (process.env.PATH ?? "").split(delimiter)) {
      const npm = join(dir, "npm");
      if (!existsSync(npm)) continue;
      const gyp = join(dirname(realpathSync(npm)), "..", "node_modules", "node-gyp", "bin", "node-gyp.js");
      if (existsSync(gyp)) return gyp;
    }
    return null;
  }
}
const gyp = findNodeGyp();
if (!gyp) skip("node-gyp not found (run this through npm, which ships it: npm run build:native)");
const res = spawnSync(process.execPath, [gyp, "rebuild", `--nodedir=${nodedir}`, "--jobs=2"], {
  cwd: root,
  // node-gyp reads npm_config_nodedir too, and it would win over the flag.
  env: { ...process.env, npm_config_nodedir: nodedir },
  stdio: process.env.SAT_NATIVE_VERBOSE === "1" || strict ? "inherit" : ["ignore", "ignore", "pipe"],
  encoding: "utf8",
});
if (res.status !== 0) {
  const lastError = (res.stderr ?? "").split("\n").filter((l) => /error/i.test(l)).slice(0, 1).join(" ").trim();
  skip(`node-gyp failed${lastError ? `: ${lastError.slice(0, 200)}` : ""}; rerun with SAT_NATIVE_VERBOSE=1 npm run build:native`);
}
console.log(`show-attend-tell: native engine built (build/Release/sat_native.node, Node ${process.version} headers from ${nodedir}${headerVersion(nodedir) === process.version ? "" : `, version ${headerVersion(nodedir)}`})`);
