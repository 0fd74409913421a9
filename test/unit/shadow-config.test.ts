import { describe, expect, it } from 'vitest';
import { parseRate, parseShadowPattern, shadowConfig, ShadowOptionError } from '../../src/shadow/shadow-config.ts';

describe('shadow options', () => {
  it('patterns as for --claim, with an optional @RATE', () => {
    expect(parseShadowPattern('GET /packages/:name', 1, false)).toMatchObject({ rate: 1, pattern: { source: 'GET /packages/:name' } });
    expect(parseShadowPattern('/api/* @0.1', 1, false)).toMatchObject({ rate: 0.1, pattern: { source: '/api/*' } });
    expect(parseShadowPattern('GET /x@25%', 1, false).rate).toBe(0.25);
    expect(parseShadowPattern('/users/@me', 0.5, false)).toMatchObject({ rate: 0.5, pattern: { source: '/users/@me' } });
    expect(parseRate('.5')).toBe(0.5);
    for (const bad of ['1.5', '-1', 'x', '150%', '']) expect(() => parseRate(bad)).toThrow(/not a rate/);
  });

  it('unsafe methods and strict marks are refused, naming the pattern', () => {
    expect(() => parseShadowPattern('POST /rpc', 1, false)).toThrow('"POST /rpc": POST would run a second time in the app');
    expect(parseShadowPattern('POST /rpc', 1, true).pattern.methods?.has('POST')).toBe(true);
    expect(() => parseShadowPattern('GET,DELETE /x', 1, false)).toThrow(/DELETE/);
    expect(() => parseShadowPattern('!GET /x', 1, false)).toThrow(/strict/);
  });

  it('shadowConfig: defaults, and errors that name the flag', () => {
    expect(shadowConfig({})).toBeNull();
    expect(shadowConfig({ shadow: ['/a'] })).toMatchObject({ concurrency: 4, maxBody: 1024 * 1024, unsafe: false, rules: { headers: ['content-type', 'location', 'cache-control'], ignorePointers: [], ignorePatterns: [] } });
    expect(shadowConfig({ shadow: ['/a'], shadowHeaders: ['Content-Type, ETag', 'vary'] })?.rules.headers).toEqual(['content-type', 'etag', 'vary']);
    const cases: Array<[Parameters<typeof shadowConfig>[0], string]> = [
      [{ shadow: ['packages'] }, 'shadow'],
      [{ shadow: ['/a'], shadowRate: 2 }, 'shadow-rate'],
      [{ shadow: ['/a'], shadowIgnoreJson: ['meta/time'] }, 'shadow-ignore-json'],
      [{ shadow: ['/a'], shadowIgnoreText: ['(unclosed'] }, 'shadow-ignore-text'],
      [{ shadow: ['/a'], shadowHeaders: ['bad header'] }, 'shadow-headers'],
      [{ shadow: ['/a'], shadowConcurrency: 0 }, 'shadow-concurrency'],
    ];
    for (const [options, flag] of cases) {
      let caught: unknown;
      try {
        shadowConfig(options);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ShadowOptionError);
      expect((caught as ShadowOptionError).flag).toBe(flag);
    }
  });
});
