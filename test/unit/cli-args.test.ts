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
