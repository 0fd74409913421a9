import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../src/cli/args.ts';

describe('parseArgs: the spawned php-fpm', () => {
  it('needs no --fpm: then fpm-bridge spawns its own', () => {
    const c = parseArgs([]);
    expect(c.fpm).toBeUndefined();
    expect(c.fpmConnections).toBeUndefined();
    expect(c.phpIni).toEqual([]);
  });

  it('reads --php-fpm-bin, repeated --php-ini and --php-fpm-conf', () => {
    const c = parseArgs(['--php-fpm-bin', '/opt/php/sbin/php-fpm', '--php-ini', 'memory_limit=1G', '--php-ini=error_reporting=E_ALL & ~E_NOTICE', '--php-fpm-conf', 'x.conf']);
    expect(c.phpFpmBin).toBe('/opt/php/sbin/php-fpm');
    expect(c.phpIni).toEqual([
      ['memory_limit', '1G'],
      ['error_reporting', 'E_ALL & ~E_NOTICE'],
    ]);
    expect(c.phpFpmConf).toBe('x.conf');
  });

  it('refuses a malformed --php-ini', () => {
    expect(() => parseArgs(['--php-ini', 'memory_limit'])).toThrow(UsageError);
    expect(() => parseArgs(['--php-ini', '=1'])).toThrow(/KEY=VALUE/);
    expect(() => parseArgs(['--php-ini', 'a b=1'])).toThrow(UsageError);
    expect(() => parseArgs(['--php-ini', 'x=1\ny=2'])).toThrow(/line break/);
  });

  it('refuses spawn flags together with --fpm', () => {
    expect(() => parseArgs(['--fpm', '/run/php.sock', '--php-ini', 'a=1'])).toThrow(/--php-ini .* with --fpm/);
    expect(() => parseArgs(['--fpm', '9000', '--php-fpm-bin', 'x'])).toThrow(UsageError);
    expect(parseArgs(['--fpm', '9000', '--fpm-connections', '3']).fpmConnections).toBe(3);
  });
});

describe('parseArgs: the ledger', () => {
  it('is on by default in .fpm-bridge/ledger.sqlite; --ledger FILE moves it; --no-ledger turns it off', () => {
    expect(parseArgs([]).ledger).toBe('.fpm-bridge/ledger.sqlite');
    expect(parseArgs(['--ledger', '/var/lib/x.sqlite']).ledger).toBe('/var/lib/x.sqlite');
    expect(parseArgs(['--no-ledger']).ledger).toBeNull();
    expect(() => parseArgs(['--ledger', 'a', '--ledger', 'b'])).toThrow(/--ledger given more than once/);
    expect(() => parseArgs(['--ledger'])).toThrow(/--ledger needs a file/);
  });

  it('the config file\'s "ledger": a path relative to the file, or false; the command line wins', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-args-'));
    try {
      writeFileSync(join(dir, 'a.json'), JSON.stringify({ ledger: 'var/ledger.sqlite' }));
      writeFileSync(join(dir, 'b.json'), JSON.stringify({ ledger: false }));
      expect(parseArgs(['--config', join(dir, 'a.json')]).ledger).toBe(join(dir, 'var/ledger.sqlite'));
      expect(parseArgs(['--config', join(dir, 'b.json')]).ledger).toBeNull();
      expect(parseArgs(['--config', join(dir, 'b.json'), '--ledger', 'x.sqlite']).ledger).toBe('x.sqlite');
      expect(parseArgs(['--config', join(dir, 'a.json'), '--no-ledger']).ledger).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('parseArgs: compression and sendfile (issue 13)', () => {
  it('compresses unless --no-compress says not to', () => {
    expect(parseArgs([]).compress).toBe(true);
    expect(parseArgs(['--no-compress']).compress).toBe(false);
    expect(parseArgs(['--compress']).compress).toBe(true);
  });

  it('--sendfile-root PREFIX=DIR, repeatable; a bad one is a usage error naming the flag', () => {
    expect(parseArgs(['--sendfile-root', '/private=/srv/files', '--sendfile-root', '/dl=/srv/dl']).sendfileRoots).toEqual(['/private=/srv/files', '/dl=/srv/dl']);
    for (const bad of ['/srv/files', 'private=/srv', '/private=', '/a/../b=/srv']) {
      expect(() => parseArgs(['--sendfile-root', bad])).toThrow(UsageError);
      expect(() => parseArgs(['--sendfile-root', bad])).toThrow(/^--sendfile-root/);
    }
  });
});
