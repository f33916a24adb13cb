/**
 * Reads the members of a zip archive that stores them uncompressed (method 0), such as GrandOrgue's
 * `.orgue` packages. Only what those need: the central directory, stored members, no zip64.
 */
import { DataError } from "../../errors.js";

/** One member: its name and bytes (a view into the archive). */
export interface ZipMember {
  name: string;
  data: Uint8Array;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/**
 * Lists the file members of `bytes` (folders left out), in central-directory order.
 * @param name the archive's path, for error messages
 * @throws DataError naming the archive when it is not a zip, is truncated, or compresses a member
 */
export function readStoredZip(bytes: Uint8Array, name: string): ZipMember[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new DataError(`${name}: not a zip archive (no end-of-central-directory record)`);
  const count = view.getUint16(eocd + 10, true);
  let at = view.getUint32(eocd + 16, true);
  const decoder = new TextDecoder();
  const members: ZipMember[] = [];
  for (let k = 0; k < count; k++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== CENTRAL) {
      throw new DataError(`${name}: corrupt zip central directory (entry ${k})`);
    }
    const method = view.getUint16(at + 10, true);
    const size = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const local = view.getUint32(at + 42, true);
    const memberName = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    at += 46 + nameLength + extraLength + commentLength;
    if (memberName.endsWith("/")) continue;
    if (method !== 0) {
      throw new DataError(
        `${name}: member ${memberName} is compressed (method ${method}); expected stored members`,
      );
    }
    if (local + 30 > bytes.length || view.getUint32(local, true) !== LOCAL) {
      throw new DataError(`${name}: corrupt local header of ${memberName}`);
    }
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + size > bytes.length) throw new DataError(`${name}: member ${memberName} is truncated`);
    members.push({ name: memberName, data: bytes.subarray(start, start + size) });
  }
  return members;
}
