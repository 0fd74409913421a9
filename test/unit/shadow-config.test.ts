import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../src/cli/args.ts';
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

describe('shadow flags', () => {
  it('--shadow (repeatable) and its companions become the bridge options', () => {
    const c = parseArgs(['--app', 'a.ts', '--shadow', 'GET /packages/:name', '--shadow', '/api/* @0.1', '--shadow-rate', '50%', '--shadow-headers', 'content-type,etag', '--shadow-ignore-json', '/meta/time', '--shadow-ignore-text', 'csrf=\\w+', '--shadow-concurrency', '2', '--shadow-unsafe', '--shadow-noise']);
    expect(c).toMatchObject({ shadowNoise: true, shadow: ['GET /packages/:name', '/api/* @0.1'], shadowRate: 0.5, shadowHeaders: ['content-type,etag'], shadowIgnoreJson: ['/meta/time'], shadowIgnoreText: ['csrf=\\w+'], shadowConcurrency: 2, shadowUnsafe: true });
    expect(parseArgs(['--app', 'a.ts'])).toMatchObject({ shadow: [], shadowRate: undefined, shadowUnsafe: false, shadowNoise: false, shadowHeaders: undefined, shadowConcurrency: undefined });
  });

  it('and from the config file, under the same names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-shadow-config-'));
    try {
      writeFileSync(join(dir, 'fpm-bridge.json'), JSON.stringify({ app: 'app.ts', shadow: ['GET /packages/:name'], 'shadow-ignore-json': ['/meta/time'], 'shadow-unsafe': false }));
      expect(parseArgs(['--config', join(dir, 'fpm-bridge.json')])).toMatchObject({ shadow: ['GET /packages/:name'], shadowIgnoreJson: ['/meta/time'], shadowUnsafe: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [['--shadow', '/x'], /^--shadow runs the app beside PHP: it needs --app/],
    [['--app', 'a.ts', '--shadow', 'GET packages'], /^--shadow: "GET packages"/],
    [['--app', 'a.ts', '--shadow', 'POST /rpc'], /^--shadow: "POST \/rpc": POST would run a second time/],
    [['--app', 'a.ts', '--shadow', '/x', '--shadow-rate', '2'], /^--shadow-rate: "2" is not a rate/],
    [['--app', 'a.ts', '--shadow', '/x', '--shadow-ignore-json', 'meta'], /^--shadow-ignore-json: "meta" is not a JSON pointer/],
    [['--app', 'a.ts', '--shadow', '/x', '--shadow-ignore-text', '['], /^--shadow-ignore-text: "\[" is not a regex/],
    [['--app', 'a.ts', '--shadow', '/x', '--shadow-concurrency', '0'], /^--shadow-concurrency: /],
  ])('%j is a usage error naming the flag', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});
