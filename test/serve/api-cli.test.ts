// `sat serve` as a user runs it: --help lists every option, the URL is printed, the server
// answers, SIGTERM shuts it down cleanly (exit 0), and bad arguments are one-line errors
// with exit status 2.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
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

/** Starts `sat serve ARGS` and resolves once it has printed its URL on `host`. */
function startServe(args: string[], host = "127\\.0\\.0\\.1", env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; output: { stdout: string; stderr: string }; url: Promise<string> } {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "src/cli/index.ts"), "serve", ...args], { cwd: root, env });
  const output = { stdout: "", stderr: "" };
  child.stderr!.on("data", (d) => (output.stderr += d));
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed within 60 s; stderr: ${output.stderr}`)), 60_000);
    child.stdout!.on("data", (d) => {
      output.stdout += d;
      const m = new RegExp(`on (http://${host}:\\d+)`).exec(output.stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", () => reject(new Error(`exited early: ${output.stderr}`)));
  });
  return { child, output, url };
}

test("sat serve: prints the URL, captions, and exits 0 on SIGTERM", async () => {
  const model = await makeTinyModel();
  const { child, output, url: started } = startServe([model, "--port", "0", "--queue", "5"]);
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  try {
    const url = await started;
    const { stdout } = output;
    assert.match(stdout, /tiny-mixed, (native|reference) engine, 1 worker\)/);
    const health = (await (await fetch(`${url}/healthz`)).json()) as { queue: { limit: number } };
    assert.equal(health.queue.limit, 5, "--queue reached the server");
    const res = await fetch(`${url}/v1/captions`, { method: "POST", headers: { "content-type": "image/jpeg" }, body: new Uint8Array(await photo()) });
    assert.equal(res.status, 200);
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
    assert.match(output.stderr, /SIGTERM, shutting down/);
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

test("sat serve: option values outside their working range are one-line errors, exit 2, before the model loads", () => {
  // A model path that does not exist: a range error must come first, without loading anything.
  const cases: [string[], RegExp][] = [
    [["--timeout", "3000000"], /--timeout must be between 0\.001 and 86400 seconds \(got 3000000\)/],
    [["--concurrency", "1000"], /--concurrency must be between 1 and 256/],
    [["--queue", "1000000"], /--queue must be between 0 and 100000/],
    [["--max-bytes", "4294967296"], /--max-bytes must be between 1 and 1073741824/],
    [["--max-pixels", "1000000000"], /--max-pixels must be between 1 and 100000000/],
    [["--max-beam", "5000"], /--max-beam must be between 1 and 100/],
    [["--port", "70000"], /--port must be between 0 and 65535/],
    [["--upload-memory", "1000"], /--upload-memory 1000 is under --max-bytes 10485760/],
    [["--token", "short"], /--token must be at least 16 printable characters/],
    [["--cors", "*"], /--cors "\*": not an origin/],
    [["--allow-host", "https://x.example/"], /--allow-host "https:\/\/x\.example\/": not a host name/],
  ];
  for (const [args, pattern] of cases) {
    const r = sat(["serve", "/nonexistent/model", ...args]);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^sat: ${pattern.source}`), args.join(" "));
    assert.equal(r.stderr.trim().split("\n").length, 1, args.join(" "));
  }
  const help = sat(["serve", "--help"]).stdout;
  for (const o of ["--allow-host", "--cors", "--token", "--upload-memory"]) assert.ok(help.includes(o), o);
});

test("sat serve --host 0.0.0.0 with SAT_SERVE_TOKEN: a warning that it is reachable from the network, and the API needs the token", async () => {
  const model = await makeTinyModel();
  const token = "an-example-token-0123456789";
  const { child, output, url } = startServe([model, "--host", "0.0.0.0", "--port", "0"], "0\\.0\\.0\\.0", { ...process.env, SAT_SERVE_TOKEN: token });
  try {
    const port = new URL(await url).port;
    assert.match(output.stderr, /sat serve: warning: --host 0\.0\.0\.0 is reachable from other machines; requests need the --token/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/v1/model`)).status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${port}/v1/model`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    assert.ok(!sat(["serve", "--help"]).stdout.includes(token), "the token is not printed as a default");
  } finally {
    child.kill("SIGKILL");
  }
});
