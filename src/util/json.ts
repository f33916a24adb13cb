/**
 * JSON that keeps ±Infinity and NaN (as the strings "Infinity", "-Infinity", "NaN"): training
 * records hold them (a best score before the first epoch, a diverged loss).
 */
export function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v),
    indent,
  );
}

/** Parses {@link toJson}'s output (plain JSON too). Throws SyntaxError for invalid JSON. */
export function fromJson(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) =>
    v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : v === "NaN" ? NaN : v,
  );
}
