import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../src/cli/args.ts';
import { matchesPattern, parsePattern, PatternError, PatternList } from '../../src/route/claim-pattern.ts';

describe('route patterns (claims and shadows)', () => {
  it('reads methods, parameters, a trailing * and the strict mark', () => {
    const p = parsePattern('GET,HEAD /packages/:name');
    expect(p).toMatchObject({ source: 'GET,HEAD /packages/:name', strict: false });
    expect(['/packages/yay', '/packages/yay/'].map((x) => matchesPattern(p, 'GET', x))).toEqual([true, true]);
    expect(['/packages', '/packages/', '/packages/a/b', '/packagesx/a'].map((x) => matchesPattern(p, 'GET', x))).toEqual([false, false, false, false]);
    expect(matchesPattern(p, 'POST', '/packages/yay')).toBe(false);
    const api = parsePattern('/api/*');
    expect(['/api', '/api/', '/api/a/b.json'].every((x) => matchesPattern(api, 'DELETE', x))).toBe(true);
    expect(matchesPattern(api, 'GET', '/apix')).toBe(false);
    const strict = parsePattern('!post /rpc');
    expect(strict).toMatchObject({ source: 'POST /rpc', strict: true });
    expect(matchesPattern(strict, 'POST', '/rpc')).toBe(true);
  });

  it('GET implies HEAD; literal dots are literal', () => {
    expect(matchesPattern(parsePattern('GET /a.json'), 'HEAD', '/a.json')).toBe(true);
    expect(matchesPattern(parsePattern('GET /a.json'), 'GET', '/aXjson')).toBe(false);
  });

  it.each(['packages', 'GET', '/a/*/b', '/a/x*', 'G@T /x', '/a/:1', '/a b', '/a//b', '/a/../b', ''])('refuses %j', (text) => {
    expect(() => parsePattern(text)).toThrow(PatternError);
  });

  it('a list matches the first pattern in order', () => {
    const list = new PatternList(['!GET /api/health', '/api/*']);
    expect(list.match('GET', '/api/health')?.strict).toBe(true);
    expect(list.match('GET', '/api/users/1')?.source).toBe('/api/*');
    expect(list.match('GET', '/other')).toBeNull();
  });

  it('a :param never matches across a slash, whatever the segment holds', () => {
    const p = parsePattern('/u/:id');
    fc.assert(
      fc.property(fc.string({ minLength: 1 }).filter((s) => !s.includes('/')), fc.string({ minLength: 1 }).filter((s) => !s.includes('/')), (a, b) => {
        expect(matchesPattern(p, 'GET', `/u/${a}`)).toBe(true);
        expect(matchesPattern(p, 'GET', `/u/${a}/${b}`)).toBe(false);
      }),
    );
  });
});

describe('parseArgs: migration flags', () => {
  it('takes repeated --claim and --order', () => {
    const c = parseArgs(['--app', 'a.ts', '--claim', 'GET /packages/:name', '--claim', '/api/*', '--order', 'app-first']);
    expect(c.claims).toEqual(['GET /packages/:name', '/api/*']);
    expect(c.order).toBe('app-first');
    expect(parseArgs([]).order).toBe('php-first');
  });

  it('a bad pattern is a usage error naming the flag', () => {
    expect(() => parseArgs(['--app', 'a.ts', '--claim', 'GET'])).toThrow(UsageError);
    expect(() => parseArgs(['--app', 'a.ts', '--claim', '/a/*/b'])).toThrow(/^--claim: /);
    expect(() => parseArgs(['--claim', '/x'])).toThrow(/needs --app/);
    expect(() => parseArgs(['--order', 'random'])).toThrow(/--order/);
  });
});
