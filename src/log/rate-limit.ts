import type { Logger } from './logger.ts';

/** `GET /x?y: ` — the request an error line is about; what follows is its cause. */
const REQUEST_PREFIX = /^[A-Z]+ \S+: /;

/**
 * Repeated errors, once per window: while php-fpm is down every request fails the same way, and
 * one line per request (15k lines in 12 s) buries the cause. The first error of a kind is written at
 * once, as it comes; the same cause again within `windowMs` (whatever the request) is only counted,
 * and when the window ends one line says how many there were:
 * `connect ECONNREFUSED /run/php.sock (x 1532 in the last 10 s)`. Warnings and the rest pass as they are.
 */
export function rateLimitErrors(logger: Logger, windowMs = 10_000): Logger {
  const once = oncePerWindow(windowMs);
  const seconds = windowMs % 1000 === 0 ? `${windowMs / 1000} s` : `${windowMs} ms`;
  return {
    ...logger,
    error(message, err) {
      const cause = message.replace(REQUEST_PREFIX, '');
      once(
        cause,
        () => logger.error(message, err),
        (count) => logger.error(`${cause} (x ${count} in the last ${seconds})`),
      );
    },
  };
}

/**
 * The window behind rateLimitErrors, for any repeated line: `first` runs for the first of a kind;
 * the same kind again within `windowMs` is only counted, and when the window ends `repeated` gets
 * the count (if any came).
 */
export function oncePerWindow(windowMs: number): (kind: string, first: () => void, repeated: (count: number) => void) => void {
  const open = new Map<string, { count: number }>();
  return (kind, first, repeated) => {
    const seen = open.get(kind);
    if (seen) {
      seen.count++;
      return;
    }
    first();
    const entry = { count: 0 };
    open.set(kind, entry);
    setTimeout(() => {
      open.delete(kind);
      if (entry.count > 0) repeated(entry.count);
    }, windowMs).unref();
  };
}
