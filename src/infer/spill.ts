/**
 * Where a long file's intermediate arrays wait between the passes of a streamed separation: the mono
 * mixture at the model's rate (read window by window) and every window's separated planes (written
 * by the model pass, read by the stems pass). In memory for audio held in memory; in a temporary
 * file for a file read in blocks, so memory does not grow with the length.
 */
import { closeSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRunning } from "../util/lock.js";

/** A spill folder: `stemscope-spill-<pid>-<random>` in os.tmpdir(). */
const SPILL_FOLDER = /^stemscope-spill-(\d+)-/u;

/**
 * Removes the spill folders of processes that no longer run (killed before they could remove their
 * own: a 2-h file leaves 1.4 GB).
 */
function removeStaleSpills(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = SPILL_FOLDER.exec(name)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !isRunning(Number(pid)))
      rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/** Float32 values written in order and read back at any place. */
export interface FloatStore {
  /** Values written so far. */
  readonly length: number;
  /** Appends `values`. */
  append(values: Float32Array): void;
  /**
   * `count` values from `start` (zeros past the end): a view of memory or a fresh array; do not
   * modify it.
   */
  read(start: number, count: number): Float32Array;
  /** Frees it (deletes its file). */
  dispose(): void;
}

/** A store over an array in memory (appends fill it from the start; it never grows). */
export class MemoryStore implements FloatStore {
  length: number;

  /** @param data the values (`filled` of them already written) */
  constructor(
    private readonly data: Float32Array,
    filled = data.length,
  ) {
    this.length = filled;
  }

  append(values: Float32Array): void {
    this.data.set(values, this.length);
    this.length += values.length;
  }

  read(start: number, count: number): Float32Array {
    if (start + count <= this.length) return this.data.subarray(start, start + count);
    const out = new Float32Array(count);
    out.set(this.data.subarray(start, Math.min(this.length, start + count)));
    return out;
  }

  dispose(): void {}
}

/**
 * A store in a temporary file (removed by {@link dispose}; those of killed processes by the next
 * FileStore made).
 */
export class FileStore implements FloatStore {
  length = 0;
  private readonly dir: string;
  private fd: number;

  constructor(name: string) {
    removeStaleSpills(tmpdir());
    this.dir = mkdtempSync(join(tmpdir(), `stemscope-spill-${process.pid}-`));
    this.fd = openSync(join(this.dir, `${name}.f32`), "w+");
  }

  append(values: Float32Array): void {
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    for (let done = 0; done < bytes.length;)
      done += writeSync(this.fd, bytes, done, bytes.length - done, this.length * 4 + done);
    this.length += values.length;
  }

  read(start: number, count: number): Float32Array {
    const out = new Float32Array(count);
    const available = Math.max(0, Math.min(count, this.length - start));
    const bytes = new Uint8Array(out.buffer, 0, available * 4);
    for (let done = 0; done < bytes.length;) {
      const n = readSync(this.fd, bytes, done, bytes.length - done, start * 4 + done);
      if (n === 0) break;
      done += n;
    }
    return out;
  }

  dispose(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Every window's K separated planes [nMels, size], stored as they come and read back by window. */
export class PlaneStore {
  constructor(
    private readonly store: FloatStore,
    /** K. */
    readonly sources: number,
  ) {}

  private cell = 0;

  /** Stores window w's planes (windows in order, from 0). */
  put(w: number, planes: readonly Float32Array[]): void {
    this.cell ||= planes[0]?.length ?? 0;
    if (this.store.length !== w * this.sources * this.cell)
      throw new RangeError(`PlaneStore: window ${w} stored out of order`);
    for (const plane of planes) this.store.append(plane);
  }

  /** Window w's K planes. */
  get(w: number): Float32Array[] {
    const all = this.store.read(w * this.sources * this.cell, this.sources * this.cell);
    return Array.from({ length: this.sources }, (_, s) => all.subarray(s * this.cell, (s + 1) * this.cell));
  }

  dispose(): void {
    this.store.dispose();
  }
}
