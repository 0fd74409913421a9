import type { AccessEntry, Logger } from './logger.ts';
import { StderrGroups } from './stderr-groups.ts';

export interface JsonLoggerOptions {
  /** false: no access records (`--quiet`); PHP's stderr then comes as its own records at once. */
  access?: boolean;
  /** How long PHP's stderr lines wait for their request's access record before they go out alone. */
  holdStderrMs?: number;
}

/**
 * `--log-format json`: one JSON object per line, for log shippers and jq. Access records on stdout:
 * `{"time","type":"access","id","method","url","status","bytes","ms","servedBy","remote"}` plus
 * `"phpStderr":[...]` when PHP wrote to stderr during the request. Everything else on stderr:
 * `{"time","type":"log","level":"info"|"warn"|"error","msg"[, "error": stack]}`; PHP stderr that
 * outlives its hold: `{"time","type":"php-stderr","method","url","lines":[...]}`.
 */
export function jsonLogger(out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr, options: JsonLoggerOptions = {}): Logger {
  const write = (stream: NodeJS.WritableStream, record: Record<string, unknown>) =>
    stream.write(JSON.stringify({ time: new Date().toISOString(), ...record }) + '\n');
  const access = options.access ?? true;
  const groups = new StderrGroups(options.holdStderrMs ?? 1_000, (method, url, lines) =>
    write(out, { type: 'php-stderr', method, url, lines }),
  );
  const log = (level: string, msg: string, e?: unknown) =>
    write(err, { type: 'log', level, msg, ...(e === undefined ? {} : { error: e instanceof Error ? (e.stack ?? e.message) : String(e) }) });
  return {
    access(e: AccessEntry) {
      const lines = groups.take(e.method, e.url, e.id);
      write(out, {
        type: 'access',
        ...(e.id === undefined ? {} : { id: e.id }),
        method: e.method,
        url: e.url,
        status: e.status,
        bytes: e.bytes,
        ms: Math.round(e.durationMs * 100) / 100,
        servedBy: e.servedBy,
        remote: e.remoteAddress,
        ...(lines.length > 0 ? { phpStderr: lines } : {}),
      });
    },
    phpStderr(method, url, line, id) {
      if (access) groups.add(method, url, line, id);
      else write(err, { type: 'php-stderr', method, url, lines: [line] });
    },
    info: (msg) => log('info', msg),
    warn: (msg) => log('warn', msg),
    error: (msg, e) => log('error', msg, e),
  };
}
