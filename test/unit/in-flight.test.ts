import { describe, expect, it } from 'vitest';
import { InFlight } from '../../src/http/in-flight.ts';

const entry = (n: number) => ({ n, slot: -1 });

describe('InFlight', () => {
  it('adds, removes from anywhere and keeps the rest', () => {
    const list = new InFlight<ReturnType<typeof entry>>();
    const e = [0, 1, 2, 3, 4].map(entry);
    for (const x of e) list.add(x);
    list.add(e[2]!);
    expect(list.size).toBe(5);
    list.delete(e[1]!);
    list.delete(e[1]!);
    expect(list.size).toBe(4);
    expect(list.has(e[1]!)).toBe(false);
    expect(e[1]!.slot).toBe(-1);
    const seen: number[] = [];
    list.sweep((x) => seen.push(x.n));
    expect(seen.sort()).toEqual([0, 2, 3, 4]);
    for (const x of [e[0]!, e[2]!, e[3]!, e[4]!]) expect(list.has(x)).toBe(true);
  });

  it('a sweep that deletes as it goes visits every entry and skips none', () => {
    const list = new InFlight<ReturnType<typeof entry>>();
    const e = Array.from({ length: 10 }, (_, i) => entry(i));
    for (const x of e) list.add(x);
    const seen = new Set<number>();
    list.sweep((x) => {
      seen.add(x.n);
      // Each visit deletes itself, and the odd ones also a not yet visited entry.
      list.delete(x);
      if (x.n % 2 === 1) list.delete(e[x.n - 1]!);
    });
    expect(list.size).toBe(0);
    // Entries deleted by another visit before their turn are not visited; the others all are.
    expect([...seen].sort((a, b) => a - b)).toEqual([1, 3, 5, 7, 9]);
  });
});
