import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareResponses, DEFAULT_SHADOW_HEADERS, findNoise, normaliseText, parsePointer, PointerError, type CapturedResponse, type CompareRules } from '../../src/shadow/compare.ts';

const RULES: CompareRules = { headers: DEFAULT_SHADOW_HEADERS, ignorePointers: [], ignorePatterns: [], compareBody: true };

function resp(status: number, headers: Record<string, string | string[]>, body: string | Buffer): CapturedResponse {
  return {
    status,
    headers: Object.entries(headers).flatMap(([n, v]) => (Array.isArray(v) ? v : [v]).map((x) => [n, x] as const)),
    body: typeof body === 'string' ? Buffer.from(body) : body,
  };
}
const json = (body: unknown, extra: Record<string, string> = {}) => resp(200, { 'content-type': 'application/json', ...extra }, JSON.stringify(body));
const html = (body: string, extra: Record<string, string> = {}) => resp(200, { 'content-type': 'text/html; charset=UTF-8', ...extra }, body);

describe('shadow comparison', () => {
  it('equal answers match', () => {
    expect(compareResponses(html('<p>x</p>'), html('<p>x</p>'), RULES)).toEqual({ match: true });
  });

  it('a different status is a mismatch that names both', () => {
    const c = compareResponses(html('<p>x</p>'), { ...html('<p>x</p>'), status: 404 }, RULES);
    expect(c).toEqual({ match: false, diff: 'status: php 200 | app 404' });
  });

  it('compares the chosen headers only; content-type by meaning, not by case or spacing', () => {
    expect(compareResponses(html('x', { 'x-powered-by': 'PHP/8.2' }), html('x', { 'x-powered-by': 'Express' }), RULES)).toEqual({ match: true });
    expect(compareResponses(html('x'), resp(200, { 'content-type': 'text/html;charset=utf-8' }, 'x'), RULES)).toEqual({ match: true });
    const c = compareResponses(html('x', { 'cache-control': 'no-store' }), html('x'), RULES);
    expect(c).toEqual({ match: false, diff: 'cache-control: php "no-store" | app (none)' });
    const moved = compareResponses(resp(302, { location: '/a' }, ''), resp(302, { location: '/b' }, ''), RULES);
    expect(moved).toEqual({ match: false, diff: 'location: php "/a" | app "/b"' });
    const custom = { ...RULES, headers: ['x-powered-by'] };
    expect(compareResponses(html('x', { 'x-powered-by': 'PHP/8.2' }), html('x', { 'x-powered-by': 'Express' }), custom)).toMatchObject({ match: false });
  });

  it('JSON: key order and formatting do not matter; the first difference is named by its pointer', () => {
    const php = resp(200, { 'content-type': 'application/json' }, '{"name":"yay","meta":{"v":1,"tags":["a","b"]}}');
    const app = resp(200, { 'content-type': 'application/json; charset=utf-8' }, '{\n  "meta": {"tags": ["a", "b"], "v": 1.0},\n  "name": "yay"\n}');
    expect(compareResponses(php, app, RULES)).toEqual({ match: true });
    expect(compareResponses(json({ a: { b: [1, 2, 3] } }), json({ a: { b: [1, 5, 3] } }), RULES)).toEqual({ match: false, diff: 'body /a/b/1: php 2 | app 5' });
    expect(compareResponses(json({ a: 1 }), json({ a: 1, extra: true }), RULES)).toEqual({ match: false, diff: 'body /extra: only in app' });
    expect(compareResponses(json({ a: 1, gone: 2 }), json({ a: 1 }), RULES)).toEqual({ match: false, diff: 'body /gone: only in php' });
    expect(compareResponses(json([1, 2]), json([1, 2, 3]), RULES)).toEqual({ match: false, diff: 'body /: php 2 items | app 3 items' });
    expect(compareResponses(json({ 'a/b': 'x' }), json({ 'a/b': 'y' }), RULES)).toEqual({ match: false, diff: 'body /a~1b: php "x" | app "y"' });
    expect(compareResponses(json({ n: 1 }), json({ n: '1' }), RULES)).toEqual({ match: false, diff: 'body /n: php 1 | app "1"' });
  });

  it('JSON: one side not JSON is a mismatch; neither, compared as text', () => {
    const broken = resp(200, { 'content-type': 'application/json' }, '{"a":');
    expect(compareResponses(json({ a: 1 }), broken, RULES)).toEqual({ match: false, diff: "body: app's is not JSON" });
    expect(compareResponses(broken, resp(200, { 'content-type': 'application/json' }, '{"a": '), RULES)).toEqual({ match: true });
  });

  it('JSON pointers take volatile values out, with * for any key or index', () => {
    const rules = { ...RULES, ignorePointers: ['/meta/time', '/items/*/updated', '/a~1b'] };
    const php = json({ meta: { time: 1, v: 2 }, items: [{ id: 1, updated: 'x' }, { id: 2, updated: 'y' }], 'a/b': 1 });
    const app = json({ meta: { time: 99, v: 2 }, items: [{ id: 1, updated: 'z' }, { id: 2 }], 'a/b': 2 });
    expect(compareResponses(php, app, rules)).toEqual({ match: true });
    expect(compareResponses(php, json({ meta: { time: 99, v: 3 }, items: [], 'a/b': 2 }), rules)).toMatchObject({ match: false, diff: 'body /items: php 2 items | app 0 items' });
    // An index, and a pointer to something absent, are fine.
    expect(compareResponses(json([1, 2, 3]), json([9, 2, 3]), { ...RULES, ignorePointers: ['/0', '/nope/x'] })).toEqual({ match: true });
  });

  it('refuses what is not a JSON pointer', () => {
    expect(parsePointer('/a~0b/c~1d/0')).toEqual(['a~b', 'c/d', '0']);
    for (const bad of ['meta/time', '', '/a~2']) expect(() => parsePointer(bad)).toThrow(PointerError);
  });

  it('text and HTML: whitespace runs, and whitespace between tags, do not matter', () => {
    const php = html('<ul>\n    <li>a</li>\n    <li>b  c</li>\n</ul>\n');
    const app = html('<ul><li>a</li><li>b c</li></ul>');
    expect(compareResponses(php, app, RULES)).toEqual({ match: true });
    expect(normaliseText('  a \t\n b  ')).toBe('a b');
  });

  it('text: the diff shows both sides around the first difference', () => {
    const php = html(`<h2>Package Details: yay</h2><p>Yet another yogurt</p>\n`);
    const app = html(`<h2>Package Details: yay</h2><p>Yet another yoghurt</p>\n`);
    const c = compareResponses(php, app, RULES);
    expect(c.match).toBe(false);
    if (c.match) return;
    expect(c.diff).toBe('body at char 47: php "…y</h2><p>Yet another yogurt</p>" | app "…y</h2><p>Yet another yoghurt</p>"');
  });

  it('regexes take tokens out of text, JSON strings and compared headers', () => {
    const rules = { ...RULES, ignorePatterns: [/name="csrf" value="[^"]*"/g, /token=[a-z0-9]+/g] };
    const form = (t: string) => html(`<form><input name="csrf" value="${t}"><button>go</button></form>`);
    expect(compareResponses(form('abc123'), form('zzz999'), rules)).toEqual({ match: true });
    expect(compareResponses(form('abc123'), form('zzz999'), RULES).match).toBe(false);
    expect(compareResponses(json({ next: '/p?token=abc' }), json({ next: '/p?token=def' }), rules)).toEqual({ match: true });
    const loc = (t: string) => resp(302, { location: `/login?token=${t}` }, '');
    expect(compareResponses(loc('aa1'), loc('bb2'), rules)).toEqual({ match: true });
  });

  it('other types byte for byte', () => {
    const png = (b: number[]) => resp(200, { 'content-type': 'image/png' }, Buffer.from(b));
    expect(compareResponses(png([1, 2, 3]), png([1, 2, 3]), RULES)).toEqual({ match: true });
    expect(compareResponses(png([1, 2, 3]), png([1, 9, 3]), RULES)).toEqual({ match: false, diff: 'body: 3 bytes, first difference at byte 1' });
    expect(compareResponses(png([1, 2, 3]), png([1, 2]), RULES)).toEqual({ match: false, diff: 'body: php 3 bytes | app 2 bytes' });
  });

  it('HEAD: bodies are not compared', () => {
    expect(compareResponses(html('a'), html('b'), { ...RULES, compareBody: false })).toEqual({ match: true });
  });

  it('several differences in one short line, never longer than 400 characters', () => {
    const c = compareResponses(html('x'.repeat(5000), { 'cache-control': 'a'.repeat(500) }), resp(500, { 'content-type': 'text/plain' }, 'y'.repeat(5000)), RULES);
    expect(c.match).toBe(false);
    if (c.match) return;
    expect(c.diff.startsWith('status: php 200 | app 500; content-type: php "text/html; charset=utf-8" | app "text/plain"; cache-control: php "aaaa')).toBe(true);
    expect(c.diff.length).toBeLessThanOrEqual(400);
    expect(c.diff).not.toContain('\n');
  });

  it('properties: a response matches itself, and JSON matches any reordering of its keys', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const a = json(v);
        const shuffled = JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).reverse()) : x));
        expect(compareResponses(a, a, RULES)).toEqual({ match: true });
        expect(compareResponses(a, resp(200, { 'content-type': 'application/json' }, shuffled), RULES)).toEqual({ match: true });
      }),
    );
    fc.assert(
      fc.property(fc.string(), fc.string(), (x, y) => {
        const c = compareResponses(html(x), html(y), RULES);
        expect(c.match).toBe(normaliseText(x) === normaliseText(y));
      }),
    );
  });

  describe("noise: where PHP's two answers to one request differ is left out", () => {
    it('none when PHP answers the same twice', () => {
      expect(findNoise(html('<p>x</p>'), html('<p>x</p>'), RULES)).toBeNull();
    });

    it('JSON: every pointer that differs between the two PHP answers', () => {
      const a = json({ name: 'yay', meta: { time: 1.5, id: 'a1' }, list: [1, 2] });
      const b = json({ name: 'yay', meta: { time: 2.5, id: 'b2' }, list: [1, 2, 3] });
      const noise = findNoise(a, b, RULES)!;
      expect([...noise.pointers].sort()).toEqual(['/list', '/meta/id', '/meta/time']);
      const app = json({ meta: { id: 'zz', time: 9 }, list: [], name: 'yay' });
      expect(compareResponses(a, app, RULES, noise)).toEqual({ match: true });
      expect(compareResponses(a, json({ meta: { id: 'zz', time: 9 }, list: [], name: 'nay' }), RULES, noise)).toEqual({ match: false, diff: 'body /name: php "yay" | app "nay"' });
      expect(compareResponses(json([1]), json([2]), RULES, findNoise(json([1]), json([3]), RULES))).toEqual({ match: true });
    });

    it('text: the tokens that differ (a CSRF token, a time), and only those', () => {
      const page = (token: string, time: string, name = 'yay') => html(`<form><input name="csrf" value="${token}"></form><p>${name}</p><small>${time}</small>`);
      const noise = findNoise(page('a1b2', '10:00:01'), page('c3d4', '10:00:02'), RULES)!;
      expect(noise.text?.kind).toBe('tokens');
      expect(compareResponses(page('a1b2', '10:00:01'), page('ffff', '11:30:59'), RULES, noise)).toEqual({ match: true });
      const c = compareResponses(page('a1b2', '10:00:01'), page('ffff', '11:30:59', 'nay'), RULES, noise);
      expect(c).toMatchObject({ match: false, diff: expect.stringMatching(/^body at char \d+: php ".*<p>yay<\/p>.*" \| app ".*<p>nay<\/p>.*"$/) });
    });

    it('text of another length: the differing middle, prefix and suffix kept', () => {
      const noise = findNoise(html('<h1>Hi</h1><p>3 minutes ago</p><footer>f</footer>'), html('<h1>Hi</h1><p>yesterday</p><footer>f</footer>'), RULES)!;
      expect(noise.text?.kind).toBe('span');
      // Same length in PHP, another in the app: the noisy tokens' span.
      const same = findNoise(html('<h1>Hi</h1><p>3 minutes ago</p><footer>f</footer>'), html('<h1>Hi</h1><p>4 hours ago</p><footer>f</footer>'), RULES)!;
      expect(same.text?.kind).toBe('tokens');
      expect(compareResponses(html('<h1>Hi</h1><p>3 minutes ago</p><footer>f</footer>'), html('<h1>Hi</h1><p>yesterday ago</p><footer>f</footer>'), RULES, same)).toEqual({ match: true });
      expect(compareResponses(html('<h1>Hi</h1><p>3 minutes ago</p><footer>f</footer>'), html('<h1>Hi</h1><p>yesterday</p><footer>f</footer>'), RULES, noise)).toEqual({ match: true });
      expect(compareResponses(html('<h1>Hi</h1><p>3 minutes ago</p><footer>f</footer>'), html('<h1>Hello</h1><p>yesterday</p><footer>f</footer>'), RULES, noise).match).toBe(false);
    });

    it('a header or the status that varies between PHP answers is not compared', () => {
      const noise = findNoise(html('x', { 'cache-control': 'max-age=10' }), html('x', { 'cache-control': 'max-age=9' }), RULES)!;
      expect([...noise.headers]).toEqual(['cache-control']);
      expect(compareResponses(html('x', { 'cache-control': 'max-age=10' }), html('x', { 'cache-control': 'no-store' }), RULES, noise)).toEqual({ match: true });
      const flaky = findNoise(html('x'), { ...html('x'), status: 503 }, RULES)!;
      expect(compareResponses(html('x'), { ...html('x'), status: 500 }, RULES, flaky)).toEqual({ match: true });
    });
  });
});
