/**
 * API errors: an HTTP status and a stable snake_case code, sent as
 * `{ "error": { "code", "message" } }` by the server's error handler.
 */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    /** Extra response headers (Retry-After on 429/503). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The JSON body of every error response. */
export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message: message.split("\n")[0] } };
}

/**
 * Maps an ImageError category (src/data/images.ts) from a worker to a response: bytes sharp
 * does not recognise are 415, a decoder's pixel limit 413, anything else it could not decode 400.
 */
export function imageFailure(reason: string, message: string): ApiError {
  if (reason.startsWith("not an image")) return new ApiError(415, "not_an_image", message);
  if (reason.startsWith("image too large")) return new ApiError(413, "image_too_large", message);
  if (reason.startsWith("empty")) return new ApiError(400, "empty_body", message);
  return new ApiError(400, "corrupt_image", message);
}
