import { availableParallelism } from "node:os";
import { UsageError } from "../errors.js";

/**
 * Small flag parsers shared by the subcommands. Each takes the flag's name as written on the
 * command line (e.g. "--seed") so its error says which flag was wrong and what was expected.
 * They are plain functions, not commander argParsers, so errors become `UsageError`s that the
 * CLI prints as one line.
 */

/** Parses an integer flag; `min`/`max` are inclusive bounds. */
export function parseIntFlag(
  flag: string,
  value: string,
  bounds: { min?: number; max?: number } = {},
): number {
  const text = value.trim();
  if (!/^[+-]?\d+$/.test(text)) throw new UsageError(`${flag} must be an integer, got "${value}"`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag} is too large: "${value}"`);
  checkBounds(flag, n, bounds);
  return n;
}

/** Parses a finite number flag; `min`/`max` are inclusive bounds. */
export function parseFloatFlag(
  flag: string,
  value: string,
  bounds: { min?: number; max?: number } = {},
): number {
  const text = value.trim();
  const n = text === "" ? Number.NaN : Number(text);
  if (!Number.isFinite(n)) throw new UsageError(`${flag} must be a number, got "${value}"`);
  checkBounds(flag, n, bounds);
  return n;
}

/** Parses a comma-separated list of numbers, e.g. `--gain-db -6,6`; `length` fixes the count. */
export function parseFloatList(flag: string, value: string, options: { length?: number } = {}): number[] {
  const parts = value.split(",").map((p) => p.trim());
  if (options.length !== undefined && parts.length !== options.length) {
    throw new UsageError(`${flag} must be ${options.length} comma-separated numbers, got "${value}"`);
  }
  return parts.map((p) => {
    const n = p === "" ? Number.NaN : Number(p);
    if (!Number.isFinite(n)) throw new UsageError(`${flag} must be comma-separated numbers, got "${value}"`);
    return n;
  });
}

/** Parses a `min,max` range of numbers with min ≤ max, e.g. `--gain-db -6,6`. */
export function parseRange(flag: string, value: string): [number, number] {
  const [lo, hi] = parseFloatList(flag, value, { length: 2 }) as [number, number];
  if (lo > hi) throw new UsageError(`${flag} must be min,max with min ≤ max, got "${value}"`);
  return [lo, hi];
}

/** Parses a comma-separated list of names; empty items are dropped and an empty list rejected. */
export function parseNameList(flag: string, value: string): string[] {
  const names = value
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (names.length === 0) throw new UsageError(`${flag} needs at least one name, got "${value}"`);
  return names;
}

/** Parses one of a fixed set of words. */
export function parseChoice<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  const found = choices.find((c) => c === value);
  if (found === undefined)
    throw new UsageError(`${flag} must be one of ${choices.join(", ")}, got "${value}"`);
  return found;
}

/** Parses `--jobs`: a positive integer, or undefined → the number of CPU cores. */
export function parseJobs(flag: string, value: string | undefined): number {
  if (value === undefined) return defaultJobs();
  return parseIntFlag(flag, value, { min: 1, max: 256 });
}

/** The default worker count: the number of CPU cores available to this process. */
export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

function checkBounds(flag: string, n: number, bounds: { min?: number; max?: number }): void {
  if (bounds.min !== undefined && n < bounds.min)
    throw new UsageError(`${flag} must be ≥ ${bounds.min}, got ${n}`);
  if (bounds.max !== undefined && n > bounds.max)
    throw new UsageError(`${flag} must be ≤ ${bounds.max}, got ${n}`);
}
