/**
 * Reads a raw image body into one Buffer of at most `limit` bytes. With a Content-Length the
 * buffer is allocated once at that size and filled in place, so an upload costs its size in
 * memory, not twice that (collecting chunks and concatenating them holds both at the end);
 * without one, chunks are collected up to the limit. Past the limit: 413 without reading on.
 */
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { ApiError } from "./errors.js";

function tooLarge(limit: number): ApiError {
  return new ApiError(413, "body_too_large", `the upload is over the server's limit of ${limit} bytes (--max-bytes)`);
}

export function readRawBody(req: IncomingMessage, payload: Readable, limit: number): Promise<Buffer> {
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
      payload.resume(); // drain and discard the rest
      reject(e);
    };
    const onData = (c: Buffer) => {
      if (settled) return;
      if (got + c.length > (whole ? whole.length : limit)) {
        fail(whole ? new ApiError(400, "bad_request", "the body is longer than its Content-Length") : tooLarge(limit));
        return;
      }
      if (whole) c.copy(whole, got);
      else chunks.push(c);
      got += c.length;
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
