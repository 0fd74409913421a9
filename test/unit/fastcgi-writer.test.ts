import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeParams, encodeParams, type Param } from '../../src/fastcgi/name-value.ts';
import { RecordReader } from '../../src/fastcgi/reader.ts';
import { HEADER_LENGTH, MAX_CONTENT_LENGTH, RecordType, paddingFor } from '../../src/fastcgi/record.ts';
import { encodeRequestHead, encodeStdinEnd, stdinRecords } from '../../src/fastcgi/writer.ts';

interface WireRecord {
  version: number;
  type: number;
  requestId: number;
  contentLength: number;
  paddingLength: number;
  reserved: number;
  content: Buffer;
  padding: Buffer;
}

/** Independent, strict walk over the wire: every byte must belong to a record. */
function splitRecords(wire: Buffer): WireRecord[] {
  const out: WireRecord[] = [];
  let at = 0;
  while (at < wire.length) {
    if (wire.length - at < HEADER_LENGTH) throw new Error(`truncated header at ${at}`);
    const contentLength = wire.readUInt16BE(at + 4);
    const paddingLength = wire[at + 6]!;
    const end = at + HEADER_LENGTH + contentLength + paddingLength;
    if (end > wire.length) throw new Error(`truncated record at ${at}`);
    out.push({
      version: wire[at]!,
      type: wire[at + 1]!,
      requestId: wire.readUInt16BE(at + 2),
      contentLength,
      paddingLength,
      reserved: wire[at + 7]!,
      content: wire.subarray(at + HEADER_LENGTH, at + HEADER_LENGTH + contentLength),
      padding: wire.subarray(at + HEADER_LENGTH + contentLength, end),
    });
    at = end;
  }
  return out;
}

/** Decodes with the project's own RecordReader: per type, the concatenated content. */
function readAll(wire: Buffer): Array<{ type: number; requestId: number; content: Buffer }> {
  const out: Array<{ type: number; requestId: number; content: Buffer }> = [];
  const reader = new RecordReader({
    onStream: () => {
      throw new Error('no stream records expected in a request');
    },
    onRecord: (type, requestId, content) => out.push({ type, requestId, content: Buffer.from(content) }),
  });
  // Odd chunk size so headers are split too.
  for (let i = 0; i < wire.length; i += 4093) reader.push(wire.subarray(i, i + 4093));
  expect(reader.atRecordBoundary).toBe(true);
  return out;
}

function checkFraming(records: WireRecord[]): void {
  for (const r of records) {
    expect(r.version).toBe(1);
    expect(r.reserved).toBe(0);
    expect(r.contentLength).toBeLessThanOrEqual(MAX_CONTENT_LENGTH);
    expect(r.paddingLength).toBe(paddingFor(r.contentLength));
    expect((r.contentLength + r.paddingLength) % 8).toBe(0);
    expect(r.padding.every((b) => b === 0)).toBe(true);
  }
}

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >> 9)) & 0xff;
  return b;
}

describe('paddingFor', () => {
  it('rounds content up to a multiple of 8', () => {
    expect([0, 1, 7, 8, 9, 15, 16, 65535].map(paddingFor)).toEqual([0, 7, 1, 0, 7, 1, 0, 1]);
  });
});

