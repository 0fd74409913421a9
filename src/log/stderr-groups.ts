/**
 * Holds the lines PHP writes to stderr during a request until that request's access line, so the
 * log shows them under it. Both carry the bridge's request id, so two concurrent identical requests
 * keep their own lines (without an id, as from a Logger caller that has none, method and URL). A request that runs long (a
 * stream, an SSE page) must not hide its warnings: after `holdMs` a group is handed to `orphan`
 * with its request named, and later lines start a new group.
 */
export class StderrGroups {
  /**
   * By request id: a dictionary object, not a Map. A Map that gains and loses a key per request is
   * rehashed every few requests, and V8 links each old table to the next (for live iterators): once
   * a full GC promotes one, every later group is promoted through the chain (see http/in-flight.ts).
   */
  private readonly groups: Record<string, { lines: string[]; timer: NodeJS.Timeout } | undefined> = Object.create(null);

  constructor(
    private readonly holdMs: number,
    private readonly orphan: (method: string, url: string, lines: string[]) => void,
  ) {}

  add(method: string, url: string, line: string, id?: number): void {
    const key = id ?? `${method} ${url}`;
    const group = this.groups[key];
    if (group) {
      group.lines.push(line);
      return;
    }
    const timer = setTimeout(() => {
      const lines = this.groups[key]?.lines ?? [];
      delete this.groups[key];
      this.orphan(method, url, lines);
    }, this.holdMs);
    timer.unref();
    this.groups[key] = { lines: [line], timer };
  }

  /** The lines held for this request (removed). */
  take(method: string, url: string, id?: number): string[] {
    const key = id ?? `${method} ${url}`;
    const group = this.groups[key];
    if (!group) return [];
    clearTimeout(group.timer);
    delete this.groups[key];
    return group.lines;
  }
}
