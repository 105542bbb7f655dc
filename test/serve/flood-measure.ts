/**
 * Memory of `sat serve` under an upload flood: a server in its own process (flood-server.ts),
 * `parallel` uploads of 9 MiB at once over loopback, `rounds` times; the server's resident
 * memory is read from /proc before the flood (after three warm-up uploads) and its peak
 * (VmHWM) after. upload-flood.test.ts asserts on it; docs/serving.md quotes it. By hand:
 *
 *   node --import tsx test/serve/flood-measure.ts [uploadMemoryBytes|0=default] [parallel] [rounds]
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import sharp from "sharp";
import { makeTinyModel } from "./fixtures.js";
import { rawRequest } from "./http-raw.js";

export interface FloodResult {
  rssBeforeMiB: number;
  peakAfterMiB: number;
  /** Peak resident memory during the flood minus resident memory before it. */
  growthMiB: number;
  statuses: Record<number, number>;
  seconds: number;
}

const UPLOAD_BYTES = 9 * 1024 * 1024;

export async function measureFlood(o: { uploadMemory?: number; parallel: number; rounds: number; model?: string }): Promise<FloodResult> {
  const root = new URL("../..", import.meta.url).pathname;
  const model = o.model ?? (await makeTinyModel());
  const config = JSON.stringify({ model, uploadMemory: o.uploadMemory, delayMs: 20, queueLimit: 100 });
  const child = spawn(process.execPath, ["--import", "tsx", `${root}/test/serve/flood-server.ts`, config], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.once("data", (d) => resolve(String(d).trim()));
      child.once("exit", (code) => reject(new Error(`flood server exited (${code})`)));
    });
    const mib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))![1]) / 1024;
    const png = await sharp({ create: { width: 20, height: 20, channels: 3, background: "red" } }).png().toBuffer();
    // A valid PNG followed by padding: header checks pass, and the stand-in worker answers.
    const body = Buffer.concat([png, Buffer.alloc(UPLOAD_BYTES - png.length)]);
    const upload = () => rawRequest(url, { method: "POST", path: "/v1/captions", headers: { "content-type": "image/png" }, body, timeoutMs: 120_000 });
    for (let i = 0; i < 3; i++) await upload();
    const rssBeforeMiB = mib("VmRSS");
    const statuses: Record<number, number> = {};
    const t0 = Date.now();
    for (let round = 0; round < o.rounds; round++) {
      const results = await Promise.all(Array.from({ length: o.parallel }, () => upload().catch(() => ({ status: -1 }))));
      for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    }
    const peakAfterMiB = mib("VmHWM");
    return { rssBeforeMiB, peakAfterMiB, growthMiB: peakAfterMiB - rssBeforeMiB, statuses, seconds: (Date.now() - t0) / 1000 };
  } finally {
    child.kill("SIGKILL");
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop()!)) {
  const [uploadMemory, parallel, rounds] = process.argv.slice(2).map(Number);
  const r = await measureFlood({ uploadMemory: uploadMemory || undefined, parallel: parallel || 48, rounds: rounds || 3 });
  console.log(JSON.stringify({ uploadMemoryMiB: uploadMemory ? uploadMemory / 1048576 : "default (100)", parallel: parallel || 48, rounds: rounds || 3, ...r }));
}
