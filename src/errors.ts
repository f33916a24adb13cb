/**
 * Errors meant for the person running stemscope: the CLI prints `message` alone (no stack trace)
 * and exits with `exitCode`. Every message names the file, line or setting at fault and what was
 * expected.
 *
 * The library speaks its own parameter names, written in backticks (`` `batchSize` ``); the CLI
 * shows each as the flag that sets it (`--batch-size`, see src/cli/flags.ts), so one message serves
 * both.
 */
import type { z } from "zod";

/** An error's message, or the thrown value as text (anything can be thrown). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An error for the person running stemscope (see above). */
export class StemscopeError extends Error {
  readonly exitCode: number;
  constructor(message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options?.exitCode ?? 1;
  }
}

/**
 * A setting the caller gave has a value the library cannot use. `parameter` is the library's name
 * of the setting (e.g. "batchSize"); the message names it in backticks and says what was expected.
 */
export class ParameterError extends StemscopeError {
  constructor(
    readonly parameter: string,
    message: string,
    options?: { cause?: unknown; exitCode?: number },
  ) {
    super(message, options);
  }
}

/** A command-line flag or argument had a value we cannot use (thrown by the CLI only). */
export class UsageError extends StemscopeError {}

/**
 * Validates `input` with a zod schema, throwing a {@link ParameterError} that names the first bad
 * setting in backticks: "`batchSize`: Too small: expected number to be >=1".
 * @param what what is being configured, for the message (e.g. "training config")
 */
export function parseSettings<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.map(String).join(".") ?? "";
  throw new ParameterError(
    String(issue?.path[0] ?? ""),
    `${what}: ${path === "" ? "" : `\`${path}\`: `}${issue?.message ?? "invalid"}`,
  );
}
