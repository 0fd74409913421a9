/** An entry of an InFlight list: its index there, or -1 once out. */
export interface Slotted {
  slot: number;
}

/**
 * What a periodic sweep looks at (responses waiting on a timeout): an array in which a removed
 * entry's slot takes the last entry, so adding and removing cost O(1) and allocate nothing.
 *
 * Not a Set or Map that gains and loses an entry per request: those are rehashed every few
 * requests, and V8 links each old table to its successor (for live iterators). Once a full GC
 * promotes one table, that chain keeps every later entry, and all it holds, alive into the old
 * space: with the PHP pool's Set of requests awaiting an answer, a mark-compact a second and 10-20%
 * fewer requests a second (test/integration/gc-retention.test.ts).
 */
export class InFlight<T extends Slotted> {
  readonly #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  add(item: T): void {
    if (this.has(item)) return;
    item.slot = this.#items.length;
    this.#items.push(item);
  }

  has(item: T): boolean {
    return item.slot >= 0 && this.#items[item.slot] === item;
  }

  delete(item: T): void {
    if (!this.has(item)) return;
    const last = this.#items.pop()!;
    if (last !== item) {
      this.#items[item.slot] = last;
      last.slot = item.slot;
    }
    item.slot = -1;
  }

  /**
   * Calls `visit` for each entry, last first. `visit` may delete entries: one moved into a slot
   * already passed is visited again, none is skipped.
   */
  sweep(visit: (item: T) => void): void {
    for (let i = this.#items.length - 1; i >= 0; i--) {
      const item = this.#items[i];
      if (item) visit(item);
    }
  }
}
