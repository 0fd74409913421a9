import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../src/cli/args.ts';

describe('parseArgs: HTTPS and listeners', () => {
  it('listens on 127.0.0.1:8080 over HTTP by default, over HTTPS with --https', () => {
    expect(parseArgs([]).listens).toEqual([{ host: '127.0.0.1', port: 8080, tls: false }]);
    const c = parseArgs(['--https']);
    expect(c.listens).toEqual([{ host: '127.0.0.1', port: 8080, tls: true }]);
    expect(c.https).toBe(true);
  });

  it('takes --listen more than once, with http:// or https:// to choose per address', () => {
    const c = parseArgs(['--https', '--listen', '8443', '--listen', 'http://0.0.0.0:8080', '--listen', 'https://[::1]:9443']);
    expect(c.listens).toEqual([
      { host: '127.0.0.1', port: 8443, tls: true },
      { host: '0.0.0.0', port: 8080, tls: false },
      { host: '::1', port: 9443, tls: true },
    ]);
    expect(c.listen).toEqual(c.listens[0]);
    // An https:// address alone is enough to use the local CA.
    expect(parseArgs(['--listen', 'https://8443']).https).toBe(true);
    expect(() => parseArgs(['--listen', 'ftp://8443'])).toThrow(/--listen: not a listen address/);
  });

  it('--cert implies HTTPS and needs --key (and the other way round)', () => {
    const c = parseArgs(['--cert', 'c.pem', '--key', 'k.pem']);
    expect(c.https).toBe(true);
    expect(c.listens[0]!.tls).toBe(true);
    expect(() => parseArgs(['--cert', 'c.pem'])).toThrow(/--cert needs --key/);
    expect(() => parseArgs(['--key', 'k.pem'])).toThrow(/--key needs --cert/);
  });

  it('--redirect-https needs an HTTP and an HTTPS listener', () => {
    expect(parseArgs(['--https', '--listen', '8443', '--listen', 'http://8080', '--redirect-https']).redirectHttps).toBe(true);
    expect(() => parseArgs(['--https', '--redirect-https'])).toThrow(UsageError);
    expect(() => parseArgs(['--listen', '8080', '--redirect-https'])).toThrow(/needs an HTTP and an HTTPS --listen/);
  });

  it('--host adds names (and IPs) to the certificate; junk is refused', () => {
    expect(parseArgs(['--https', '--host', 'App.Test', '--host', '*.shop.test', '--host', '192.168.1.5']).hosts).toEqual(['app.test', '*.shop.test', '192.168.1.5']);
    for (const bad of ['a b', 'x..y', '-x.test', 'a/b', '*']) expect(() => parseArgs([`--host=${bad}`]), bad).toThrow(/--host/);
  });
});
