import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/fpm/backoff.ts';
import { CrossSourceDedupe, isWorthShowing, LineSplitter, parseFpmLine, RecentLines, RepeatFilter } from '../../src/fpm/fpm-log.ts';
import { explainConfLine, startFailureError } from '../../src/fpm/start-error.ts';
import { poolConnections } from '../../src/cli/php-backend.ts';

describe('parseFpmLine / isWorthShowing', () => {
  it('tells the master (timestamped), workers (bare level) and raw worker output apart', () => {
    expect(parseFpmLine('[27-Nov-2026 00:43:50] ERROR: FPM initialization failed')).toEqual({
      level: 'error',
      text: 'ERROR: FPM initialization failed',
      message: 'FPM initialization failed',
      fromMaster: true,
    });
    expect(parseFpmLine("ERROR: Unable to set php_value 'x'")).toMatchObject({ level: 'error', fromMaster: false });
    expect(parseFpmLine('raw worker line')).toMatchObject({ level: 'output', text: 'raw worker line' });
  });

  it('hides php-fpm chatter and the second copy of request messages, shows the rest', () => {
    const shown = (raw: string) => isWorthShowing(parseFpmLine(raw));
    expect(shown('[t] NOTICE: ready to handle connections')).toBe(false);
    expect(shown('[t] NOTICE: PHP message: PHP Warning:  PHP Startup: Unable to load dynamic library')).toBe(true);
    expect(shown('NOTICE: PHP message: note from php')).toBe(false);
    expect(shown('[t] WARNING: [pool fpm-bridge] child 12 exited on signal 11 (SIGSEGV)')).toBe(true);
    expect(shown("ERROR: Unable to set php_value 'x'")).toBe(true);
    expect(shown('something a script wrote to php://stderr')).toBe(true);
  });
});

describe('LineSplitter', () => {
  it('yields whole lines and keeps a partial one for later', () => {
    const s = new LineSplitter();
    expect(s.push('a\nb')).toEqual(['a']);
    expect(s.push('c\r\n\nd')).toEqual(['bc']);
    expect(s.flush()).toEqual(['d']);
    expect(s.flush()).toEqual([]);
  });
});

describe('CrossSourceDedupe', () => {
  it('lets a line through once when both stderr and the log carry it, in either order', () => {
    const d = new CrossSourceDedupe();
    expect(d.accept('stderr', 'x')).toBe(true);
    expect(d.accept('log', 'x')).toBe(false);
    expect(d.accept('log', 'y')).toBe(true);
    expect(d.accept('stderr', 'y')).toBe(false);
    // The same line twice from one source is two events.
    expect(d.accept('log', 'z')).toBe(true);
    expect(d.accept('log', 'z')).toBe(true);
  });
});

describe('RepeatFilter', () => {
  it('drops a php-fpm message repeated within the window, never worker output', () => {
    const f = new RepeatFilter(1000);
    const err = parseFpmLine("ERROR: Unable to set php_value 'x'");
    expect(f.accept(err, 0)).toBe(true);
    expect(f.accept(err, 500)).toBe(false);
    expect(f.accept(err, 1600)).toBe(true);
    const out = parseFpmLine('same output');
    expect(f.accept(out, 0)).toBe(true);
    expect(f.accept(out, 1)).toBe(true);
  });
});

describe('RecentLines', () => {
  it('keeps the last lines and reads those since a mark', () => {
    const r = new RecentLines<string>(3);
    r.add('a');
    const m = r.mark();
    for (const l of ['b', 'c', 'd']) r.add(l);
    expect(r.since(m)).toEqual(['b', 'c', 'd']);
    r.add('e');
    expect(r.since(m)).toEqual(['c', 'd', 'e']);
    expect(r.since(r.mark())).toEqual([]);
  });
});

describe('Backoff', () => {
  it('doubles from 100 ms to 5 s and starts over after a run of 30 s', () => {
    const b = new Backoff();
    expect(Array.from({ length: 8 }, () => b.next(0))).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    expect(b.next(29_000)).toBe(5000);
    expect(b.next(30_000)).toBe(100);
    expect(b.next(10)).toBe(200);
  });
});

describe('start-up error', () => {
  const conf = '/tmp/d/php-fpm.conf';
  it('maps a line of the generated config back to the --php-fpm-conf file', () => {
    const extraConf = { path: 'extra.conf', line: 30 };
    expect(explainConfLine(`ERROR: [${conf}:32] unknown entry 'bogus'`, { conf, extraConf })).toBe(`ERROR: [${conf}:32] unknown entry 'bogus'  (line 3 of extra.conf)`);
    expect(explainConfLine(`ERROR: [${conf}:3] x`, { conf, extraConf })).toContain('a line fpm-bridge generated');
    expect(explainConfLine('ERROR: [other.conf:3] x', { conf, extraConf })).toBe('ERROR: [other.conf:3] x');
  });

  it("quotes php-fpm's lines and names the fixes", () => {
    const err = startFailureError({
      bin: '/usr/sbin/php-fpm8.2',
      version: '8.2.1',
      why: 'it exited with code 78',
      lines: [parseFpmLine('[t] ERROR: FPM initialization failed')],
      conf,
      extraConf: { path: 'extra.conf', line: 30 },
      iniGiven: true,
    });
    expect(err.message).toMatch(/php-fpm \(\/usr\/sbin\/php-fpm8.2, PHP 8.2.1\) failed to start: it exited with code 78/);
    expect(err.message).toContain('    ERROR: FPM initialization failed');
    expect(err.message).toContain('check --php-fpm-conf extra.conf');
    expect(err.message).toContain('--php-ini');
    expect(err.message).toContain('--fpm');
  });
});

describe('poolConnections', () => {
  it('defaults to the worker count and never exceeds it', () => {
    expect(poolConnections(undefined, 4)).toEqual({ connections: 4 });
    expect(poolConnections(2, 4)).toEqual({ connections: 2 });
    const over = poolConnections(10, 4);
    expect(over.connections).toBe(4);
    expect(over.warning).toMatch(/--fpm-connections 10 is more than .* 4 workers/);
  });
});
