// Every command that writes into an --out folder refuses, in one line and before any work, a
// path where a file stands (the folder itself, or a parent of it), instead of Node's raw
// EEXIST / ENOTDIR; and the file stays as it was.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");

function sat(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(root, "src/cli/index.ts"), ...args], { cwd: root, encoding: "utf8" });
  return { status: r.status, stderr: r.stderr };
}

test("--out where a file stands: train, features, reproduce, demo and caption refuse it in one line", async () => {
  const work = mkdtempSync(join(tmpdir(), "sat-out-"));
  // A dataset whose one image exists, so that the commands get as far as their --out.
  await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toFile(join(work, "a.png"));
  const data = join(work, "data.jsonl");
  writeFileSync(data, JSON.stringify({ image: "a.png", caption: "a red square", split: "train" }) + "\n");
  const file = join(work, "taken");
  writeFileSync(file, "keep me\n");
  const commands: [string, (out: string) => string[]][] = [
    ["train", (out) => ["train", "--data", data, "--features", work, "--out", out]],
    ["features", (out) => ["features", "--data", data, "--out", out]],
    ["reproduce", (out) => ["reproduce", "flickr8k", "--data", work, "--out", out]],
    ["demo", (out) => ["demo", "--out", out]],
    ["caption", (out) => ["caption", work, "some.png", "--out", out]],
  ];
  for (const [name, args] of commands) {
    const asFolder = sat(args(file));
    assert.equal(asFolder.status, 2, `${name}: ${asFolder.stderr}`);
    assert.equal(asFolder.stderr.trim(), `sat: --out ${file}: is a file, not a folder`, name);
    const under = join(file, "run");
    const below = sat(args(under));
    assert.equal(below.status, 2, `${name}: ${below.stderr}`);
    assert.equal(below.stderr.trim(), `sat: --out ${under}: cannot create the folder (a file stands in its path)`, name);
  }
  assert.equal(readFileSync(file, "utf8"), "keep me\n");
});
