import { hashUnit } from "../../util/random.js";
import { DataError } from "../errors.js";

/**
 * The test side of a library's clips: per class, the clips whose seeded name hash ranks in
 * the first round(n · fraction) (at least one, at most n − 1) — `mix --split-by clip`'s rule.
 * @param keys clip keys of one class
 * @param where the class folder and the setting asking for the split, for the error
 * @returns for each key, true when it is on the test side
 * @throws DataError when a class has fewer than 2 clips
 */
export function clipTestSides(
  keys: readonly string[],
  fraction: number,
  seed: number,
  where: { folder: string; setting: string },
): boolean[] {
  if (keys.length < 2) {
    throw new DataError(
      `${where.folder}: only ${keys.length} clip; ${where.setting} needs at least 2 clips per class (or use \`testFraction\` 0)`,
    );
  }
  const ranked = keys
    .map((key, i) => ({ i, key, h: hashUnit(key, (seed >>> 0) ^ 0x51) }))
    .sort((a, b) => a.h - b.h || (a.key < b.key ? -1 : 1));
  const nTest = Math.min(keys.length - 1, Math.max(1, Math.round(keys.length * fraction)));
  const sides = new Array<boolean>(keys.length).fill(false);
  for (let r = 0; r < nTest; r++) sides[ranked[r]!.i] = true;
  return sides;
}