describe('encodeRequestHead', () => {
  const params: Param[] = [
    ['SCRIPT_FILENAME', '/srv/www/index.php'],
    ['QUERY_STRING', 'a=1&b=2'],
    ['REQUEST_METHOD', 'POST'],
    ['CONTENT_LENGTH', ''],
  ];

  it('starts with BEGIN_REQUEST: responder role, keep-conn flag, zero reserved bytes', () => {
    for (const keepConn of [true, false]) {
      const wire = encodeRequestHead(0x0102, encodeParams(params), keepConn, false);
      const [begin] = splitRecords(wire);
      expect(begin).toMatchObject({ version: 1, type: RecordType.BeginRequest, requestId: 0x0102, contentLength: 8, paddingLength: 0 });
      expect([...begin!.content]).toEqual([0, 1, keepConn ? 1 : 0, 0, 0, 0, 0, 0]);
      // Raw header bytes, big-endian request id.
      expect([...wire.subarray(0, 8)]).toEqual([1, 1, 0x01, 0x02, 0, 8, 0, 0]);
    }
  });

  it('sends the params, an empty PARAMS terminator and, when asked, the empty STDIN', () => {
    const encoded = encodeParams(params);
    for (const stdinEnd of [false, true]) {
      const wire = encodeRequestHead(7, encoded, true, stdinEnd);
      const recs = splitRecords(wire);
      checkFraming(recs);
      expect(recs.map((r) => [r.type, r.contentLength])).toEqual([
        [RecordType.BeginRequest, 8],
        [RecordType.Params, encoded.length],
        [RecordType.Params, 0],
        ...(stdinEnd ? [[RecordType.Stdin, 0]] : []),
      ]);
      expect(recs.every((r) => r.requestId === 7)).toBe(true);
      expect(decodeParams(recs[1]!.content)).toEqual(params);
      // Exactly sized: no trailing garbage from allocUnsafe.
      expect(wire.length).toBe(recs.reduce((n, r) => n + 8 + r.contentLength + r.paddingLength, 0));
    }
  });

  it('sends no content PARAMS record for empty params', () => {
    const recs = splitRecords(encodeRequestHead(1, Buffer.alloc(0), false, true));
    expect(recs.map((r) => [r.type, r.contentLength])).toEqual([
      [RecordType.BeginRequest, 8],
      [RecordType.Params, 0],
      [RecordType.Stdin, 0],
    ]);
  });

  it('splits a 200 KB params blob into 65535-byte records that reassemble exactly', () => {
    const big: Param[] = [
      ['HTTP_COOKIE', 'c'.repeat(150_000)],
      ['HTTP_X_BIG', 'x'.repeat(50_000)],
      ['SCRIPT_NAME', '/index.php'],
    ];
    const encoded = encodeParams(big);
    expect(encoded.length).toBeGreaterThan(200_000);
    const wire = encodeRequestHead(3, encoded, true, true);
    const recs = splitRecords(wire);
    checkFraming(recs);
    const paramRecs = recs.filter((r) => r.type === RecordType.Params);
    const n = Math.ceil(encoded.length / MAX_CONTENT_LENGTH);
    expect(paramRecs.map((r) => r.contentLength)).toEqual([
      ...Array<number>(n - 1).fill(MAX_CONTENT_LENGTH),
      encoded.length - (n - 1) * MAX_CONTENT_LENGTH,
      0,
    ]);
    // Reassembled through the project's reader.
    const read = readAll(wire);
    const stream = Buffer.concat(read.filter((r) => r.type === RecordType.Params).map((r) => r.content));
    expect(stream.equals(encoded)).toBe(true);
    expect(decodeParams(stream)).toEqual(big);
  });

  it('handles params of exactly 65535 and 65536 bytes', () => {
    for (const [len, lens] of [
      [65535, [65535, 0]],
      [65536, [65535, 1, 0]],
      [65535 * 2, [65535, 65535, 0]],
    ] as const) {
      const blob = pattern(len);
      const recs = splitRecords(encodeRequestHead(1, blob, true, false));
      checkFraming(recs);
      const p = recs.filter((r) => r.type === RecordType.Params);
      expect(p.map((r) => r.contentLength)).toEqual(lens);
      expect(Buffer.concat(p.map((r) => r.content)).equals(blob)).toBe(true);
    }
  });

  it('round-trips random params through framing and the reader', () => {
    const byteString = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a).toString('latin1'));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(byteString, byteString), { maxLength: 20 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.boolean(),
        fc.boolean(),
        (pairs, id, keep, stdinEnd) => {
          const wire = encodeRequestHead(id, encodeParams(pairs), keep, stdinEnd);
          const recs = splitRecords(wire);
          checkFraming(recs);
          expect(recs.every((r) => r.requestId === id)).toBe(true);
          const read = readAll(wire);
          const stream = Buffer.concat(read.filter((r) => r.type === RecordType.Params).map((r) => r.content));
          expect(decodeParams(stream)).toEqual(pairs);
          expect(read.at(-1)!.type).toBe(stdinEnd ? RecordType.Stdin : RecordType.Params);
        },
      ),
    );
  });
});

