/**
 * Reads a raw image body into one Buffer of at most `limit` bytes. With a Content-Length the
 * buffer is allocated once at that size and filled in place, so an upload costs its size in
 * memory, not twice that (collecting chunks and concatenating them holds both at the end);
 * without one, chunks are collected up to the limit. Past the limit: 413 without reading on.
 */
import type { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import type { Readable } from "node:stream";
import { freeChunk } from "../util/free-bytes.js";
import { ApiError } from "./errors.js";

function tooLarge(limit: number): ApiError {
  return new ApiError(413, "body_too_large", `the upload is over the server's limit of ${limit} bytes (--max-bytes)`);
}

/**
 * Whether the chunks read from `payload` belong to nobody else once read, so that they may be
 * freed at once (freeChunk): true for the request itself on a real connection, whose HTTP
 * parser copies each chunk into an ArrayBuffer of its own; false for an injected request
 * (tests), whose chunks may be the caller's own buffers, or for a stream in between.
 */
function ownsBodyChunks(req: IncomingMessage, payload: Readable): boolean {
  return payload === req && req.socket instanceof Socket;
}

/** Frees each chunk of a body that is being read only to be discarded (see ownsBodyChunks). */
export function discardBody(req: IncomingMessage, payload: Readable = req): void {
  if (ownsBodyChunks(req, payload)) payload.on("data", freeChunk);
  else payload.resume();
}

export function readRawBody(req: IncomingMessage, payload: Readable, limit: number): Promise<Buffer> {
  const own = ownsBodyChunks(req, payload);
  const declared = req.headers["content-length"] !== undefined ? Number(req.headers["content-length"]) : NaN;
  const sized = Number.isSafeInteger(declared) && declared >= 0 && payload === req;
  if (sized && declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise<Buffer>((resolve, reject) => {
    const whole = sized ? Buffer.allocUnsafe(declared) : null;
    const chunks: Buffer[] = [];
    let got = 0;
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      payload.removeListener("data", onData);
      discardBody(req, payload);
      reject(e);
    };
    const onData = (c: Buffer) => {
      if (settled) return;
      if (got + c.length > (whole ? whole.length : limit)) {
        fail(whole ? new ApiError(400, "bad_request", "the body is longer than its Content-Length") : tooLarge(limit));
        return;
      }
      const n = c.length;
      if (whole) {
        c.copy(whole, got);
        if (own) freeChunk(c); // c is empty from here on
      } else chunks.push(c);
      got += n;
    };
    payload.on("data", onData);
    payload.once("end", () => {
      if (settled) return;
      settled = true;
      if (whole && got !== whole.length) reject(new ApiError(400, "bad_request", `the body ended after ${got} of its ${whole.length} declared bytes`));
      else resolve(whole ?? Buffer.concat(chunks, got));
    });
    payload.once("error", fail);
    payload.once("aborted", () => fail(new ApiError(400, "bad_request", "the client aborted the upload")));
  });
}
