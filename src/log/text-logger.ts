import type { AccessEntry, Logger } from './logger.ts';

/** Plain lines: access log on stdout, everything else on stderr. */
export function textLogger(out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Logger {
  return {
    access(e: AccessEntry) {
      out.write(`${e.remoteAddress} ${e.method} ${e.url} ${e.status} ${e.bytes} ${e.durationMs.toFixed(1)}ms ${e.servedBy}\n`);
    },
    phpStderr(method, url, line) {
      err.write(`php stderr [${method} ${url}]: ${line}\n`);
    },
    info(message) {
      err.write(`${message}\n`);
    },
    warn(message) {
      err.write(`warning: ${message}\n`);
    },
    error(message, e) {
      const detail = e instanceof Error ? `\n${e.stack ?? e.message}` : e === undefined ? '' : ` ${String(e)}`;
      err.write(`error: ${message}${detail}\n`);
    },
  };
}
