/**
 * The HTTP API of `sat serve` (contract: routes, bodies and error codes are listed in
 * docs/serving.md and described at /openapi.json). Fastify on the main thread does
 * the cheap, bounded work: content-type and size checks, magic bytes, the image header's
 * dimensions, query validation, the queue. Captioning runs in worker threads (pool.ts).
 */
import { existsSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from "fastify";
import fastifyMultipart from "@fastify/multipart";
import fastifyStatic from "@fastify/static";
import fastifySwagger from "@fastify/swagger";
import { packageRoot } from "../util/package-root.js";
import { preprocessFor } from "../data/images.js";
import { DECODE_DEFAULTS, type DecodeDefaults } from "../decode/defaults.js";
import { resnet50ModelPath } from "../encoder/resnet.js";
import { registerAccess, type AccessOptions } from "./access.js";
import { ApiError, errorBody } from "./errors.js";
import { checkImageHeader } from "./image-check.js";
import { discardBody, readRawBody } from "./raw-body.js";
import { UploadBudget } from "./upload-budget.js";
import { checkLimits, DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
import type { CaptionPool } from "./pool.js";
import { captionQuerySchema, captionResponseSchema, errorResponses, healthSchema, modelInfoSchema } from "./schemas.js";

export interface ServerOptions {
  pool: CaptionPool;
  modelDir: string;
  limits?: Partial<ServerLimits>;
  /** Defaults of the query's beam, topN and maxLength (DECODE_DEFAULTS unless given; beamWidth from `sat serve --beam`). */
  defaults?: Partial<Pick<DecodeDefaults, "beamWidth" | "topN" | "maxLength">>;
  /** Folder of the built web page (default: dist/web of this package). */
  webRoot?: string;
  /** Where 5xx errors are reported (default: stderr, one line). */
  logError?: (line: string) => void;
  /** Host allow-list, cross-origin policy and bearer token (access.ts; defaults: the safe ones). */
  access?: AccessOptions;
}

/** Content types accepted as the raw image body; anything else but multipart is refused (415). */
const RAW_TYPES = /^(image\/[\w.+-]+|application\/octet-stream)$/;
/** The same for Fastify's parser lookup, which matches the whole (lowercased) header, parameters included. */
const RAW_TYPES_WITH_PARAMS = /^(image\/[\w.+-]+|application\/octet-stream)\s*(;.*)?$/;
const ACCEPTED = "multipart/form-data (field 'image'), image/* or application/octet-stream";
/** Room for multipart boundaries and part headers on top of the file itself. */
const MULTIPART_OVERHEAD = 64 * 1024;
const QUERY_KEYS = new Set(Object.keys(captionQuerySchema.properties));

function mediaType(req: FastifyRequest): string {
  return (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
}

/** dist/web under the package root (the same from src/ under tsx, dist/src/ and node_modules/). */
function defaultWebRoot(): string {
  return join(packageRoot(), "dist", "web");
}

/** A file name inside one folder: no separators, no dot-dot, nothing hidden. */
function safeRelative(p: string, allowSubdirs: boolean): boolean {
  const parts = p.split("/");
  if (!allowSubdirs && parts.length !== 1) return false;
  return parts.every((s) => /^[\w][\w.-]*$/.test(s) && !s.includes(".."));
}

export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  checkLimits(limits);
  const uploads = new UploadBudget(limits.uploadMemory);
  const { pool } = opts;
  const meta = pool.info.meta;
  const modelDir = resolve(opts.modelDir);
  const defaults = { beamWidth: DECODE_DEFAULTS.beamWidth, topN: DECODE_DEFAULTS.topN, maxLength: DECODE_DEFAULTS.maxLength, ...opts.defaults };
  const webRoot = opts.webRoot ?? defaultWebRoot();
  const logError = opts.logError ?? ((l: string) => process.stderr.write(l + "\n"));
  const grid = meta.encoder.grid;
  const preprocess = preprocessFor(pool.info.inputSize);

  const app = Fastify({
    // The raw-body parser enforces this; multipart has its own limits below.
    bodyLimit: limits.maxBytes,
    // A client that trickles its upload is cut off (slowloris); captioning time is not counted here.
    requestTimeout: 60_000,
    logger: false,
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const send = (status: number, code: string, message: string, headers: Record<string, string> = {}) => reply.code(status).headers(headers).send(errorBody(code, message));
    if (err instanceof ApiError) return send(err.statusCode, err.code, err.message, err.headers);
    if (err.validation) {
      const v = err.validation[0];
      const field = (v?.instancePath ?? "").replace(/^\//, "") || (v?.params as { missingProperty?: string })?.missingProperty || "";
      return send(400, "bad_query", `${err.validationContext === "querystring" ? "query parameter" : "field"} '${field}' ${v?.message ?? "is invalid"}`);
    }
    switch (err.code) {
      case "FST_ERR_CTP_BODY_TOO_LARGE":
      case "FST_REQ_FILE_TOO_LARGE":
        return send(413, "body_too_large", `the upload is over the server's limit of ${limits.maxBytes} bytes (--max-bytes)`);
      case "FST_FILES_LIMIT":
      case "FST_PARTS_LIMIT":
      case "FST_FIELDS_LIMIT":
        return send(413, "too_many_parts", "multipart uploads carry one file, field 'image', and nothing else");
      case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
        return send(415, "unsupported_media_type", `Content-Type must be ${ACCEPTED}`);
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) return send(status, "bad_request", err.message);
    logError(`sat serve: ${req.method} ${req.url}: ${err.stack ?? err.message}`);
    return send(500, "internal_error", "internal server error (details are in the server's log)");
  });
  // Once closing, every response ends its connection: a keep-alive connection that was busy
  // when close() began would otherwise hold close() open for the whole keep-alive timeout.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onSend", async (_req, reply) => {
    if (closing) reply.header("connection", "close");
  });
  registerAccess(app, opts.access ?? {});
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody("not_found", `no such resource: ${req.method} ${req.url.split("?")[0]}`)));

  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "show-attend-tell caption server (sat serve)",
        description: "Captions images with a Show, Attend and Tell model, with per-word attention.",
        version: "1.0.0",
      },
    },
    // The caption route's body is parsed by content type (multipart or raw bytes), not by a
    // JSON Schema, so its request body is described here for the document only.
    transform: ({ schema, url, route }) => {
      if (url !== "/v1/captions" || route.method !== "POST") return { schema, url };
      const binary = { schema: { type: "string", format: "binary" } };
      return {
        url,
        schema: {
          ...schema,
          body: {
            content: {
              "multipart/form-data": { schema: { type: "object", required: ["image"], properties: { image: { type: "string", format: "binary" } } } },
              "image/jpeg": binary,
              "image/png": binary,
              "image/webp": binary,
              "image/gif": binary,
              "application/octet-stream": binary,
            },
          },
        } as typeof schema,
      };
    },
  });
  await app.register(fastifyMultipart, {
    limits: { fileSize: limits.maxBytes, files: 1, fields: 0, parts: 1, headerPairs: 20, fieldNameSize: 100 },
  });
  // Only reply.sendFile: every route that serves files is declared below.
  await app.register(fastifyStatic, { root: modelDir, serve: false });
  // Raw image bodies as one Buffer, at most maxBytes (413 past it, before reading it all when
  // Content-Length says so), filled in place (raw-body.ts: the upload budget counts it once).
  app.addContentTypeParser(RAW_TYPES_WITH_PARAMS, { bodyLimit: limits.maxBytes }, async (req: FastifyRequest, payload: Readable) => readRawBody(req.raw, payload, limits.maxBytes));

  app.get("/healthz", { schema: { summary: "liveness and queue state", response: { 200: healthSchema } } }, async () => ({ status: "ok", queue: pool.stats() }));

  app.get("/v1/model", { schema: { summary: "the loaded model, its encoder and the server's limits", response: { 200: modelInfoSchema } } }, async () => ({
    name: basename(modelDir),
    config: meta.config,
    vocabSize: meta.config.vocabSize,
    encoder: { spec: meta.encoder.spec, name: meta.encoder.name, grid: meta.encoder.grid, L: meta.encoder.L, D: meta.encoder.D },
    training: meta.training,
    engine: pool.info.engine,
    limits,
    // Keyed by the query parameters they are the defaults of.
    defaults: { beam: defaults.beamWidth, topN: defaults.topN, maxLength: defaults.maxLength },
  }));

  const modelFiles = new Set(["model.json", meta.weights?.file ?? "weights.bin"]);
  app.get<{ Params: { name: string } }>(
    "/v1/model/files/:name",
    {
      schema: {
        summary: "the model directory's files as they are (model.json, weights.bin)",
        params: { type: "object", properties: { name: { type: "string" } } },
        response: { 200: { description: "the file", type: "string", format: "binary" }, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      if (!modelFiles.has(req.params.name)) throw new ApiError(404, "not_found", `the model has no file '${req.params.name}' (files: ${[...modelFiles].join(", ")})`);
      return reply.sendFile(req.params.name, modelDir);
    },
  );

  const encoderRoot = meta.encoder.spec?.kind === "resnet50" ? dirname(resnet50ModelPath()) : null;
  app.get<{ Params: { name: string } }>(
    "/v1/encoder/files/:name",
    {
      schema: {
        summary: "the ResNet-50 encoder's tfjs model.json and weight shards (models whose encoder is resnet50)",
        params: { type: "object", properties: { name: { type: "string" } } },
        response: { 200: { description: "the file", type: "string", format: "binary" }, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      if (!encoderRoot) throw new ApiError(404, "no_encoder_files", `this model's encoder (${meta.encoder.name}) has no files served here; only resnet50 models have`);
      const name = req.params.name;
      if (!safeRelative(name, false)) throw new ApiError(404, "not_found", `no encoder file '${name}'`);
      return reply.sendFile(name, encoderRoot);
    },
  );

  app.get("/openapi.json", { schema: { summary: "this document (OpenAPI 3)" } }, async () => app.swagger());

  app.get("/", { schema: { summary: "the web page (built by `npm run build` into dist/web)", response: { 200: { description: "HTML page", type: "string" }, ...errorResponses(503) } } }, async (_req, reply) => {
    if (!existsSync(join(webRoot, "index.html"))) throw new ApiError(503, "web_not_built", `the web page is not built (${join(webRoot, "index.html")} is missing): run npm run build`);
    return reply.type("text/html; charset=utf-8").sendFile("index.html", webRoot);
  });
  app.get<{ Params: { "*": string } }>("/assets/*", { schema: { summary: "the web page's scripts and styles", response: { 200: { description: "the file", type: "string" }, ...errorResponses(404) } } }, async (req, reply) => {
    const name = req.params["*"];
    if (!safeRelative(name, true)) throw new ApiError(404, "not_found", `no asset '${name}'`);
    return reply.sendFile(name, join(webRoot, "assets"));
  });

  type CaptionQuery = { beam?: number; topN?: number; maxLength?: number; overlay: boolean };
  app.post<{ Querystring: CaptionQuery }>(
    "/v1/captions",
    {
      schema: {
        summary: "caption one image: multipart field 'image', or the raw bytes as the body",
        querystring: captionQuerySchema,
        response: { 200: captionResponseSchema, ...errorResponses(400, 401, 403, 413, 415, 429, 500, 503, 504) },
      },
      // Before the body is read: refuse what cannot be an image upload, and bodies whose
      // declared length is over the limit, without reading them.
      onRequest: async (req, reply) => {
        const type = mediaType(req);
        const length = Number(req.headers["content-length"] ?? NaN);
        if (!type && !req.headers["transfer-encoding"] && !(length > 0)) {
          throw new ApiError(400, "empty_body", `the request has no image: send it as the body (Content-Type image/*) or as multipart field 'image'`);
        }
        const multipart = type === "multipart/form-data";
        if (!multipart && !RAW_TYPES.test(type)) throw new ApiError(415, "unsupported_media_type", `Content-Type must be ${ACCEPTED} (got '${type || "none"}')`);
        if (length > limits.maxBytes + (multipart ? MULTIPART_OVERHEAD : 0)) {
          throw new ApiError(413, "body_too_large", `the upload is ${length} bytes, over the server's limit of ${limits.maxBytes} bytes (--max-bytes)`);
        }
        // Refused now rather than after reading the upload (submit() checks again after).
        pool.checkAdmission();
        // The bytes this upload may hold until its response is done: what it declares, or the most it may send.
        const most = limits.maxBytes + (multipart ? MULTIPART_OVERHEAD : 0);
        const reserve = length > 0 ? Math.min(length, most) : most;
        if (!uploads.tryReserve(reserve)) {
          // The refused body is read and discarded, not held; closing the connection instead
          // would let a client still sending see a reset rather than this answer. Each chunk
          // is freed as it arrives rather than left to the garbage collector.
          discardBody(req.raw);
          throw new ApiError(503, "uploads_busy", `too many uploads in flight (${uploads.inUse} of the server's ${limits.uploadMemory} bytes for them); retry later`, { "retry-after": "1" });
        }
        reply.raw.once("close", () => uploads.release(reserve));
      },
    },
    async (req, reply) => {
      const unknown = [...new URL(req.url, "http://x").searchParams.keys()].filter((k) => !QUERY_KEYS.has(k));
      if (unknown.length) throw new ApiError(400, "bad_query", `unknown query parameter '${unknown[0]}' (known: ${[...QUERY_KEYS].join(", ")})`);
      const q = req.query;
      const beam = q.beam ?? defaults.beamWidth;
      const topN = q.topN ?? Math.min(defaults.topN, beam);
      const maxLength = q.maxLength ?? defaults.maxLength;
      if (beam > limits.maxBeam) throw new ApiError(400, "bad_query", `query parameter 'beam' must be at most ${limits.maxBeam} (got ${beam})`);
      if (topN > beam) throw new ApiError(400, "bad_query", `query parameter 'topN' must be at most the beam width ${beam} (got ${topN})`);
      if (maxLength > limits.maxLength) throw new ApiError(400, "bad_query", `query parameter 'maxLength' must be at most ${limits.maxLength} (got ${maxLength})`);
      if (q.overlay && grid[0] !== grid[1]) throw new ApiError(400, "bad_query", `overlay needs a square encoder grid; this model's is ${grid[0]}x${grid[1]}`);

      const bytes = mediaType(req) === "multipart/form-data" ? await readMultipartImage(req) : ((req.body as Buffer | undefined) ?? Buffer.alloc(0));
      await checkImageHeader(bytes, limits.maxPixels, preprocess);

      // A client that hangs up frees its place in the queue.
      const abort = new AbortController();
      reply.raw.once("close", () => {
        if (!reply.raw.writableFinished) abort.abort();
      });
      const { result, queueMs } = await pool.submit(bytes, { beamWidth: beam, topN, maxLength, overlay: q.overlay }, { timeoutMs: limits.timeoutMs, signal: abort.signal });
      return {
        captions: result.captions,
        grid,
        image: result.image,
        timing: { queueMs, ...result.timing, totalMs: reply.elapsedTime },
      };
    },
  );

  return app;
}

/**
 * The one file of a multipart upload, which must be field 'image'. The whole body is read, so
 * a second part is refused by the parser's limits (files 1, parts 1) instead of ignored.
 */
async function readMultipartImage(req: FastifyRequest): Promise<Buffer> {
  let image: Buffer | null = null;
  try {
    for await (const part of req.parts()) {
      if (part.type !== "file") continue; // fields: 0 makes any text field a FieldsLimitError
      if (part.fieldname !== "image") {
        part.file.resume();
        throw new ApiError(400, "bad_multipart", `the multipart file field must be named 'image' (got '${part.fieldname}')`);
      }
      image = await part.toBuffer();
    }
  } catch (e) {
    throw multipartError(e);
  }
  if (!image) throw new ApiError(400, "empty_body", "the multipart body has no file: send the image as field 'image'");
  return image;
}

function multipartError(e: unknown): Error {
  const err = e as FastifyError;
  // @fastify/multipart's own errors carry codes the error handler maps (413 limits);
  // busboy's parse errors (no boundary, malformed parts) do not.
  if (e instanceof ApiError || err?.code?.startsWith("FST_")) return err;
  return new ApiError(400, "bad_multipart", `malformed multipart body (${String(err?.message ?? e).split("\n")[0]})`);
}
