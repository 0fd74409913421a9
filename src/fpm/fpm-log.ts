/** One line of php-fpm's log or stderr, understood. */
export interface FpmLine {
  /** php-fpm's own level, or 'output' for a worker's raw stderr (catch_workers_output, undecorated). */
  level: 'debug' | 'notice' | 'warning' | 'error' | 'alert' | 'emergency' | 'output';
  /** The line without php-fpm's timestamp: `ERROR: unable to ...`. */
  text: string;
  /** The line without the timestamp and the level: `unable to ...`. */
  message: string;
  /** The master stamps its lines with the time; workers' lines (their start-up errors, output) have none. */
  fromMaster: boolean;
}

// `[27-Nov-2026 00:43:50] ERROR: ...` from the master; `ERROR: ...` (no timestamp) from a worker.
const LINE = /^(\[[^\]]*\] )?(DEBUG|NOTICE|WARNING|ERROR|ALERT|EMERGENCY): (.*)$/;

export function parseFpmLine(raw: string): FpmLine {
  const m = LINE.exec(raw);
  if (!m) return { level: 'output', text: raw, message: raw, fromMaster: false };
  return { level: m[2]!.toLowerCase() as FpmLine['level'], text: `${m[2]}: ${m[3]}`, message: m[3]!, fromMaster: m[1] !== undefined };
}

/**
 * Whether a developer wants to see the line as it happens. php-fpm's notices are its own chatter
 * ("fpm is running", "ready to handle connections", "child 12 started") except PHP's start-up
 * messages in the master ("NOTICE: PHP message: PHP Warning: Unable to load dynamic library ...").
 * A worker's "PHP message:" is a request's error_log/warning: php-fpm sends it over FastCGI too,
 * where the bridge logs it under its request, so this copy would only say it twice. Every line is
 * still kept for the error message when php-fpm fails.
 */
export function isWorthShowing(line: FpmLine): boolean {
  if (line.level === 'debug') return false;
  if (line.level === 'notice') return line.fromMaster && line.message.startsWith('PHP message:');
  if (!line.fromMaster && line.message.startsWith('PHP message:')) return false;
  return true;
}

/** Bytes in, whole lines out; a partial last line waits for the rest. */
export class LineSplitter {
  private rest = '';

  push(text: string): string[] {
    const lines = (this.rest + text).split('\n');
    this.rest = lines.pop() ?? '';
    return lines.map((l) => l.replace(/\r$/, '')).filter((l) => l.length > 0);
  }

  /** The unterminated tail, e.g. when the process exited mid-line. */
  flush(): string[] {
    const rest = this.rest;
    this.rest = '';
    return rest ? [rest] : [];
  }
}

/** The last `limit` lines, for "php-fpm's own last message" in errors. */
export class RecentLines<T> {
  private readonly lines: T[] = [];
  private count = 0;

  constructor(private readonly limit = 20) {}

  add(line: T): void {
    this.count++;
    this.lines.push(line);
    if (this.lines.length > this.limit) this.lines.shift();
  }

  /** A position to read `since` from later (e.g. the start of one launch). */
  mark(): number {
    return this.count;
  }

  /** The kept lines added after `mark`, oldest first. */
  since(mark = 0): T[] {
    return this.lines.slice(Math.max(0, this.lines.length - (this.count - mark)));
  }
}

/**
 * php-fpm writes its errors between opening the log file and being up to both the log file and
 * stderr; we read both, so such a line arrives twice, in either order. A line pending from one
 * source cancels the same line from the other. Bounded: after start-up nothing is doubled, so
 * unmatched lines simply age out.
 */
export class CrossSourceDedupe {
  private readonly pending: Record<'stderr' | 'log', string[]> = { stderr: [], log: [] };

  constructor(private readonly window = 64) {}

  /** True when the line is new (show it); false when it is the echo of one already seen. */
  accept(source: 'stderr' | 'log', line: string): boolean {
    const other = this.pending[source === 'stderr' ? 'log' : 'stderr'];
    const i = other.indexOf(line);
    if (i >= 0) {
      other.splice(i, 1);
      return false;
    }
    const mine = this.pending[source];
    mine.push(line);
    if (mine.length > this.window) mine.shift();
    return true;
  }
}

/**
 * Drops a php-fpm message shown moments ago: each worker reports the same start-up error
 * ("Unable to set php_value 'x'"), again every time pm.max_requests recycles it. Workers' own output
 * is never dropped: the same line twice can be two requests.
 */
export class RepeatFilter {
  private readonly shownAt = new Map<string, number>();

  constructor(private readonly windowMs = 10_000) {}

  accept(line: FpmLine, now = Date.now()): boolean {
    if (line.level === 'output') return true;
    const last = this.shownAt.get(line.text);
    if (last !== undefined && now - last < this.windowMs) return false;
    if (this.shownAt.size > 256) this.shownAt.clear();
    this.shownAt.set(line.text, now);
    return true;
  }
}
