import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FastCGIProtocolError, RecordReader } from '../../src/fastcgi/reader.ts';
import { HEADER_LENGTH, RecordType } from '../../src/fastcgi/record.ts';

/** A record as it goes on the wire, with explicit padding so odd paddings are exercised too. */
interface Rec {
  type: number;
  requestId: number;
  content: Buffer;
  padding: number;
}

function frame(r: Rec): Buffer {
  const out = Buffer.alloc(HEADER_LENGTH + r.content.length + r.padding, 0xee); // padding bytes are junk on purpose
  out[0] = 1;
  out[1] = r.type;
  out.writeUInt16BE(r.requestId, 2);
  out.writeUInt16BE(r.content.length, 4);
  out[6] = r.padding;
  out[7] = 0;
  r.content.copy(out, HEADER_LENGTH);
  return out;
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

function endRequest(appStatus: number, protocolStatus: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(appStatus, 0);
  b[4] = protocolStatus;
  return b;
}

type Event =
  | { kind: 'stream'; type: number; requestId: number; data: Buffer }
  | { kind: 'record'; type: number; requestId: number; content: Buffer };

/**
 * `copy`: keep copies of what the reader hands out. Its pieces are zero-copy slices of the pushed
 * chunks, which the tests never modify, so the exhaustive split tests skip the copy for speed.
 */
function collect(copy = true): { reader: RecordReader; events: Event[] } {
  const events: Event[] = [];
  const reader = new RecordReader({
    onStream(type, requestId, data) {
      events.push({ kind: 'stream', type, requestId, data: copy ? Buffer.from(data) : data });
    },
    onRecord(type, requestId, content) {
      events.push({ kind: 'record', type, requestId, content: copy ? Buffer.from(content) : content });
    },
  });
  return { reader, events };
}

const isStream = (t: number) => t === RecordType.Stdout || t === RecordType.Stderr;

/**
 * Checks the events against the records: every stream record's content is delivered exactly, in
 * order, by pieces that never span two records (a piece may not exceed what is left of its record);
 * empty stream records deliver nothing; every other record is delivered once, whole.
 */
function expectEvents(records: Rec[], events: Event[]): void {
  // Plain checks rather than expect() per piece: the 1-byte-chunk runs produce ~66k pieces.
  const fail = (msg: string): never => {
    throw new Error(msg);
  };
  let e = 0;
  for (const [i, r] of records.entries()) {
    if (isStream(r.type)) {
      let got = 0;
      while (got < r.content.length) {
        const ev = events[e++] ?? fail(`record ${i}: missing stream piece at ${got}/${r.content.length}`);
        if (ev.kind !== 'stream') fail(`record ${i}: expected a stream piece, got a type ${ev.type} record`);
        const data = (ev as Extract<Event, { kind: 'stream' }>).data;
        if (ev.type !== r.type || ev.requestId !== r.requestId) fail(`record ${i}: piece of type ${ev.type} id ${ev.requestId}`);
        if (data.length === 0) fail(`record ${i}: empty piece`);
        if (got + data.length > r.content.length) fail(`record ${i}: a piece spans two records`);
        if (!data.equals(r.content.subarray(got, got + data.length))) fail(`record ${i}: wrong bytes at ${got}`);
        got += data.length;
      }
    } else {
      const ev = events[e++] ?? fail(`record ${i}: not delivered`);
      if (ev.kind !== 'record') fail(`record ${i}: expected a whole record, got a stream piece`);
      const content = (ev as Extract<Event, { kind: 'record' }>).content;
      if (ev.type !== r.type || ev.requestId !== r.requestId) fail(`record ${i}: got type ${ev.type} id ${ev.requestId}`);
      if (!content.equals(r.content)) fail(`record ${i}: wrong content`);
    }
  }
  expect(events.length, 'extra events').toBe(e);
}

function feed(wire: Buffer, cuts: number[], copy = true): { reader: RecordReader; events: Event[] } {
  const c = collect(copy);
  let last = 0;
  for (const cut of [...cuts, wire.length]) {
    c.reader.push(wire.subarray(last, cut));
    last = cut;
  }
  return c;
}

/** stdout of various lengths (0, 1, 7, 8, 9, 65535) with padding, stderr interleaved, END_REQUEST. */
const sample: Rec[] = [
  { type: RecordType.Stdout, requestId: 1, content: Buffer.from('Status: 200\r\nContent-Type: text/plain\r\n\r\n'), padding: 6 },
  { type: RecordType.Stderr, requestId: 1, content: Buffer.from('PHP Warning: x'), padding: 2 },
  { type: RecordType.Stdout, requestId: 1, content: pattern(1, 1), padding: 7 },
  { type: RecordType.Stdout, requestId: 1, content: Buffer.alloc(0), padding: 0 },
  { type: RecordType.Stdout, requestId: 1, content: pattern(7, 2), padding: 1 },
  { type: RecordType.Stderr, requestId: 1, content: pattern(8, 3), padding: 0 },
  { type: RecordType.Stdout, requestId: 1, content: pattern(9, 4), padding: 7 },
  { type: RecordType.Stdout, requestId: 1, content: pattern(65535, 5), padding: 1 },
  { type: RecordType.Stderr, requestId: 1, content: Buffer.alloc(0), padding: 0 },
  { type: RecordType.Stdout, requestId: 1, content: Buffer.alloc(0), padding: 0 },
  { type: RecordType.EndRequest, requestId: 1, content: endRequest(0x01020304, 0), padding: 0 },
];
const sampleWire = Buffer.concat(sample.map(frame));

/** A smaller stream for the exhaustive split tests (every split point of the 65 KB one is slow with per-byte checks). */
const small: Rec[] = [
  { type: RecordType.Stdout, requestId: 1, content: Buffer.from('Content-Type: text/html\r\n\r\n<p>'), padding: 1 },
  { type: RecordType.Stderr, requestId: 1, content: Buffer.from('warn'), padding: 4 },
  { type: RecordType.Stdout, requestId: 1, content: Buffer.alloc(0), padding: 0 },
  { type: RecordType.Stdout, requestId: 1, content: pattern(13, 9), padding: 3 },
  { type: RecordType.Stdout, requestId: 1, content: Buffer.alloc(0), padding: 5 }, // empty with padding
  { type: RecordType.Stderr, requestId: 1, content: Buffer.alloc(0), padding: 0 },
  { type: RecordType.EndRequest, requestId: 1, content: endRequest(255, 0), padding: 0 },
];
const smallWire = Buffer.concat(small.map(frame));

describe('RecordReader', () => {
  it('parses the sample stream in one chunk, one piece per non-empty stream record', () => {
    const { reader, events } = feed(sampleWire, []);
    expectEvents(sample, events);
    // Whole records in one chunk: exactly one piece each.
    expect(events.length).toBe(sample.filter((r) => !isStream(r.type) || r.content.length > 0).length);
    const end = events.at(-1)!;
    expect(end.kind).toBe('record');
    expect(end.kind === 'record' && end.content.readUInt32BE(0)).toBe(0x01020304);
    expect(end.kind === 'record' && end.content[4]).toBe(0);
    expect(reader.atRecordBoundary).toBe(true);
  });

  it('gives the same records for EVERY two-chunk split of the stream with the 65535-byte record', () => {
    for (let cut = 0; cut <= sampleWire.length; cut++) {
      const { reader, events } = feed(sampleWire, [cut], false);
      expectEvents(sample, events);
      if (!reader.atRecordBoundary) throw new Error(`not at a record boundary after split at ${cut}`);
    }
  });

  it('gives the same records for every two-chunk split point of a small stream', () => {
    for (let cut = 0; cut <= smallWire.length; cut++) {
      const { reader, events } = feed(smallWire, [cut]);
      expectEvents(small, events);
      expect(reader.atRecordBoundary).toBe(true);
    }
  });

  it('gives the same records for every pair of split points (three chunks)', () => {
    for (let a = 0; a <= smallWire.length; a++) {
      for (let b = a; b <= smallWire.length; b++) {
        const { events } = feed(smallWire, [a, b]);
        expectEvents(small, events);
      }
    }
  });

  it('gives the same records in 1-byte chunks', () => {
    for (const [recs, wire] of [
      [small, smallWire],
      [sample, sampleWire],
    ] as const) {
      const cuts = Array.from({ length: wire.length - 1 }, (_, i) => i + 1);
      const { reader, events } = feed(wire, cuts);
      expectEvents(recs, events);
      expect(reader.atRecordBoundary).toBe(true);
    }
  });

  it('gives the same records under random chunkings', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: sampleWire.length }), { maxLength: 40 }), (raw) => {
        const cuts = [...raw].sort((x, y) => x - y);
        const { reader, events } = feed(sampleWire, cuts);
        expectEvents(sample, events);
        expect(reader.atRecordBoundary).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('accepts empty chunks anywhere', () => {
    const c = collect();
    for (let i = 0; i < smallWire.length; i++) {
      c.reader.push(Buffer.alloc(0));
      c.reader.push(smallWire.subarray(i, i + 1));
    }
    c.reader.push(Buffer.alloc(0));
    expectEvents(small, c.events);
  });

  it('delivers non-stream records whole even when split, and empty ones as empty buffers', () => {
    const recs: Rec[] = [
      { type: RecordType.GetValuesResult, requestId: 0, content: pattern(300, 1), padding: 4 },
      { type: RecordType.Params, requestId: 2, content: Buffer.alloc(0), padding: 0 },
      { type: RecordType.UnknownType, requestId: 0, content: Buffer.from([99, 0, 0, 0, 0, 0, 0, 0]), padding: 0 },
      { type: RecordType.EndRequest, requestId: 0xfffe, content: endRequest(0xffffffff, 3), padding: 0 },
    ];
    const wire = Buffer.concat(recs.map(frame));
    for (const size of [1, 3, 8, 9, 100, wire.length]) {
      const cuts: number[] = [];
      for (let i = size; i < wire.length; i += size) cuts.push(i);
      const { events } = feed(wire, cuts);
      expectEvents(recs, events);
      const last = events.at(-1)!;
      expect(last.requestId).toBe(0xfffe);
      expect(last.kind === 'record' && last.content.readUInt32BE(0)).toBe(0xffffffff);
      expect(last.kind === 'record' && last.content[4]).toBe(3);
    }
  });

  it('keeps a split non-stream record whole when every chunk is read into the same buffer (the connection\'s shared read buffer)', () => {
    const recs: Rec[] = [
      { type: RecordType.GetValuesResult, requestId: 0, content: pattern(300, 2), padding: 3 },
      { type: RecordType.EndRequest, requestId: 1, content: endRequest(7, 0), padding: 0 },
    ];
    const wire = Buffer.concat(recs.map(frame));
    const shared = Buffer.alloc(5);
    // The collector keeps what it is handed as it is: only the reader's own copy can save it.
    const { reader, events } = collect(false);
    for (let at = 0; at < wire.length; at += shared.length) {
      const n = wire.copy(shared, 0, at, at + shared.length);
      reader.push(shared.subarray(0, n));
      shared.fill(0xaa);
    }
    expect(events.map((e) => e.kind === 'record' && e.content.toString('hex'))).toEqual(recs.map((r) => r.content.toString('hex')));
  });

  it('reads the 16-bit request id and content length big-endian', () => {
    const recs: Rec[] = [{ type: RecordType.Stdout, requestId: 0x1234, content: pattern(0x0102, 0), padding: 0 }];
    const { events } = feed(Buffer.concat(recs.map(frame)), []);
    expect(events).toHaveLength(1);
    expect(events[0]!.requestId).toBe(0x1234);
    expect(events[0]!.kind === 'stream' && events[0]!.data.length).toBe(0x0102);
  });

  it('skips up to 255 bytes of padding', () => {
    const recs: Rec[] = [
      { type: RecordType.Stdout, requestId: 1, content: Buffer.from('a'), padding: 255 },
      { type: RecordType.Stdout, requestId: 1, content: Buffer.alloc(0), padding: 255 },
      { type: RecordType.Stdout, requestId: 1, content: Buffer.from('b'), padding: 0 },
    ];
    const wire = Buffer.concat(recs.map(frame));
    for (const cut of [0, 9, 100, 264, 265, 300, wire.length]) expectEvents(recs, feed(wire, [cut]).events);
  });

  describe('bad version byte', () => {
    it('throws FastCGIProtocolError on the first record', () => {
      const wire = frame({ type: RecordType.Stdout, requestId: 1, content: Buffer.from('x'), padding: 0 });
      for (const v of [0, 2, 0xff]) {
        const bad = Buffer.from(wire);
        bad[0] = v;
        const { reader } = collect();
        expect(() => reader.push(bad)).toThrow(FastCGIProtocolError);
      }
    });

    it('throws on a later record, also when its header is split across chunks', () => {
      const good = frame({ type: RecordType.Stdout, requestId: 1, content: Buffer.from('hello'), padding: 3 });
      const bad = frame({ type: RecordType.Stdout, requestId: 1, content: Buffer.from('x'), padding: 0 });
      bad[0] = 2;
      const wire = Buffer.concat([good, bad]);
      for (let cut = 0; cut <= wire.length; cut++) {
        const { reader, events } = collect();
        expect(() => {
          reader.push(wire.subarray(0, cut));
          reader.push(wire.subarray(cut));
        }).toThrow(FastCGIProtocolError);
        // The good record's content came out before the error, and nothing of the bad one.
        expect(Buffer.concat(events.map((e) => (e.kind === 'stream' ? e.data : Buffer.alloc(0)))).toString()).toBe('hello');
      }
    });

    it('is an Error named FastCGIProtocolError that names the byte', () => {
      const { reader } = collect();
      let err: unknown;
      try {
        reader.push(Buffer.from([9, 6, 0, 1, 0, 0, 0, 0]));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FastCGIProtocolError);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).name).toBe('FastCGIProtocolError');
      expect((err as Error).message).toContain('9');
    });
  });

  describe('atRecordBoundary', () => {
    it('is true before anything arrives', () => {
      expect(collect().reader.atRecordBoundary).toBe(true);
    });

    it('is false inside a header, content or padding and true exactly between records', () => {
      const recs: Rec[] = [
        { type: RecordType.Stdout, requestId: 1, content: Buffer.from('abc'), padding: 5 },
        { type: RecordType.Stdout, requestId: 1, content: Buffer.alloc(0), padding: 0 },
        { type: RecordType.EndRequest, requestId: 1, content: endRequest(0, 0), padding: 0 },
      ];
      const wire = Buffer.concat(recs.map(frame));
      const boundaries = new Set([0, 16, 24, 40]);
      expect(wire.length).toBe(40);
      const { reader } = collect();
      for (let i = 0; i < wire.length; i++) {
        expect(reader.atRecordBoundary, `after ${i} bytes`).toBe(boundaries.has(i));
        reader.push(wire.subarray(i, i + 1));
      }
      expect(reader.atRecordBoundary).toBe(true);
    });

    it('is false for a stream truncated after the header of an empty-content, padded record', () => {
      const { reader } = collect();
      reader.push(frame({ type: RecordType.Stdout, requestId: 1, content: Buffer.alloc(0), padding: 3 }).subarray(0, 9));
      expect(reader.atRecordBoundary).toBe(false);
      reader.push(Buffer.alloc(2));
      expect(reader.atRecordBoundary).toBe(true);
    });
  });

  describe('properties', () => {
    const recArb = fc.record({
      type: fc.oneof(
        fc.constantFrom(RecordType.Stdout, RecordType.Stderr, RecordType.EndRequest, RecordType.GetValuesResult),
        fc.integer({ min: 0, max: 255 }),
      ),
      requestId: fc.integer({ min: 0, max: 0xffff }),
      content: fc.oneof(
        { weight: 5, arbitrary: fc.uint8Array({ maxLength: 40 }) },
        { weight: 1, arbitrary: fc.integer({ min: 65500, max: 65535 }).map((n) => pattern(n, n)) },
      ).map((a) => Buffer.from(a)),
      padding: fc.integer({ min: 0, max: 255 }),
    });

    it('random record sequences under random chunking always yield the same records', () => {
      fc.assert(
        fc.property(
          fc.array(recArb, { maxLength: 12 }),
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 }),
          (recs, fractions) => {
            const wire = Buffer.concat(recs.map(frame));
            const cuts = fractions.map((f) => Math.floor(f * wire.length)).sort((a, b) => a - b);
            const { reader, events } = feed(wire, cuts);
            expectEvents(recs, events);
            expect(reader.atRecordBoundary).toBe(true);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('random bytes never throw anything but FastCGIProtocolError', () => {
      fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }),
          fc.boolean(),
          (chunks, validFirst) => {
            const { reader } = collect();
            if (validFirst) chunks.unshift(new Uint8Array([1]));
            try {
              for (const c of chunks) reader.push(Buffer.from(c));
            } catch (e) {
              if (!(e instanceof FastCGIProtocolError)) throw e;
            }
          },
        ),
        { numRuns: 2000 },
      );
    });

    it('random bytes with version 1 headers parse without throwing', () => {
      // Any header with version 1 is acceptable framing: the reader must not throw at all.
      fc.assert(
        fc.property(fc.array(recArb, { maxLength: 6 }), fc.integer({ min: 0, max: 50 }), (recs, trunc) => {
          const wire = Buffer.concat(recs.map(frame));
          const { reader } = collect();
          reader.push(wire.subarray(0, Math.max(0, wire.length - trunc)));
          if (trunc === 0) expect(reader.atRecordBoundary).toBe(true);
        }),
      );
    });
  });
});
