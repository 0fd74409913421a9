/**
 * Holds the lines PHP writes to stderr during a request until that request's access line, so the
 * log shows them under it. The Logger hears both by method and URL (no request id), so two
 * concurrent identical requests share a group: fine for reading a log. A request that runs long (a
 * stream, an SSE page) must not hide its warnings: after `holdMs` a group is handed to `orphan`
 * with its request named, and later lines start a new group.
 */
export class StderrGroups {
  private readonly groups = new Map<string, { lines: string[]; timer: NodeJS.Timeout }>();

  constructor(
    private readonly holdMs: number,
    private readonly orphan: (method: string, url: string, lines: string[]) => void,
  ) {}

  add(method: string, url: string, line: string): void {
    const key = `${method} ${url}`;
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
  take(method: string, url: string): string[] {
    const key = `${method} ${url}`;
    const group = this.groups.get(key);
    if (!group) return [];
    clearTimeout(group.timer);
    this.groups.delete(key);
    return group.lines;
  }
}
