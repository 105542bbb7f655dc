/**
 * An error caused by the user's input (a bad flag, file or field). The CLI prints its
 * message as one line, prefixed with `sat:`, and exits with status 2; no stack trace.
 */
export class UserError extends Error {
  override name = "UserError";
}
