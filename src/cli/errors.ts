/** The CLI's error type is the library's: see src/errors.ts. */
export { UserError } from "../errors.js";
