import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../src/cli/args.ts';
import { shareOf } from '../../src/cli/workers.ts';

describe('--workers', () => {
  it('takes a count or auto (the cores this process may use); 1 by default', () => {
    expect(parseArgs([]).workers).toBe(1);
    expect(parseArgs(['--workers', '3']).workers).toBe(3);
    expect(parseArgs(['--workers', 'auto']).workers).toBe(availableParallelism());
  });

  it('refuses 0, words, fractions, and --watch beside it', () => {
    for (const bad of ['0', 'abc', '1.5', '2x', '']) expect(() => parseArgs(['--workers', bad])).toThrow(UsageError);
    expect(() => parseArgs(['--workers', '2', '--watch', '--app', 'a.ts'])).toThrow(/--watch/);
    expect(parseArgs(['--workers', '1', '--watch', '--app', 'a.ts']).workers).toBe(1);
  });
});

describe('shareOf: php-fpm connections split between workers', () => {
  it('sums to the total when there are enough, one each otherwise', () => {
    const split = (total: number, n: number) => Array.from({ length: n }, (_, i) => shareOf(total, n, i));
    expect(split(8, 2)).toEqual([4, 4]);
    expect(split(10, 4)).toEqual([3, 3, 2, 2]);
    expect(split(4, 4)).toEqual([1, 1, 1, 1]);
    expect(split(2, 3)).toEqual([1, 1, 1]);
    for (let total = 1; total < 40; total++) for (let n = 1; n <= total; n++) expect(split(total, n).reduce((a, b) => a + b)).toBe(total);
  });
});
