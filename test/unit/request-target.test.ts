import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodePath, normalizePath, parseRequestTarget, percentDecode } from '../../src/route/request-target.ts';

function ok(raw: string): { path: string; query: string; rawPath: string } {
  const t = parseRequestTarget(raw);
  if (!t.ok) throw new Error(`${raw}: ${t.reason}`);
  return { path: t.path, query: t.query, rawPath: t.rawPath };
}
const pathOf = (raw: string) => ok(raw).path;
const rejected = (raw: string) => expect(parseRequestTarget(raw).ok, raw).toBe(false);

// Expectations below were checked against nginx 1.22 ($uri / 400 Bad Request).
describe('parseRequestTarget', () => {
  it('passes a plain path through, query split off raw', () => {
    expect(ok('/index.php?a=1&b=%20&c=%zz')).toEqual({ path: '/index.php', query: 'a=1&b=%20&c=%zz', rawPath: '/index.php' });
    expect(ok('/')).toEqual({ path: '/', query: '', rawPath: '/' });
    expect(ok('/a?')).toEqual({ path: '/a', query: '', rawPath: '/a' });
    expect(ok('/a?b?c=/../')).toMatchObject({ path: '/a', query: 'b?c=/../' });
  });

  it('refuses traversal above the root', () => {
    rejected('/..');
    rejected('/../x');
    rejected('/%2e%2e/x');
    rejected('/%2E%2e/x');
    rejected('/a/%2e%2e/%2e%2e/x');
    rejected('/a/../../x');
    rejected('/%2F..%2Fx');
    rejected('/a/b/../../..');
  });

  it('resolves . and .. inside the root, decoded ones too', () => {
    expect(pathOf('/a/../b')).toBe('/b');
    expect(pathOf('/a/%2e%2e/b')).toBe('/b');
    expect(pathOf('/a/./b/%2e/c')).toBe('/a/b/c');
    expect(pathOf('/a/b/..')).toBe('/a/');
    expect(pathOf('/a/b/.')).toBe('/a/b/');
    expect(pathOf('/a/./b/..')).toBe('/a/');
    expect(pathOf('/a/..')).toBe('/');
    expect(pathOf('/.')).toBe('/');
    expect(pathOf('/a/..b/.c/...')).toBe('/a/..b/.c/...');
  });

  it('decodes %2f and then normalises it like a slash', () => {
    expect(pathOf('/a%2fb')).toBe('/a/b');
    expect(pathOf('/a%2Fb/../c')).toBe('/a/c');
    expect(pathOf('/a%2f%2f%2fb')).toBe('/a/b');
  });

  it('decodes exactly once: %252e%252e stays a literal %2e%2e', () => {
    expect(pathOf('/%252e%252e/x')).toBe('/%2e%2e/x');
    expect(pathOf('/a%2525')).toBe('/a%25');
  });

  it('refuses NUL bytes', () => {
    rejected('/a%00b');
    rejected('/%00');
    rejected('/a\0b');
  });

  it('refuses bad escapes', () => {
    rejected('/%zz');
    rejected('/%4');
    rejected('/a%');
    rejected('/a%g1');
    rejected('/a%%41');
    rejected('/a/%-1');
  });

  it('decodes to bytes, one char per byte', () => {
    expect(pathOf('/caf%C3%A9')).toBe('/caf\u00c3\u00a9');
    expect(pathOf('/%ff%80')).toBe('/\u00ff\u0080');
    expect(pathOf('/a+b%20c')).toBe('/a+b c');
  });

  it('merges repeated slashes and keeps a trailing slash', () => {
    expect(pathOf('//a///b')).toBe('/a/b');
    expect(pathOf('//a///b/')).toBe('/a/b/');
    expect(pathOf('/a/b/')).toBe('/a/b/');
    expect(pathOf('//')).toBe('/');
    expect(pathOf('/a//')).toBe('/a/');
  });

  it('keeps the raw path undecoded', () => {
    expect(ok('//a/%2e%2e/b%20c?x').rawPath).toBe('//a/%2e%2e/b%20c');
  });

  it('routes absolute-form targets on their path, query kept raw', () => {
    expect(ok('http://h/p?q')).toEqual({ path: '/p', query: 'q', rawPath: '/p' });
    expect(ok('https://user@example.com:8443/a/../b%20c?x=%41')).toEqual({ path: '/b c', query: 'x=%41', rawPath: '/a/../b%20c' });
    expect(ok('HTTP://H/x')).toMatchObject({ path: '/x' });
    expect(ok('http://h')).toMatchObject({ path: '/', query: '' });
    // An empty path is "/" with or without a query (RFC 9110 4.2.3; nginx: $uri "/", $args "q=1").
    expect(ok('http://h?q=1')).toEqual({ path: '/', query: 'q=1', rawPath: '/' });
    rejected('http://h/../x');
  });

  it('keeps the origin-form for REQUEST_URI and the authority for HTTP_HOST', () => {
    expect(parseRequestTarget('http://user@h:81/p?q')).toMatchObject({ originForm: '/p?q', authority: 'h:81' });
    expect(parseRequestTarget('http://h?q=1')).toMatchObject({ originForm: '/?q=1', authority: 'h' });
    expect(parseRequestTarget('/p?q')).toMatchObject({ originForm: '/p?q', authority: null });
  });

  it('refuses other forms', () => {
    rejected('*');
    rejected('example.com:443');
    rejected('a/b');
    rejected('');
    rejected('http:/x');
    rejected('http://h#frag');
    rejected('1http://h/x');
  });
});

