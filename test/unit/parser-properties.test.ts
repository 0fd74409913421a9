// Property tests for the two parsers that read what php-fpm (or whatever sits on its socket) sends:
// for any bytes and any chunking, they never throw anything but their own error, and never yield a
// record or a head other than what the bytes hold (a reference decoder of the whole input is the
// oracle). Complements the properties in fastcgi-reader.test.ts and cgi-response.test.ts, which
// start from valid input.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FastCGIProtocolError, RecordReader } from '../../src/fastcgi/reader.ts';
import { RecordType } from '../../src/fastcgi/record.ts';
import { CgiHeaderError, CgiHeaderParser } from '../../src/php/cgi-response.ts';

type Ev = { kind: 'stream' | 'record'; type: number; id: number; data: Buffer };

const isStream = (type: number) => type === RecordType.Stdout || type === RecordType.Stderr;

/** The oracle: decodes the whole input at once, the FastCGI spec read plainly. */
function reference(wire: Buffer): { events: Ev[]; error: boolean } {
  const events: Ev[] = [];
  let at = 0;
  while (at + 8 <= wire.length) {
    if (wire[at] !== 1) return { events, error: true };
    const type = wire[at + 1]!;
    const id = wire.readUInt16BE(at + 2);
    const length = wire.readUInt16BE(at + 4);
    const padding = wire[at + 6]!;
    const content = wire.subarray(at + 8, Math.min(wire.length, at + 8 + length));
    if (isStream(type)) {
      // Stream content is passed on as it arrives, a truncated record's too.
      events.push({ kind: 'stream', type, id, data: content });
    } else if (content.length === length) {
      events.push({ kind: 'record', type, id, data: content });
    }
    at += 8 + length + padding;
  }
  // A partial header at the end is not judged until it is whole.
  return { events, error: false };
}

/** Joins stream pieces of one record (chunking splits them anywhere) and drops empty pieces. */
function normalise(events: Ev[]): Ev[] {
  const out: Ev[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (e.kind === 'stream' && last?.kind === 'stream' && last.type === e.type && last.id === e.id && e.data.length > 0) {
      last.data = Buffer.concat([last.data, e.data]);
    } else if (e.kind === 'record' || e.data.length > 0) {
      out.push({ ...e, data: Buffer.from(e.data) });
    }
  }
  return out;
}

function chunk(wire: Buffer, fractions: number[]): Buffer[] {
  const cuts = fractions.map((f) => Math.floor(f * wire.length)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const c of [...cuts, wire.length]) {
    out.push(wire.subarray(last, c));
    last = c;
  }
  return out;
}

/** Bytes that are often almost-FastCGI: real headers with random fields, junk, truncation. */
const almostFastCgi = fc
  .array(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc
          .record({
            version: fc.oneof({ weight: 9, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
            type: fc.oneof(fc.constantFrom(RecordType.Stdout, RecordType.Stderr, RecordType.EndRequest), fc.integer({ min: 0, max: 255 })),
            id: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 0xffff })),
            content: fc.uint8Array({ maxLength: 40 }),
            declared: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
            padding: fc.integer({ min: 0, max: 12 }),
          })
          .map((r) => {
            const head = Buffer.from([r.version, r.type, r.id >> 8, r.id & 0xff, 0, 0, r.padding, 0]);
            head.writeUInt16BE(r.declared ?? r.content.length, 4);
            return Buffer.concat([head, Buffer.from(r.content), Buffer.alloc(r.padding, 0xee)]);
          }),
      },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)) },
    ),
    { maxLength: 8 },
  )
  .map((parts) => Buffer.concat(parts));

describe('RecordReader on arbitrary bytes', () => {
  it('under any chunking yields exactly the records the bytes hold, and throws only FastCGIProtocolError, only where they break', () => {
    fc.assert(
      fc.property(almostFastCgi, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }), (wire, fractions) => {
        const events: Ev[] = [];
        const reader = new RecordReader({
          onStream: (type, id, data) => events.push({ kind: 'stream', type, id, data: Buffer.from(data) }),
          onRecord: (type, id, data) => events.push({ kind: 'record', type, id, data: Buffer.from(data) }),
        });
        let error = false;
        try {
          for (const piece of chunk(wire, fractions)) reader.push(piece);
        } catch (err) {
          if (!(err instanceof FastCGIProtocolError)) throw err;
          error = true;
        }
        const expected = reference(wire);
        expect(error).toBe(expected.error);
        expect(normalise(events)).toEqual(normalise(expected.events));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('CgiHeaderParser on arbitrary bytes', () => {
  const piece = fc.oneof(
    fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a)),
    fc
      .constantFrom('\r\n', '\n', '\r\n\r\n', '\n\n', ': ', 'Status: ', 'Status: 404 Nope', 'Location: /x', 'Content-Type: text/html', 'X-A: b', ' ', '\t', '\r', '\0', ':')
      .map((s) => Buffer.from(s, 'latin1')),
  );
  const input = fc.array(piece, { maxLength: 12 }).map((p) => Buffer.concat(p));

  /** Feeds `chunks` until the head is complete; the body is the rest plus what follows. */
  function run(chunks: Buffer[]): { kind: 'head'; head: unknown; rest: Buffer } | { kind: 'error'; message: string } | { kind: 'incomplete' } {
    const p = new CgiHeaderParser();
    try {
      for (let i = 0; i < chunks.length; i++) {
        const r = p.push(chunks[i]!);
        if (r) return { kind: 'head', head: r.head, rest: Buffer.concat([r.rest, ...chunks.slice(i + 1)]) };
      }
      return { kind: 'incomplete' };
    } catch (err) {
      if (!(err instanceof CgiHeaderError)) throw err;
      return { kind: 'error', message: err.message };
    }
  }

  it('gives the same head and body, or the same CgiHeaderError, under any chunking as in one piece', () => {
    fc.assert(
      fc.property(input, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }), (wire, fractions) => {
        const whole = run([wire]);
        const pieces = run(chunk(wire, fractions));
        if (whole.kind === 'head' && pieces.kind === 'head') {
          expect(pieces.head).toEqual(whole.head);
          expect(pieces.rest.equals(whole.rest)).toBe(true);
          // Nothing is lost or invented: the body is the tail of the input.
          expect(wire.subarray(wire.length - whole.rest.length).equals(whole.rest)).toBe(true);
        } else {
          expect(pieces.kind).toBe(whole.kind);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
