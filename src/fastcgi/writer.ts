import { FLAG_KEEP_CONN, HEADER_LENGTH, MAX_CONTENT_LENGTH, RecordType, Role, paddingFor, writeHeader } from './record.ts';

/**
 * Frames a request's records. The whole head of a request (BEGIN_REQUEST, the PARAMS stream and its
 * terminator) is built into one buffer so it goes out in one write.
 */

/** Size of `n` bytes of stream content once split into records of at most 65535 bytes, padded to 8. */
function framedSize(n: number): number {
  let size = 0;
  for (let left = n; left > 0; left -= MAX_CONTENT_LENGTH) {
    const len = Math.min(left, MAX_CONTENT_LENGTH);
    size += HEADER_LENGTH + len + paddingFor(len);
  }
  return size;
}

/** Writes `data` as a sequence of `type` records into `out` at `at`; returns the new offset. */
function frameInto(out: Buffer, at: number, type: RecordType, requestId: number, data: Buffer): number {
  for (let start = 0; start < data.length; start += MAX_CONTENT_LENGTH) {
    const len = Math.min(data.length - start, MAX_CONTENT_LENGTH);
    const pad = paddingFor(len);
    writeHeader(out, at, type, requestId, len, pad);
    at += HEADER_LENGTH;
    at += data.copy(out, at, start, start + len);
    out.fill(0, at, at + pad);
    at += pad;
  }
  return at;
}

/**
 * BEGIN_REQUEST (responder role, keep-conn flag), the params stream and its empty terminator record.
 * When `stdinEnd` is set, the empty STDIN record that ends the request body is appended too, so a
 * request with no body is a single write.
 */
export function encodeRequestHead(requestId: number, params: Buffer, keepConn: boolean, stdinEnd: boolean): Buffer {
  const size = HEADER_LENGTH + 8 + framedSize(params.length) + HEADER_LENGTH + (stdinEnd ? HEADER_LENGTH : 0);
  const out = Buffer.allocUnsafe(size);
  writeHeader(out, 0, RecordType.BeginRequest, requestId, 8, 0);
  out[8] = 0;
  out[9] = Role.Responder;
  out[10] = keepConn ? FLAG_KEEP_CONN : 0;
  out.fill(0, 11, 16);
  let at = frameInto(out, 16, RecordType.Params, requestId, params);
  writeHeader(out, at, RecordType.Params, requestId, 0, 0);
  at += HEADER_LENGTH;
  if (stdinEnd) writeHeader(out, at, RecordType.Stdin, requestId, 0, 0);
  return out;
}

const ZERO_PADDING = Buffer.alloc(8);

/**
 * One chunk of the request body as STDIN records, without copying it: record headers and padding
 * interleaved with slices of `data`, for a corked or vectored write. `data` must not be empty (an
 * empty STDIN record ends the body).
 */
export function stdinRecords(requestId: number, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let start = 0; start < data.length; start += MAX_CONTENT_LENGTH) {
    const len = Math.min(data.length - start, MAX_CONTENT_LENGTH);
    const pad = paddingFor(len);
    const header = Buffer.allocUnsafe(HEADER_LENGTH);
    writeHeader(header, 0, RecordType.Stdin, requestId, len, pad);
    out.push(header, data.subarray(start, start + len));
    if (pad > 0) out.push(ZERO_PADDING.subarray(0, pad));
  }
  return out;
}

/** The empty STDIN record that ends the request body. */
export function encodeStdinEnd(requestId: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH);
  writeHeader(out, 0, RecordType.Stdin, requestId, 0, 0);
  return out;
}
