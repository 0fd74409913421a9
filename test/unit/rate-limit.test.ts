// Repeated errors are counted, not repeated (issue 15: 15k lines in 12 s while php-fpm was down).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/log/logger.ts';
import { rateLimitErrors } from '../../src/log/rate-limit.ts';

describe('rateLimitErrors', () => {
  afterEach(() => vi.useRealTimers());

  it('writes the first error of a cause, counts the rest for 10 s, then says how many', () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const log = rateLimitErrors({ ...silentLogger, error: (m) => lines.push(m) });
    for (let i = 0; i < 1533; i++) log.error(`GET /page${i}: cannot connect to php-fpm: ECONNREFUSED`);
    log.error('POST /x: something else');
    expect(lines).toEqual(['GET /page0: cannot connect to php-fpm: ECONNREFUSED', 'POST /x: something else']);
    vi.advanceTimersByTime(10_000);
    expect(lines.slice(2)).toEqual(['cannot connect to php-fpm: ECONNREFUSED (x 1532 in the last 10 s)']);
    // A new window: the next one is written again; a lone error gets no count line.
    log.error('GET /again: cannot connect to php-fpm: ECONNREFUSED');
    vi.advanceTimersByTime(10_000);
    expect(lines.slice(3)).toEqual(['GET /again: cannot connect to php-fpm: ECONNREFUSED']);
  });

  it('leaves warnings and info alone', () => {
    const warned: string[] = [];
    const log = rateLimitErrors({ ...silentLogger, warn: (m) => warned.push(m) });
    log.warn('a');
    log.warn('a');
    expect(warned).toEqual(['a', 'a']);
  });
});
