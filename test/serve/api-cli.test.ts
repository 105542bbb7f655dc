// `sat serve` as a user runs it: --help lists every option, the URL is printed, the server
// answers, SIGTERM shuts it down cleanly (exit 0), and bad arguments are one-line errors
// with exit status 2.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTinyModel, photo } from "./fixtures.js";

const root = new URL("../..", import.meta.url).pathname;

function sat(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(root, "src/cli/index.ts"), ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("sat serve --help lists the options", () => {
  const r = sat(["serve", "--help"]);
  assert.equal(r.status, 0);
  for (const o of ["--host", "--port", "--beam", "--max-bytes", "--max-pixels", "--concurrency", "--queue", "--timeout", "--max-beam", "--engine"]) assert.ok(r.stdout.includes(o), o);
  assert.match(sat(["--help"]).stdout, /serve \[options\] <model>/);
});

test("sat serve: prints the URL, captions, and exits 0 on SIGTERM", async () => {
  const model = await makeTinyModel();
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "src/cli/index.ts"), "serve", model, "--port", "0", "--queue", "5"], { cwd: root });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed within 60 s; stderr: ${stderr}`)), 60_000);
      child.stdout.on("data", (d) => {
        stdout += d;
        const m = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.on("exit", () => reject(new Error(`exited early: ${stderr}`)));
    });
    assert.match(stdout, /tiny-mixed, (native|reference) engine, 1 worker\)/);
    const health = (await (await fetch(`${url}/healthz`)).json()) as { queue: { limit: number } };
    assert.equal(health.queue.limit, 5, "--queue reached the server");
    const res = await fetch(`${url}/v1/captions`, { method: "POST", headers: { "content-type": "image/jpeg" }, body: new Uint8Array(await photo()) });
    assert.equal(res.status, 200);
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
    assert.match(stderr, /SIGTERM, shutting down/);
  } finally {
    child.kill("SIGKILL");
  }
});

test("sat serve: bad model directories and options are one-line errors, exit 2", async () => {
  let r = sat(["serve", "/nonexistent/model", "--port", "0"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr.trim(), /^sat: .*model\.json: not found/);
  assert.equal(r.stderr.trim().split("\n").length, 1);

  // A model trained on synthesised features has no image encoder: it cannot serve photos.
  const model = await makeTinyModel();
  const meta = JSON.parse(readFileSync(join(model, "model.json"), "utf8"));
  meta.encoder.spec = null;
  writeFileSync(join(model, "model.json"), JSON.stringify(meta));
  r = sat(["serve", model, "--port", "0"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^sat: .*captions feature arrays/);

  r = sat(["serve", model, "--beam", "20"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--beam 20 is over --max-beam 10/);
  r = sat(["serve", model, "--port", "-1"]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--port must be a non-negative integer/);
});
