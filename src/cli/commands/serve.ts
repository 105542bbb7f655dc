/**
 * `sat serve <model>`: an HTTP API (and web page) captioning uploaded photos with one model.
 * Routes and limits: docs/serving.md and GET /openapi.json.
 */
import type { Command } from "commander";
import type { EngineChoice } from "../../model/engine-factory.js";
import { DEFAULT_LIMITS, startServer } from "../../serve/index.js";
import { UserError } from "../errors.js";
import { parseChoice, parseNonNegativeInt, parsePositiveInt, parsePositiveNumber } from "../parse.js";

interface ServeCliOptions {
  host: string;
  port: number;
  beam: number;
  maxBytes: number;
  maxPixels: number;
  maxBeam: number;
  concurrency: number;
  queue: number;
  timeout: number;
  engine: EngineChoice;
}

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve a model over HTTP: POST /v1/captions, a web page at /, the API described at /openapi.json")
    .argument("<model>", "model directory (model.json + weights.bin) whose encoder reads photos")
    .option("--host <host>", "address to listen on (127.0.0.1: this machine only)", "127.0.0.1")
    .option("--port <n>", "port (0 picks a free one)", (v) => parseNonNegativeInt("--port", v), 8080)
    .option("--beam <n>", "default beam width of requests that do not set beam", (v) => parsePositiveInt("--beam", v), 3)
    .option("--max-beam <n>", "largest beam width a request may ask for", (v) => parsePositiveInt("--max-beam", v), DEFAULT_LIMITS.maxBeam)
    .option("--max-bytes <n>", "largest upload, in bytes", (v) => parsePositiveInt("--max-bytes", v), DEFAULT_LIMITS.maxBytes)
    .option("--max-pixels <n>", "largest image, width x height as its header declares (checked before decoding)", (v) => parsePositiveInt("--max-pixels", v), DEFAULT_LIMITS.maxPixels)
    .option("--concurrency <n>", "worker threads, i.e. images captioned at once (each loads the model)", (v) => parsePositiveInt("--concurrency", v), 1)
    .option("--queue <n>", "most requests waiting for a worker; more get 429", (v) => parseNonNegativeInt("--queue", v), 32)
    .option("--timeout <seconds>", "per request, waiting included (503 if still queued, 504 if still captioning)", (v) => parsePositiveNumber("--timeout", v), DEFAULT_LIMITS.timeoutMs / 1000)
    .option("--engine <kind>", "auto, native or reference", (v) => parseChoice("--engine", v, ["auto", "native", "reference"]), "auto")
    .action(async (model: string, o: ServeCliOptions) => runServe(model, o));
}

async function runServe(modelDir: string, o: ServeCliOptions): Promise<void> {
  if (o.beam > o.maxBeam) throw new UserError(`--beam ${o.beam} is over --max-beam ${o.maxBeam}`);
  if (o.port > 65535) throw new UserError(`--port must be at most 65535 (got ${o.port})`);
  let server;
  try {
    server = await startServer({
      modelDir,
      host: o.host,
      port: o.port,
      engine: o.engine,
      concurrency: o.concurrency,
      queueLimit: o.queue,
      limits: { maxBytes: o.maxBytes, maxPixels: o.maxPixels, maxBeam: o.maxBeam, timeoutMs: Math.round(o.timeout * 1000) },
      defaults: { beam: o.beam },
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new UserError(`${o.host}:${o.port} is already in use (choose another --port)`);
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") throw new UserError(`cannot listen on --host ${o.host} (${code})`);
    throw e;
  }
  const { pool, url } = server;
  console.log(`sat serve: ${modelDir} (${pool.info.meta.encoder.name}, ${pool.info.engine} engine, ${pool.concurrency} worker${pool.concurrency > 1 ? "s" : ""}) on ${url}`);
  console.log(`  POST ${url}/v1/captions   API: ${url}/openapi.json   Ctrl-C stops`);
  await new Promise<void>((resolveStop) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        // A second Ctrl-C: do not wait for captions in flight.
        process.exit(130);
      }
      stopping = true;
      process.stderr.write(`sat serve: ${signal}, shutting down\n`);
      void server.close().then(resolveStop, (e: Error) => {
        process.stderr.write(`sat serve: error while shutting down: ${e.message}\n`);
        process.exitCode = 1;
        resolveStop();
      });
    };
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  });
}
