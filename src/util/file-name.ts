/**
 * Names that files inside a folder (a model, a feature store) give to each other. They are
 * resolved against that folder on disk, or under /v1/model/files/ by the server, so a name
 * must stay inside it: `../../etc/passwd` or `/etc/passwd` must never pass. No Node imports:
 * the web page checks model.json with the same rule.
 */

/** Not empty, at most 255 bytes' worth of characters, no separator, not `.`/`..`, no control characters. */
export function isPlainFileName(name: unknown): name is string {
  // eslint-disable-next-line no-control-regex
  return typeof name === "string" && name.length > 0 && name.length <= 255 && name !== "." && name !== ".." && !/[/\\\u0000-\u001f]/.test(name);
}