describe('percentDecode', () => {
  it('decodes upper and lower case escapes and leaves the rest alone', () => {
    expect(percentDecode('a%41%6a%2F%2f+')).toBe('aAj//+');
    expect(percentDecode('no escapes')).toBe('no escapes');
    expect(percentDecode('%')).toBeNull();
    expect(percentDecode('%%')).toBeNull();
    expect(percentDecode('%1')).toBeNull();
    expect(percentDecode('x%1g')).toBeNull();
  });
});

describe('normalizePath', () => {
  it('returns null above the root and the path otherwise', () => {
    expect(normalizePath('/..')).toBeNull();
    expect(normalizePath('/a/../..')).toBeNull();
    expect(normalizePath('/a/b/c')).toBe('/a/b/c');
    expect(normalizePath('/a/./b//c/')).toBe('/a/b/c/');
  });

  it('property: results start with "/", and have no //, . or .. segments', () => {
    const seg = fc.constantFrom('a', 'b', '.', '..', '', '.x', '..y', '...');
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 12 }), (segs) => {
        const n = normalizePath('/' + segs.join('/'));
        if (n === null) return;
        expect(n.startsWith('/')).toBe(true);
        expect(n.includes('//')).toBe(false);
        expect(n.split('/').some((s) => s === '.' || s === '..')).toBe(false);
        expect(normalizePath(n)).toBe(n); // idempotent
      }),
    );
  });
});

describe('encodePath', () => {
  it('escapes what is not a path character, and % itself', () => {
    expect(encodePath('/a b/c?d#e%f')).toBe('/a%20b/c%3Fd%23e%25f');
    expect(encodePath('/caf\u00c3\u00a9')).toBe('/caf%C3%A9');
    expect(encodePath("/A-z0_9.~!$&'()*+,;=:@")).toBe("/A-z0_9.~!$&'()*+,;=:@");
    expect(encodePath('/\u0000\u0001\u007f\u00ff"<>\\^`{|}')).toBe('/%00%01%7F%FF%22%3C%3E%5C%5E%60%7B%7C%7D');
  });

  it('property: any byte-string path round-trips through parseRequestTarget', () => {
    const byteSeg = fc.uint8Array({ minLength: 1, maxLength: 12 }).map((a) =>
      Buffer.from(a.filter((b) => b !== 0x2f && b !== 0))
        .toString('latin1'),
    );
    fc.assert(
      fc.property(fc.array(byteSeg, { maxLength: 6 }), fc.boolean(), (segs, trailing) => {
        const parts = segs.filter((s) => s !== '' && s !== '.' && s !== '..');
        const path = '/' + parts.join('/') + (trailing && parts.length > 0 ? '/' : '');
        const encoded = encodePath(path);
        expect(encoded).toMatch(/^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/);
        expect(percentDecode(encoded)).toBe(path);
        const t = parseRequestTarget(encoded + '?q');
        expect(t).toEqual({ ok: true, path, query: 'q', rawPath: encoded, originForm: encoded + '?q', authority: null });
      }),
      { numRuns: 500 },
    );
  });
});

describe('fragments', () => {
  it('end the target at # as nginx does (a conforming client never sends one)', () => {
    expect(parseRequestTarget('/a.php#x?y')).toMatchObject({ ok: true, path: '/a.php', query: '', originForm: '/a.php' });
    expect(parseRequestTarget('/a?q=1#frag')).toMatchObject({ ok: true, path: '/a', query: 'q=1' });
  });
});
