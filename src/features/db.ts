/**
 * Decibel conversions of power spectrograms, after librosa 0.10 `power_to_db` / `db_to_power`.
 */

/** Options of {@link powerToDb}. */
export interface PowerToDbOptions {
  /** Reference power: a number, or "max" for the array's maximum (librosa's `ref=np.max`). Default 1. */
  ref?: number | "max";
  /** Floor applied to powers before the log (librosa's amin). Default 1e-10. */
  amin?: number;
  /** Keep only this many dB below the largest output value; null keeps everything. Default 80. */
  topDb?: number | null;
}

/**
 * 10·log10(max(amin, S)) − 10·log10(max(amin, ref)), then floored at (its max − topDb).
 * @param power power values (any shape, flattened), ≥ 0
 * @returns a new Float32Array of the same length, dB
 */
export function powerToDb(power: Float32Array, options: PowerToDbOptions = {}): Float32Array {
  const amin = options.amin ?? 1e-10;
  const topDb = options.topDb === undefined ? 80 : options.topDb;
  let ref: number;
  if (options.ref === "max") {
    ref = 0;
    for (let i = 0; i < power.length; i++) if ((power[i] as number) > ref) ref = power[i] as number;
  } else {
    ref = Math.abs(options.ref ?? 1);
  }
  const refDb = 10 * Math.log10(Math.max(amin, ref));
  const out = new Float32Array(power.length);
  let max = -Infinity;
  for (let i = 0; i < power.length; i++) {
    const v = 10 * Math.log10(Math.max(amin, power[i] as number)) - refDb;
    out[i] = v;
    if (v > max) max = v;
  }
  if (topDb !== null) {
    const floor = max - topDb;
    for (let i = 0; i < out.length; i++) if ((out[i] as number) < floor) out[i] = floor;
  }
  return out;
}

/** ref · 10^(dB/10), the inverse of {@link powerToDb} above its floor. Returns a new Float32Array. */
export function dbToPower(db: Float32Array, ref = 1): Float32Array {
  const out = new Float32Array(db.length);
  for (let i = 0; i < db.length; i++) out[i] = ref * Math.pow(10, (db[i] as number) / 10);
  return out;
}
