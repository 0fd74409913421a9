/**
 * Holds the lines PHP writes to stderr during a request until that request's access line, so the
 * log shows them under it. Both carry the bridge's request id, so two concurrent identical requests
 * keep their own lines (without an id, as from a Logger caller that has none, method and URL). A request that runs long (a
 * stream, an SSE page) must not hide its warnings: after `holdMs` a group is handed to `orphan`
 * with its request named, and later lines start a new group.
 */
export class StderrGroups {
  private readonly groups = new Map<string | number, { lines: string[]; timer: NodeJS.Timeout }>();

  constructor(
    private readonly holdMs: number,
    private readonly orphan: (method: string, url: string, lines: string[]) => void,
  ) {}

  add(method: string, url: string, line: string, id?: number): void {
    const key = id ?? `${method} ${url}`;
    const group = this.groups.get(key);
    if (group) {
      group.lines.push(line);
      return;
    }
    const timer = setTimeout(() => {
      const lines = this.groups.get(key)?.lines ?? [];
      this.groups.delete(key);
      this.orphan(method, url, lines);
    }, this.holdMs);
    timer.unref();
    this.groups.set(key, { lines: [line], timer });
  }

  /** The lines held for this request (removed). */
  take(method: string, url: string, id?: number): string[] {
    const key = id ?? `${method} ${url}`;
    const group = this.groups.get(key);
    if (!group) return [];
    clearTimeout(group.timer);
    this.groups.delete(key);
    return group.lines;
  }
}
