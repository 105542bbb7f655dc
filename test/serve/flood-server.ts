/**
 * A server in a process of its own, for measuring its memory under an upload flood
 * (upload-flood.test.ts): argv[2] is a JSON object {model, uploadMemory?, delayMs}; it prints
 * its URL on stdout and serves until killed. Captioning is the stand-in worker, so what is
 * measured is the upload path (receive, check, queue), not an encoder.
 */
import { startServer } from "../../src/serve/index.js";

const o = JSON.parse(process.argv[2]) as { model: string; uploadMemory?: number; delayMs: number; queueLimit?: number };
const server = await startServer({
  modelDir: o.model,
  port: 0,
  queueLimit: o.queueLimit ?? 64,
  limits: o.uploadMemory ? { uploadMemory: o.uploadMemory } : {},
  workerModule: new URL("./fake-worker.ts", import.meta.url),
  workerData: { delayMs: o.delayMs },
  log: () => {},
});
process.stdout.write(`${server.url}\n`);
