/**
 * FastCGI name-value pair encoding (spec 3.4): each length is one byte when < 128,
 * otherwise four bytes big-endian with the top bit set.
 */
/**
 * Names and values are byte strings: one JS char per byte (latin1), as Node gives raw header bytes.
 * Callers convert UTF-8 text (paths from argv, --param values) once, at the boundary.
 */
export type Param = readonly [name: string, value: string];

function lengthSize(n: number): number {
  return n > 127 ? 4 : 1;
}

function writeLength(target: Buffer, offset: number, n: number): number {
  if (n > 127) {
    target.writeUInt32BE((n | 0x80000000) >>> 0, offset);
    return offset + 4;
  }
  target[offset] = n;
  return offset + 1;
}

/** Encodes all pairs into one buffer (the body of the FCGI_PARAMS stream, before record framing). */
export function encodeParams(params: readonly Param[]): Buffer {
  // Byte strings: a string's length is its byte length, so the buffer is sized in one pass and
  // filled in a second, with no intermediate Buffer per name and value (this runs per request).
  let size = 0;
  for (const [name, value] of params) size += lengthSize(name.length) + lengthSize(value.length) + name.length + value.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const [name, value] of params) {
    at = writeLength(out, at, name.length);
    at = writeLength(out, at, value.length);
    at += out.write(name, at, 'latin1');
    at += out.write(value, at, 'latin1');
  }
  return out;
}

/** Decodes a name-value stream; throws on a truncated pair. Used for FCGI_GET_VALUES_RESULT and tests. */
export function decodeParams(buf: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let at = 0;
  const readLength = (): number => {
    const first = buf[at];
    if (first === undefined) throw new RangeError('truncated name-value length');
    if (first < 128) {
      at += 1;
      return first;
    }
    if (at + 4 > buf.length) throw new RangeError('truncated name-value length');
    const n = buf.readUInt32BE(at) & 0x7fffffff;
    at += 4;
    return n;
  };
  while (at < buf.length) {
    const nameLength = readLength();
    const valueLength = readLength();
    if (at + nameLength + valueLength > buf.length) throw new RangeError('truncated name-value pair');
    const name = buf.toString('latin1', at, at + nameLength);
    at += nameLength;
    const value = buf.toString('latin1', at, at + valueLength);
    at += valueLength;
    out.push([name, value]);
  }
  return out;
}
