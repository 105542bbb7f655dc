/**
 * Errors caused by what the user gave us: a bad flag, file or field. Every layer throws these
 * (never a raw Node error) and the CLI prints the message as one line, prefixed with `sat:`,
 * with exit status 2 and no stack trace. The subclasses say which concern raised it, so a
 * library caller can tell a broken dataset from a broken model without parsing messages.
 */
export class UserError extends Error {
  override name = "UserError";

  /**
   * Line breaks in the message (a quoted id, a parser's excerpt of the file) are shown as \n,
   * so the message stays one line whatever the input held.
   */
  constructor(message: string) {
    super(String(message).replace(/\r\n|\r|\n/g, "\\n"));
  }
}

/** A caption file, split list or image folder that cannot be used. */
export class DatasetError extends UserError {
  override name = "DatasetError";
}

/** A feature store (manifest or shard) that is missing, malformed or does not match. */
export class FeatureStoreError extends UserError {
  override name = "FeatureStoreError";
}

/** A model folder, weights file, checkpoint or encoder file that cannot be loaded. */
export class ModelFileError extends UserError {
  override name = "ModelFileError";
}

/** An option or configuration value outside its working range. */
export class OptionError extends UserError {
  override name = "OptionError";
}
