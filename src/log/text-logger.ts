import type { WriteStream } from 'node:tty';
import pc from 'picocolors';
import type { AccessEntry, Logger, ServedBy } from './logger.ts';
import { StderrGroups } from './stderr-groups.ts';

type Colors = ReturnType<typeof pc.createColors>;

export interface TextLoggerOptions {
  /** ANSI colours; default: when the stream is a terminal that has them (NO_COLOR, FORCE_COLOR, TERM=dumb respected). */
  color?: boolean;
  /** false: no access lines (`--quiet`); PHP's stderr is then shown as it comes, with its request. */
  access?: boolean;
  /** How long PHP's stderr lines wait for their request's access line before they are shown alone. */
  holdStderrMs?: number;
}

/** Whether `stream` should get ANSI colours. */
export function wantsColor(stream: NodeJS.WritableStream): boolean {
  const tty = stream as Partial<WriteStream>;
  if (tty.isTTY && typeof tty.hasColors === 'function') return tty.hasColors();
  const force = process.env.FORCE_COLOR;
  return force !== undefined && force !== '0' && force !== 'false' && !process.env.NO_COLOR;
}

/**
 * Human-readable lines: the access log on stdout, everything else on stderr. On a colour terminal a
 * request is `12:03:04 GET /hello 200 php→app 1.2ms 45B` with the status and the server coloured;
 * otherwise (a pipe, a file) `<ISO time> <client> GET /hello 200 45 1.2ms php→app`, stable for grep
 * and awk. PHP's stderr lines follow on the same stream, indented, under the request they belong to.
 */
export function textLogger(out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr, options: TextLoggerOptions = {}): Logger {
  const c = pc.createColors(options.color ?? wantsColor(out));
  const ce = pc.createColors(options.color ?? wantsColor(err));
  const access = options.access ?? true;
  const stderrLine = (k: Colors, method: string, url: string, line: string) => `${k.dim(`php stderr [${method} ${url}]:`)} ${colorPhp(k, line)}\n`;
  // With the access log on, PHP's lines go with it (same stream, so they stay under their request).
  const groups = new StderrGroups(options.holdStderrMs ?? 1_000, (method, url, lines) => {
    for (const line of lines) out.write(stderrLine(c, method, url, line));
  });
  const status = (s: number) => {
    const text = String(s);
    if (s >= 500) return c.red(c.bold(text));
    if (s === 499) return c.gray(text);
    if (s >= 400) return c.yellow(text);
    if (s >= 300) return c.cyan(text);
    return c.green(text);
  };
  const who: Record<ServedBy, string> = {
    php: c.magenta('php'),
    static: c.blue('static'),
    app: c.cyan('app'),
    'php→app': `${c.magenta('php')}${c.dim('→')}${c.cyan('app')}`,
    'php→app→php': `${c.magenta('php')}${c.dim('→')}${c.cyan('app')}${c.dim('→')}${c.magenta('php')}`,
    'app→php': `${c.cyan('app')}${c.dim('→')}${c.magenta('php')}`,
    bridge: c.gray('bridge'),
  };
  const colored = c.isColorSupported;
  return {
    access(e: AccessEntry) {
      const ms = `${e.durationMs.toFixed(1)}ms`;
      const line = colored
        ? `${c.dim(clock())} ${c.bold(e.method)} ${e.url} ${status(e.status)} ${who[e.servedBy]} ${c.dim(`${ms} ${size(e.bytes)}`)}`
        : `${new Date().toISOString()} ${e.remoteAddress} ${e.method} ${e.url} ${e.status} ${e.bytes} ${ms} ${e.servedBy}`;
      const lines = groups.take(e.method, e.url, e.id);
      out.write(line + '\n' + lines.map((l) => `    ${c.dim('php:')} ${colorPhp(c, l)}\n`).join(''));
    },
    phpStderr(method, url, line, id) {
      if (access) groups.add(method, url, line, id);
      else err.write(stderrLine(ce, method, url, line));
    },
    info(message) {
      err.write(`${message}\n`);
    },
    warn(message) {
      err.write(`${ce.yellow('warning:')} ${message}\n`);
    },
    error(message, e) {
      const detail = e instanceof Error ? `\n${e.stack ?? e.message}` : e === undefined ? '' : ` ${String(e)}`;
      err.write(`${ce.red(ce.bold('error:'))} ${message}${detail}\n`);
    },
  };
}

/** PHP's own severities stand out: fatal errors red, warnings yellow. */
function colorPhp(c: Colors, line: string): string {
  if (/PHP (Fatal|Parse) error/i.test(line)) return c.red(line);
  if (/PHP (Warning|Deprecated|Notice)/i.test(line)) return c.yellow(line);
  return line;
}

function clock(): string {
  const d = new Date();
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)}kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)}MB`;
}
