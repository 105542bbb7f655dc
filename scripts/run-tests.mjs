#!/usr/bin/env node
// Runs every test/**/*.test.ts under Node's own test runner (node:test), with tsx as the
// TypeScript loader. Node 20's `--test` neither expands globs nor picks up .ts files itself,
// hence this small walker. Extra arguments are passed to `node --test` (e.g. a file filter).
//
// Files named *.long.test.ts are the full-size learning runs: `npm test` leaves them out so
// the suite stays within minutes on 2 cores; `--long` (npm run test:long) runs only them.
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { spawnSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const args = process.argv.slice(2);
const long = args.includes("--long");
const filters = args.filter((a) => !a.startsWith("-"));
const flags = args.filter((a) => a.startsWith("-") && a !== "--long");

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

let files = walk(join(root, "test"))
  .map((f) => relative(root, f))
  .filter((f) => f.endsWith(".long.test.ts") === long);
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (!files.length) {
  console.error(`run-tests: no ${long ? "long " : ""}test files match ${filters.join(" ")}`);
  process.exit(1);
}
const res = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=1", ...flags, ...files],
  { cwd: root, stdio: "inherit" },
);
process.exit(res.status ?? 1);