describe('stdinRecords', () => {
  it('returns nothing for an empty chunk (an empty STDIN record would end the body)', () => {
    expect(stdinRecords(1, Buffer.alloc(0))).toEqual([]);
  });

  it('frames a small body with header, data and zero padding', () => {
    const body = Buffer.from('hello'); // 5 bytes → 3 bytes of padding
    const parts = stdinRecords(0x0203, body);
    const wire = Buffer.concat(parts);
    expect([...wire]).toEqual([1, 5, 2, 3, 0, 5, 3, 0, ...body, 0, 0, 0]);
  });

  it('does not copy the body: the data parts are views of it', () => {
    const body = pattern(70_000);
    const parts = stdinRecords(1, body);
    const views = parts.filter((p) => p.buffer === body.buffer);
    expect(views.map((v) => v.length)).toEqual([65535, 70_000 - 65535]);
  });

  it('splits a 1 MiB body into 65535-byte records that reassemble exactly', () => {
    const body = pattern(1024 * 1024);
    const wire = Buffer.concat(stdinRecords(9, body));
    const recs = splitRecords(wire);
    checkFraming(recs);
    expect(recs).toHaveLength(17); // 16 × 65535 + 16
    expect(recs.slice(0, 16).every((r) => r.contentLength === 65535 && r.paddingLength === 1)).toBe(true);
    expect(recs[16]).toMatchObject({ contentLength: 16, paddingLength: 0 });
    expect(recs.every((r) => r.type === RecordType.Stdin && r.requestId === 9)).toBe(true);
    const read = readAll(wire);
    expect(Buffer.concat(read.map((r) => r.content)).equals(body)).toBe(true);
  });

  it('frames random bodies exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200_000 }), fc.integer({ min: 0, max: 0xffff }), (n, id) => {
        const body = pattern(n);
        const wire = Buffer.concat(stdinRecords(id, body));
        const recs = splitRecords(wire);
        checkFraming(recs);
        expect(recs.every((r) => r.contentLength > 0 && r.requestId === id && r.type === RecordType.Stdin)).toBe(true);
        expect(recs.length).toBe(Math.ceil(n / MAX_CONTENT_LENGTH));
        expect(Buffer.concat(recs.map((r) => r.content)).equals(body)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });
});

describe('encodeStdinEnd', () => {
  it('is one empty STDIN record', () => {
    expect([...encodeStdinEnd(0xabcd)]).toEqual([1, RecordType.Stdin, 0xab, 0xcd, 0, 0, 0, 0]);
  });

  it('completes a full request readable by the reader', () => {
    const body = pattern(100_000);
    const wire = Buffer.concat([
      encodeRequestHead(4, encodeParams([['A', 'b']]), true, false),
      ...stdinRecords(4, body),
      encodeStdinEnd(4),
    ]);
    const read = readAll(wire);
    expect(read.map((r) => r.type)).toEqual([
      RecordType.BeginRequest,
      RecordType.Params,
      RecordType.Params,
      RecordType.Stdin,
      RecordType.Stdin,
      RecordType.Stdin,
    ]);
    expect(read.at(-1)!.content.length).toBe(0);
    expect(Buffer.concat(read.filter((r) => r.type === RecordType.Stdin).map((r) => r.content)).equals(body)).toBe(true);
  });
});
