/**
 * Errors meant for the person running stemscope: the CLI prints `message` alone (no stack trace)
 * and exits with `exitCode`. Every message names the file, line or flag at fault and what was expected.
 */
export class StemscopeError extends Error {
  readonly exitCode: number;
  constructor(message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options?.exitCode ?? 1;
  }
}

/** A command-line flag or argument had a value we cannot use. */
export class UsageError extends StemscopeError {}
