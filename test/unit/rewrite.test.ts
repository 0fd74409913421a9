import { describe, expect, it } from 'vitest';
import { applyRewrites, MAX_REWRITES, parseRewrite, RewriteError } from '../../src/route/rewrite.ts';

const rules = (...texts: string[]) => texts.map(parseRewrite);

describe('parseRewrite', () => {
  it('reads regex, target and flag', () => {
    const r = parseRewrite('^/wiki/(.*)$ /index.php?title=$1 last');
    expect(r.regex.source).toBe('^\\/wiki\\/(.*)$');
    expect(r.target).toBe('/index.php?title=$1');
    expect(r.flag).toBe('last');
    expect(parseRewrite('^/a$ /b').flag).toBeNull();
  });
  it('refuses a bad regex, a bad flag and a wrong shape with a message naming them', () => {
    expect(() => parseRewrite('^/(x /y')).toThrow(/bad regex/);
    expect(() => parseRewrite('^/x /y sometimes')).toThrow(/unknown rewrite flag 'sometimes'/);
    expect(() => parseRewrite('^/x')).toThrow(RewriteError);
  });
});

describe('applyRewrites', () => {
  it('MediaWiki short URLs: capture into the query, escaped, original query appended', () => {
    const r = rules('^/wiki/(.*)$ /index.php?title=$1 last');
    expect(applyRewrites(r, '/wiki/Main Page', '')).toEqual({ kind: 'internal', path: '/index.php', query: 'title=Main%20Page' });
    expect(applyRewrites(r, '/wiki/A&B', 'action=edit')).toEqual({ kind: 'internal', path: '/index.php', query: 'title=A%26B&action=edit' });
  });
  it('a trailing ? drops the original query (nginx)', () => {
    expect(applyRewrites(rules('^/api/(.*)$ /api.php?route=$1?'), '/api/users/1', 'x=2')).toEqual({ kind: 'internal', path: '/api.php', query: 'route=users/1' });
    expect(applyRewrites(rules('^/a$ /b?'), '/a', 'x=2')).toEqual({ kind: 'internal', path: '/b', query: '' });
  });
  it('keeps the query when the target has none', () => {
    expect(applyRewrites(rules('^/a/(.*)$ /b/$1'), '/a/c', 'q=1')).toEqual({ kind: 'internal', path: '/b/c', query: 'q=1' });
  });
  it('redirect and permanent answer 302 and 301; an absolute target is a redirect', () => {
    expect(applyRewrites(rules('^/old/(.*)$ /new/$1 permanent'), '/old/x', 'a=1')).toEqual({ kind: 'redirect', status: 301, location: '/new/x?a=1' });
    expect(applyRewrites(rules('^/old$ /new redirect'), '/old', '')).toEqual({ kind: 'redirect', status: 302, location: '/new' });
    expect(applyRewrites(rules('^/x$ https://example.org/y'), '/x', '')).toEqual({ kind: 'redirect', status: 302, location: 'https://example.org/y' });
  });
  it('applies rules in order; with no flag the next rule sees the new path, last stops', () => {
    expect(applyRewrites(rules('^/a$ /b', '^/b$ /c'), '/a', '')).toMatchObject({ path: '/c' });
    expect(applyRewrites(rules('^/a$ /b last', '^/b$ /c'), '/a', '')).toMatchObject({ path: '/b' });
  });
  it('null when nothing matches; loop guard', () => {
    expect(applyRewrites(rules('^/a$ /b'), '/z', '')).toBeNull();
    const many = Array.from({ length: MAX_REWRITES + 1 }, () => parseRewrite('^/(.*)$ /$1'));
    expect(applyRewrites(many, '/x', '')).toBe('loop');
  });
});

describe('redirect locations', () => {
  it('escape the decoded path again but leave the query as built', () => {
    expect(applyRewrites(rules('^/old/(.*)$ /new/$1 redirect'), '/old/a b', 'x=1')).toEqual({ kind: 'redirect', status: 302, location: '/new/a%20b?x=1' });
  });
});
