/**
 * `sat serve <model>`: an HTTP API (and web page) captioning uploaded photos with one model.
 * Routes and limits: docs/serving.md and GET /openapi.json.
 */
import type { Command } from "commander";
import type { EngineChoice } from "../../engine/select.js";
import { DECODE_DEFAULTS } from "../../decode/defaults.js";
import { DEFAULT_LIMITS, LIMIT_RANGES, START_RANGES } from "../../serve/limits.js";
import { isLoopbackHost } from "../../serve/access.js";
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
  uploadMemory: number;
  allowHost: string[];
  cors: string[];
  token?: string;
  engine: EngineChoice;
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve a model over HTTP: POST /v1/captions, a web page at /, the API described at /openapi.json")
    .argument("<model>", "model directory (model.json + weights.bin) whose encoder reads photos")
    .option("--host <host>", "address to listen on (127.0.0.1: this machine only)", "127.0.0.1")
    .option("--port <n>", "port (0 picks a free one)", (v) => parseNonNegativeInt("--port", v), 8080)
    .option("--beam <n>", "default beam width of requests that do not set beam", (v) => parsePositiveInt("--beam", v), DECODE_DEFAULTS.beamWidth)
    .option("--max-beam <n>", "largest beam width a request may ask for", (v) => parsePositiveInt("--max-beam", v), DEFAULT_LIMITS.maxBeam)
    .option("--max-bytes <n>", "largest upload, in bytes", (v) => parsePositiveInt("--max-bytes", v), DEFAULT_LIMITS.maxBytes)
    .option("--max-pixels <n>", "largest image, width x height as its header declares (checked before decoding)", (v) => parsePositiveInt("--max-pixels", v), DEFAULT_LIMITS.maxPixels)
    .option("--concurrency <n>", "worker threads, i.e. images captioned at once (each loads the model)", (v) => parsePositiveInt("--concurrency", v), 1)
    .option("--queue <n>", "most requests waiting for a worker; more get 429", (v) => parseNonNegativeInt("--queue", v), 32)
    .option("--timeout <seconds>", "per request, waiting included (503 if still queued, 504 if still captioning)", (v) => parsePositiveNumber("--timeout", v), DEFAULT_LIMITS.timeoutMs / 1000)
    .option("--upload-memory <bytes>", "most bytes of uploads in flight (received, queued, captioning); past it, 503 at once", (v) => parsePositiveInt("--upload-memory", v), DEFAULT_LIMITS.uploadMemory)
    .option("--allow-host <name>", "also answer requests whose Host is this name (repeatable; localhost and IP addresses always are)", collect, [])
    .option("--cors <origin>", "let pages from this origin (scheme://host[:port]) call the API (repeatable; none by default)", collect, [])
    .option("--token <token>", "require 'Authorization: Bearer <token>' on the API (for a server shared on a network; open the page once as /?token=<token>); default $SAT_SERVE_TOKEN, which other users cannot read in the process list")
    .option("--engine <kind>", "auto, native or reference", (v) => parseChoice("--engine", v, ["auto", "native", "reference"]), "auto")
    .action(async (model: string, o: ServeCliOptions) => runServe(model, o));
}

/** Each option's working range (LIMIT_RANGES, START_RANGES), checked before anything starts. */
function checkRanges(o: ServeCliOptions): void {
  const within = (flag: string, v: number, r: { min: number; max: number }, unit = "") => {
    if (v < r.min || v > r.max) throw new UserError(`${flag} must be between ${r.min} and ${r.max}${unit} (got ${v})`);
  };
  within("--port", o.port, START_RANGES.port);
  within("--concurrency", o.concurrency, START_RANGES.concurrency);
  within("--queue", o.queue, START_RANGES.queueLimit);
  within("--max-bytes", o.maxBytes, LIMIT_RANGES.maxBytes);
  within("--max-pixels", o.maxPixels, LIMIT_RANGES.maxPixels);
  within("--max-beam", o.maxBeam, LIMIT_RANGES.maxBeam);
  within("--upload-memory", o.uploadMemory, LIMIT_RANGES.uploadMemory);
  within("--timeout", o.timeout, { min: LIMIT_RANGES.timeoutMs.min / 1000, max: LIMIT_RANGES.timeoutMs.max / 1000 }, " seconds");
  if (o.beam > o.maxBeam) throw new UserError(`--beam ${o.beam} is over --max-beam ${o.maxBeam}`);
  if (o.uploadMemory < o.maxBytes) throw new UserError(`--upload-memory ${o.uploadMemory} is under --max-bytes ${o.maxBytes}: not even one upload would fit`);
}

async function runServe(modelDir: string, cli: ServeCliOptions): Promise<void> {
  // From the environment, not a default: commander would print a default in --help.
  const o = { ...cli, token: cli.token ?? (process.env.SAT_SERVE_TOKEN || undefined) };
  checkRanges(o);
  if (!isLoopbackHost(o.host)) {
    process.stderr.write(
      `sat serve: warning: --host ${o.host} is reachable from other machines; ${o.token ? "requests need the --token" : "anyone who can reach it can use it (--token TOKEN requires a bearer token)"}\n`,
    );
  }
  let server;
  try {
    // The HTTP stack loads only when a server starts, so that every other command starts quickly.
    const { startServer } = await import("../../serve/index.js");
    server = await startServer({
      modelDir,
      host: o.host,
      port: o.port,
      engine: o.engine,
      concurrency: o.concurrency,
      queueLimit: o.queue,
      limits: { maxBytes: o.maxBytes, maxPixels: o.maxPixels, maxBeam: o.maxBeam, timeoutMs: Math.max(1, Math.round(o.timeout * 1000)), uploadMemory: o.uploadMemory },
      defaults: { beamWidth: o.beam },
      access: { allowHosts: o.allowHost, corsOrigins: o.cors, token: o.token },
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
