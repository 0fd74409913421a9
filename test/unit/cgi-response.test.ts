import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CgiHeaderError, CgiHeaderParser, MAX_HEADER_BLOCK, type CgiHead } from '../../src/php/cgi-response.ts';

function parse(text: string | Buffer): { head: CgiHead; rest: Buffer } {
  const r = new CgiHeaderParser().push(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  if (!r) throw new Error('header block incomplete');
  return r;
}

function parseChunks(chunks: Buffer[]): { head: CgiHead; rest: Buffer } | null {
  const p = new CgiHeaderParser();
  for (const [i, c] of chunks.entries()) {
    const r = p.push(c);
    if (r) {
      // Whatever followed the block in this push and the pushes we did not make yet is the body.
      return { head: r.head, rest: Buffer.concat([r.rest, ...chunks.slice(i + 1)]) };
    }
  }
  return null;
}

const bad = (text: string) => expect(() => parse(text)).toThrow(CgiHeaderError);

describe('CgiHeaderParser', () => {
  it('keeps a head split across reads whole when every read goes into the same buffer (php-fpm\'s shared read buffer)', () => {
    const wire = Buffer.from('Status: 201 Created\r\nContent-Type: text/plain\r\nX-Long: ' + 'v'.repeat(300) + '\r\n\r\nbody', 'latin1');
    const shared = Buffer.alloc(7);
    const p = new CgiHeaderParser();
    let got: { head: CgiHead; rest: string } | null = null;
    for (let at = 0; at < wire.length && !got; at += shared.length) {
      const n = wire.copy(shared, 0, at, at + shared.length);
      const r = p.push(shared.subarray(0, n));
      if (r) got = { head: r.head, rest: r.rest.toString('latin1') };
      shared.fill(0x41);
    }
    expect(got?.head.status).toBe(201);
    expect(got?.head.headers).toEqual([['Content-Type', 'text/plain'], ['X-Long', 'v'.repeat(300)]]);
  });

  describe('status', () => {
    it('is 200 without a Status header', () => {
      const { head } = parse('Content-Type: text/html\r\n\r\n');
      expect(head).toEqual({ status: 200, statusText: undefined, headers: [['Content-Type', 'text/html']], contentLength: null });
    });

    it('refuses an informational Status (1xx): it is never a final response', () => {
      for (const s of ['100', '101 Switching Protocols', '103 Early Hints', '199']) bad(`Status: ${s}\r\n\r\n`);
    });

    it('takes Status: 404 Not Found and strips the Status header', () => {
      const { head } = parse('Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n');
      expect(head.status).toBe(404);
      expect(head.statusText).toBe('Not Found');
      expect(head.headers).toEqual([['Content-Type', 'text/plain']]);
    });

    it('takes a Status without a reason phrase, in any letter case', () => {
      expect(parse('status: 201\n\n').head).toMatchObject({ status: 201, statusText: undefined, headers: [] });
      expect(parse('STATUS:   503   Service  Unavailable  \n\n').head).toMatchObject({ status: 503, statusText: 'Service  Unavailable' });
    });

    it('is 302 for a Location without Status (RFC 3875 6.2.3), and Status wins over it', () => {
      expect(parse('Location: https://example.com/\r\n\r\n').head).toMatchObject({
        status: 302,
        headers: [['Location', 'https://example.com/']],
      });
      expect(parse('location: /x\n\n').head.status).toBe(302);
      expect(parse('Location: /x\r\nStatus: 301 Moved Permanently\r\n\r\n').head).toMatchObject({
        status: 301,
        statusText: 'Moved Permanently',
        headers: [['Location', '/x']],
      });
    });

    it('keeps the first of several Status headers', () => {
      expect(parse('Status: 404\r\nStatus: 500\r\n\r\n').head.status).toBe(404);
    });

    it('rejects bad status lines', () => {
      for (const s of ['abc', '99', '099', '1000', '2000 OK', '200OK', '', '-200', '20 0', '200\u0000']) bad(`Status: ${s}\r\n\r\n`);
    });
  });

  describe('Content-Length (the bridge frames the body; PHP\'s length is taken out of the headers)', () => {
    const length = (...values: string[]) => parse(values.map((v) => `Content-Length: ${v}\r\n`).join('') + '\r\n').head;

    it('takes one decimal, and repeats of the same value (RFC 9110 8.6)', () => {
      expect(length('0')).toMatchObject({ contentLength: 0, headers: [] });
      expect(length('12345')).toMatchObject({ contentLength: 12345 });
      expect(length('5', '5')).toMatchObject({ contentLength: 5 });
      expect(length('5, 5')).toMatchObject({ contentLength: 5 });
      expect(length('007')).toMatchObject({ contentLength: 7 });
      expect(length('5').invalidContentLength).toBeUndefined();
    });

    it('drops a length that is not one non-negative decimal, and says so', () => {
      for (const values of [['-1'], ['abc'], ['5', '7'], ['5, 6'], ['1e3'], ['0x10'], ['+5'], ['5 5'], [''], ['9999999999999999'], ['3.0']]) {
        const head = length(...values);
        expect(head.contentLength, values.join('|')).toBeNull();
        expect(head.invalidContentLength, values.join('|')).toBeDefined();
        expect(head.headers).toEqual([]);
      }
    });
  });

  describe('headers', () => {
    it('keeps several Set-Cookie headers separate and in order', () => {
      const { head } = parse('Set-Cookie: a=1; Path=/\r\nX-A: 1\r\nSet-Cookie: b=2\r\nset-cookie: c=3, d=4\r\n\r\n');
      expect(head.headers).toEqual([
        ['Set-Cookie', 'a=1; Path=/'],
        ['X-A', '1'],
        ['Set-Cookie', 'b=2'],
        ['set-cookie', 'c=3, d=4'],
      ]);
    });

    it('strips hop-by-hop headers and Status', () => {
      const { head } = parse(
        [
          'Connection: close',
          'Keep-Alive: timeout=5',
          'Proxy-Connection: keep-alive',
          'Transfer-Encoding: chunked',
          'TE: trailers',
          'Trailer: X',
          'Upgrade: websocket',
          'Status: 200 OK',
          'Content-Length: 3',
          'X-Kept: yes',
          '',
          '',
        ].join('\r\n'),
      );
      expect(head.headers).toEqual([['X-Kept', 'yes']]);
      expect(head.contentLength).toBe(3);
    });

    it('trims optional whitespace (SP/HTAB) around values and keeps empty values', () => {
      expect(parse('X-A:   v  w \t\r\nX-B:\r\nX-C:\t\r\n\r\n').head.headers).toEqual([
        ['X-A', 'v  w'],
        ['X-B', ''],
        ['X-C', ''],
      ]);
    });

    it('keeps obs-text bytes (0x80-0xFF) in values, 0xA0 included', () => {
      const { head } = parse('X-A: caf\u00c3\u00a9\u00a0\r\nX-B: \u00a0x\r\n\r\n');
      expect(head.headers).toEqual([
        ['X-A', 'caf\u00c3\u00a9\u00a0'],
        ['X-B', '\u00a0x'],
      ]);
    });

    it('accepts a colon in a value and RFC 9110 token characters in names', () => {
      expect(parse("X-Time: 12:30:00\r\nX!#$%&'*+.^_`|~1: ok\r\n\r\n").head.headers).toEqual([
        ['X-Time', '12:30:00'],
        ["X!#$%&'*+.^_`|~1", 'ok'],
      ]);
    });
  });

  describe('framing', () => {
    it('accepts LF-only and mixed line endings', () => {
      for (const text of ['A: 1\nB: 2\n\nbody', 'A: 1\r\nB: 2\n\nbody', 'A: 1\nB: 2\r\n\r\nbody', 'A: 1\r\nB: 2\n\r\nbody']) {
        const { head, rest } = parse(text);
        expect(head.headers).toEqual([
          ['A', '1'],
          ['B', '2'],
        ]);
        expect(rest.toString()).toBe('body');
      }
    });

    it('returns the body bytes after the block as rest, byte-exact', () => {
      const body = Buffer.from([0, 13, 10, 13, 10, 255, 0x41]);
      const { rest } = parse(Buffer.concat([Buffer.from('X: y\r\n\r\n'), body]));
      expect(rest.equals(body)).toBe(true);
      expect(parse('X: y\r\n\r\n').rest.length).toBe(0);
    });

    it('accepts an empty header block', () => {
      expect(parse('\r\nbody')).toMatchObject({ head: { status: 200, headers: [] } });
      expect(parse('\r\nbody').rest.toString()).toBe('body');
      expect(parse('\nbody').rest.toString()).toBe('body');
      expect(parse('\r\n\r\n').rest.toString()).toBe('\r\n');
    });

    it('returns null until the block is complete and then the whole head', () => {
      const p = new CgiHeaderParser();
      expect(p.push(Buffer.from('Status: 404\r\n'))).toBeNull();
      expect(p.push(Buffer.from('X: 1\r\n'))).toBeNull();
      expect(p.push(Buffer.alloc(0))).toBeNull();
      const r = p.push(Buffer.from('\r\nhello'));
      expect(r?.head).toEqual({ status: 404, statusText: undefined, headers: [['X', '1']], contentLength: null });
      expect(r?.rest.toString()).toBe('hello');
    });

    it('gives the same result for every split point, inside "\\r\\n\\r\\n" too', () => {
      for (const text of [
        'Status: 404 Not Found\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Type: text/html\r\n\r\n<p>body\r\n\r\n</p>',
        'Location: /x\n\nbody\n\n',
        'A: 1\r\n\nB',
        '\r\n\r\n',
        '\n\n',
      ]) {
        const whole = Buffer.from(text, 'latin1');
        const expected = parse(whole);
        for (let a = 0; a <= whole.length; a++) {
          const two = parseChunks([whole.subarray(0, a), whole.subarray(a)]);
          expect(two, `split at ${a} of ${JSON.stringify(text)}`).toEqual(expected);
          for (let b = a; b <= whole.length; b++) {
            const three = parseChunks([whole.subarray(0, a), whole.subarray(a, b), whole.subarray(b)]);
            expect(three, `split at ${a},${b} of ${JSON.stringify(text)}`).toEqual(expected);
          }
        }
        const bytes = parseChunks([...whole].map((x) => Buffer.from([x])));
        expect(bytes).toEqual(expected);
      }
    });

    it('finish() throws: the response ended inside the header block', () => {
      const p = new CgiHeaderParser();
      p.push(Buffer.from('Content-Type: text/html\r\n'));
      expect(() => p.finish()).toThrow(CgiHeaderError);
    });
  });

  describe('malformed blocks throw CgiHeaderError', () => {
    it('lines without a colon or with an empty name', () => {
      bad('Content-Type text/html\r\n\r\n');
      bad(': value\r\n\r\n');
      bad('X: 1\r\njunk\r\n\r\n');
    });

    it('obs-fold (a line starting with SP or HTAB)', () => {
      bad('X-A: 1\r\n 2\r\n\r\n');
      bad('X-A: 1\r\n\t2\r\n\r\n');
      bad(' X-A: 1\r\n\r\n');
    });

    it('bad names', () => {
      for (const name of ['X A', 'X-A ', 'X\tA', 'X(A)', 'X"A', 'X/A', 'X@A', 'X\u00e9', 'X\u0000A', 'X[A]', 'X{A}', 'X;A', 'X=A', 'X?A', 'X\\A']) {
        bad(`${name}: v\r\n\r\n`);
      }
    });

    it('CR, NUL and other controls in values, at the edges too', () => {
      for (const v of ['a\rb', 'a\u0000b', '\u0000', 'a\u0001', 'a\u007f', 'a\u001fb', 'a\u000bb', 'a\u000cb']) bad(`X: ${v}\r\n\r\n`);
      // A CR before the line's own CRLF or at the start of the value: nginx rejects these lines
      // ("upstream sent invalid header"); they must not be trimmed away as if they were whitespace.
      bad('X: a\r\r\n\r\n');
      bad('X: \ra\r\n\r\n');
      bad('X: a\u000b\r\n\r\n');
      bad('X: \u000ca\r\n\r\n');
      bad('X: \u0000\r\n\r\n');
    });

    it('a block larger than 64 KiB, complete or not', () => {
      const big = 'X: ' + 'a'.repeat(MAX_HEADER_BLOCK) + '\r\n\r\n';
      expect(() => parse(big)).toThrow(CgiHeaderError);
      const p = new CgiHeaderParser();
      expect(() => {
        for (let i = 0; i < 100; i++) p.push(Buffer.from('X-Filler: ' + 'b'.repeat(990) + '\r\n'));
      }).toThrow(CgiHeaderError);
      // Still throws when the block is found only after the limit was crossed.
      const q = new CgiHeaderParser();
      expect(() => q.push(Buffer.from('X: ' + 'c'.repeat(MAX_HEADER_BLOCK - 3)))).not.toThrow(); // exactly 64 KiB pending
      expect(() => q.push(Buffer.from('\r\n\r\n'))).toThrow(CgiHeaderError);
    });

    it('but not a block of exactly 64 KiB, nor a large body after a small block', () => {
      const line = 'X: ' + 'a'.repeat(MAX_HEADER_BLOCK - 3 - 4) + '\r\n\r\n';
      expect(line.length).toBe(MAX_HEADER_BLOCK);
      expect(parse(line).head.headers[0]![1].length).toBe(MAX_HEADER_BLOCK - 7);
      const body = Buffer.alloc(1 << 20, 0x61);
      const { rest } = parse(Buffer.concat([Buffer.from('X: y\r\n\r\n'), body]));
      expect(rest.length).toBe(1 << 20);
    });

    it('errors are Errors named CgiHeaderError', () => {
      let err: unknown;
      try {
        parse('nope\r\n\r\n');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CgiHeaderError);
      expect((err as Error).name).toBe('CgiHeaderError');
    });
  });

  describe('properties', () => {
    it('random bytes never throw anything but CgiHeaderError', () => {
      const piece = fc.oneof(
        fc.uint8Array({ maxLength: 30 }),
        fc.constantFrom('\r\n', '\n', '\r\n\r\n', ': ', 'Status: ', 'Location: /', 'X-A: b', ' ', '\t', '\r', '\0').map((s) =>
          Buffer.from(s, 'latin1'),
        ),
      );
      fc.assert(
        fc.property(fc.array(fc.array(piece, { maxLength: 8 }), { maxLength: 6 }), (chunks) => {
          const p = new CgiHeaderParser();
          try {
            for (const c of chunks) {
              const r = p.push(Buffer.concat(c.map((x) => Buffer.from(x))));
              if (r) {
                expect(r.head.status).toBeGreaterThanOrEqual(100);
                expect(r.head.status).toBeLessThanOrEqual(999);
                break;
              }
            }
          } catch (e) {
            if (!(e instanceof CgiHeaderError)) throw e;
          }
        }),
        { numRuns: 3000 },
      );
    });

    it('valid blocks parse to their headers under any chunking', () => {
      const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/).filter((n) => !/^(status|connection|keep-alive|proxy-connection|transfer-encoding|te|trailer|upgrade|location|content-length)$/i.test(n));
      const value = fc.stringMatching(/^[!-~]([ -~]{0,20}[!-~])?$/);
      fc.assert(
        fc.property(
          fc.array(fc.tuple(name, value), { maxLength: 8 }),
          fc.constantFrom('\r\n', '\n'),
          fc.uint8Array({ maxLength: 20 }),
          fc.array(fc.nat(), { maxLength: 5 }),
          (headers, eol, body, rawCuts) => {
            const wire = Buffer.concat([
              Buffer.from(headers.map(([n, v]) => `${n}: ${v}${eol}`).join('') + eol, 'latin1'),
              Buffer.from(body),
            ]);
            const cuts = rawCuts.map((c) => c % (wire.length + 1)).sort((a, b) => a - b);
            const chunks: Buffer[] = [];
            let last = 0;
            for (const c of [...cuts, wire.length]) {
              chunks.push(wire.subarray(last, c));
              last = c;
            }
            const r = parseChunks(chunks);
            expect(r?.head).toEqual({ status: 200, statusText: undefined, headers, contentLength: null });
            expect(r?.rest.equals(Buffer.from(body))).toBe(true);
          },
        ),
      );
    });
  });
});
