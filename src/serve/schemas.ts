/**
 * JSON Schemas of the API's requests and responses. Fastify validates the query string with
 * them and serialises responses through them (fields not listed here are dropped from a
 * response, so they list everything the contract promises); @fastify/swagger turns them into
 * the OpenAPI document at /openapi.json.
 */

export const errorSchema = {
  type: "object",
  description: "Every error: a stable snake_case code and a one-line message.",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { code: { type: "string" }, message: { type: "string" } },
    },
  },
} as const;

const queueSchema = {
  type: "object",
  required: ["running", "waiting", "limit", "concurrency"],
  properties: {
    running: { type: "integer", description: "captions being computed (workers busy)" },
    waiting: { type: "integer", description: "requests waiting for a worker" },
    limit: { type: "integer", description: "most requests that may wait; more are refused with 429" },
    concurrency: { type: "integer", description: "worker threads (captions computed at once)" },
  },
} as const;

export const healthSchema = {
  type: "object",
  required: ["status", "queue"],
  properties: { status: { type: "string", enum: ["ok"] }, queue: queueSchema },
} as const;

export const limitsSchema = {
  type: "object",
  required: ["maxBytes", "maxPixels", "maxBeam", "maxLength", "timeoutMs", "uploadMemory"],
  properties: {
    maxBytes: { type: "integer", description: "largest upload in bytes" },
    maxPixels: { type: "integer", description: "largest image (width x height, read from its header)" },
    maxBeam: { type: "integer" },
    maxLength: { type: "integer", description: "largest maxLength a request may ask for" },
    timeoutMs: { type: "integer", description: "per request, queueing included" },
    uploadMemory: { type: "integer", description: "bytes of uploads in flight (received, queued or captioned); more get 503 at once" },
  },
} as const;

export const modelInfoSchema = {
  type: "object",
  required: ["name", "config", "vocabSize", "encoder", "training", "engine", "limits", "defaults"],
  properties: {
    name: { type: "string" },
    config: { type: "object", additionalProperties: true, description: "the model config (src/model/config.ts)" },
    vocabSize: { type: "integer" },
    encoder: {
      type: "object",
      required: ["spec", "name", "grid", "L", "D"],
      additionalProperties: true,
      properties: {
        spec: { type: "object", nullable: true, additionalProperties: true },
        name: { type: "string" },
        grid: { type: "array", items: { type: "integer" }, minItems: 2, maxItems: 2 },
        L: { type: "integer" },
        D: { type: "integer" },
      },
    },
    training: { type: "object", additionalProperties: true },
    engine: { type: "string", enum: ["native", "reference"] },
    limits: limitsSchema,
    defaults: {
      type: "object",
      required: ["beam", "topN", "maxLength"],
      properties: { beam: { type: "integer" }, topN: { type: "integer" }, maxLength: { type: "integer" } },
    },
  },
} as const;

export const captionQuerySchema = {
  type: "object",
  properties: {
    beam: { type: "integer", minimum: 1, description: "beam width (1 = greedy); at most limits.maxBeam" },
    topN: { type: "integer", minimum: 1, description: "captions returned, best first; at most beam" },
    maxLength: { type: "integer", minimum: 1, description: "most words per caption; at most limits.maxLength" },
    overlay: { type: "boolean", default: false, description: "add each word's attention map over the 224x224 crop as a base64 PNG" },
  },
} as const;

const attentionSchema = {
  type: "object",
  required: ["word", "alpha", "beta"],
  properties: {
    word: { type: "string" },
    alpha: { type: "array", items: { type: "number" }, description: "attention over the L grid cells, row-major" },
    beta: { type: "number", description: "the gating scalar" },
    location: { type: "integer", description: "hard attention with sampled locations: the cell attended" },
    overlayPng: { type: "string", description: "with overlay=true: base64 PNG of the map over the input crop" },
  },
} as const;

export const captionResponseSchema = {
  type: "object",
  required: ["captions", "grid", "image", "timing"],
  properties: {
    captions: {
      type: "array",
      items: {
        type: "object",
        required: ["text", "words", "logProb", "score", "finished", "attention"],
        properties: {
          text: { type: "string" },
          words: { type: "array", items: { type: "string" } },
          logProb: { type: "number" },
          score: { type: "number" },
          finished: { type: "boolean", description: "false when cut at maxLength without <end>" },
          attention: { type: "array", items: attentionSchema, description: "one entry per word, then one for <end> when finished" },
        },
      },
    },
    grid: { type: "array", items: { type: "integer" }, minItems: 2, maxItems: 2 },
    image: {
      type: "object",
      required: ["width", "height", "format"],
      properties: { width: { type: "integer" }, height: { type: "integer" }, format: { type: "string" } },
    },
    timing: {
      type: "object",
      required: ["queueMs", "prepareMs", "encodeMs", "decodeMs", "overlayMs", "totalMs"],
      properties: {
        queueMs: { type: "number", description: "waiting for a worker" },
        prepareMs: { type: "number", description: "decoding and preprocessing the image" },
        encodeMs: { type: "number", description: "the image encoder (e.g. ResNet-50), for the batch of queued images encoded with this one" },
        decodeMs: { type: "number", description: "beam search, for the batch of queued images decoded with this one" },
        overlayMs: { type: "number", description: "rendering overlays (0 without overlay=true)" },
        totalMs: { type: "number", description: "from the request's arrival to the response" },
      },
    },
  },
} as const;

/** Error responses by status, for the OpenAPI document. */
export function errorResponses(...statuses: number[]): Record<number, Omit<typeof errorSchema, "description"> & { description: string }> {
  const what: Record<number, string> = {
    400: "empty, truncated or corrupt image, or a bad query parameter",
    401: "the server needs a bearer token (--token) and the request has none, or a wrong one",
    403: "Host not allowed (DNS rebinding guard: --allow-host), or a cross-origin request not allowed (--cors)",
    404: "not found",
    413: "body over maxBytes, or image dimensions over maxPixels (read from the header before decoding)",
    415: "unsupported Content-Type, or bytes that are not an image",
    429: "queue full (Retry-After)",
    500: "internal error, or the caption worker crashed (it is restarted)",
    503: "too many uploads in flight (Retry-After), timed out waiting in the queue, shutting down, or the web page not built",
    504: "captioning took longer than the timeout",
  };
  return Object.fromEntries(statuses.map((s) => [s, { ...errorSchema, description: what[s] ?? "error" }]));
}
