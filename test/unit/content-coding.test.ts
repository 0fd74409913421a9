// Accept-Encoding negotiation (RFC 9110 12.5.3) and the types worth compressing.
import { describe, expect, it } from 'vitest';
import { chooseCoding, isCompressible } from '../../src/http/content-coding.ts';

describe('chooseCoding', () => {
  const all = ['br', 'zstd', 'gzip'] as const;
  it.each([
    [undefined, null],
    ['', null],
    ['identity', null],
    ['gzip', 'gzip'],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['deflate', null],
    ['gzip, deflate, br', 'br'],
    ['gzip, deflate, br, zstd', 'br'],
    ['br;q=0, gzip', 'gzip'],
    ['gzip;q=0.5, br;q=0.9', 'br'],
    ['gzip;Q=1, br;q=0.1', 'gzip'],
    ['gzip;q=0', null],
    ['*', 'br'],
    ['*;q=0', null],
    ['*, br;q=0', 'zstd'],
    ['gzip;q=0.2, *;q=0.1', 'gzip'],
    ['gzip;q=abc', null],
    [' zstd ; q=1 , gzip;q=0.9', 'zstd'],
  ])('%j → %j', (accept, want) => {
    expect(chooseCoding(accept, all)).toBe(want);
  });

  it('offers only what is given (a Node without zstd)', () => {
    expect(chooseCoding('zstd', ['br', 'gzip'])).toBe(null);
    expect(chooseCoding('zstd, gzip;q=0.5', ['br', 'gzip'])).toBe('gzip');
  });
});

describe('isCompressible', () => {
  it.each([
    ['text/html; charset=utf-8', true],
    ['text/event-stream', true],
    ['application/json', true],
    ['application/problem+json', true],
    ['application/vnd.api+json', true],
    ['application/javascript', true],
    ['image/svg+xml', true],
    ['image/png', false],
    ['application/octet-stream', false],
    ['application/zip', false],
    ['font/woff2', false],
    ['video/mp4', false],
    [undefined, false],
    ['', false],
  ])('%j → %j', (type, want) => {
    expect(isCompressible(type)).toBe(want);
  });
});
