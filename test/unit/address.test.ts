import { describe, expect, it } from 'vitest';
import { connectOptions, formatAddress, parseAddress } from '../../src/fastcgi/address.ts';

describe('parseAddress', () => {
  it('takes a path with a slash as a unix socket', () => {
    expect(parseAddress('/run/php/php8.2-fpm.sock')).toEqual({ kind: 'unix', path: '/run/php/php8.2-fpm.sock' });
    expect(parseAddress('./fpm.sock')).toEqual({ kind: 'unix', path: './fpm.sock' });
    expect(parseAddress('/tmp/a:9000/s.sock')).toEqual({ kind: 'unix', path: '/tmp/a:9000/s.sock' });
  });

  it('takes anything after unix: as a unix socket path, relative ones included (nginx fastcgi_pass)', () => {
    expect(parseAddress('unix:/run/php/fpm.sock')).toEqual({ kind: 'unix', path: '/run/php/fpm.sock' });
    expect(parseAddress('unix:fpm.sock')).toEqual({ kind: 'unix', path: 'fpm.sock' });
    expect(parseAddress('unix:9000')).toEqual({ kind: 'unix', path: '9000' });
    expect(parseAddress('unix:host:9000')).toEqual({ kind: 'unix', path: 'host:9000' });
  });

  it('takes host:port', () => {
    expect(parseAddress('127.0.0.1:9000')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 9000 });
    expect(parseAddress('php:9001')).toEqual({ kind: 'tcp', host: 'php', port: 9001 });
    expect(parseAddress('fpm.internal.example:1')).toEqual({ kind: 'tcp', host: 'fpm.internal.example', port: 1 });
    expect(parseAddress('localhost:65535')).toEqual({ kind: 'tcp', host: 'localhost', port: 65535 });
  });

  it('takes [v6]:port', () => {
    expect(parseAddress('[::1]:9000')).toEqual({ kind: 'tcp', host: '::1', port: 9000 });
    expect(parseAddress('[2001:db8::5]:9000')).toEqual({ kind: 'tcp', host: '2001:db8::5', port: 9000 });
    expect(parseAddress('[::ffff:127.0.0.1]:9000')).toEqual({ kind: 'tcp', host: '::ffff:127.0.0.1', port: 9000 });
  });

  it('takes a bare port as 127.0.0.1', () => {
    expect(parseAddress('9000')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 9000 });
    expect(parseAddress('1')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 1 });
  });

  it('throws on anything else', () => {
    for (const bad of [
      '',
      'unix:',
      'localhost',
      'fpm.sock',
      ':9000',
      'host:',
      'host:0',
      'host:65536',
      'host:99999999999999999999',
      'host:-1',
      'host:9000x',
      'host:+9000',
      'host: 9000',
      'ho st:9000',
      '0',
      '65536',
      '::1:9000',
      '[::1]',
      '[::1]:',
      '[::1]:0',
      '[zz::1]:9000',
      '[]:9000',
      'a:b:9000',
      '9000 ',
      ' 9000',
    ]) {
      expect(() => parseAddress(bad), JSON.stringify(bad)).toThrow(/not a php-fpm address/);
    }
  });
});

describe('formatAddress', () => {
  it('spells addresses back so that they parse to the same thing', () => {
    for (const text of ['unix:/run/php/fpm.sock', 'unix:fpm.sock', '127.0.0.1:9000', 'php:9001', '[::1]:9000', '[2001:db8::5]:1']) {
      const a = parseAddress(text);
      expect(formatAddress(a)).toBe(text);
      expect(parseAddress(formatAddress(a))).toEqual(a);
    }
    expect(formatAddress(parseAddress('/run/x.sock'))).toBe('unix:/run/x.sock');
    expect(formatAddress(parseAddress('9000'))).toBe('127.0.0.1:9000');
  });
});

describe('connectOptions', () => {
  it('maps to net.connect options', () => {
    expect(connectOptions(parseAddress('/run/x.sock'))).toEqual({ path: '/run/x.sock' });
    expect(connectOptions(parseAddress('[::1]:9000'))).toEqual({ host: '::1', port: 9000, noDelay: true });
  });
});
