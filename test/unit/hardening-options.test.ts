// The hardening flags (SECURITY.md) and the trust-proxy rules of buildCgiParams, without sockets.
import proxyAddr from 'proxy-addr';
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../src/cli/args.ts';
import { buildCgiParams, type HttpRequestInfo } from '../../src/php/cgi-params.ts';

describe('parseArgs: hardening flags', () => {
  it('has defaults tighter than nginx (header 30 s, body 30 s, keep-alive 65 s, app 60 s, 16k/100 headers)', () => {
    const c = parseArgs([]);
    expect({
      maxHeaderSize: c.maxHeaderSize,
      maxHeaders: c.maxHeaders,
      headerTimeoutMs: c.headerTimeoutMs,
      bodyTimeoutMs: c.bodyTimeoutMs,
      keepAliveTimeoutMs: c.keepAliveTimeoutMs,
      appTimeoutMs: c.appTimeoutMs,
      trustProxy: c.trustProxy,
      shutdownTimeoutMs: c.shutdownTimeoutMs,
    }).toEqual({
      maxHeaderSize: 16384,
      maxHeaders: 100,
      headerTimeoutMs: 30_000,
      bodyTimeoutMs: 30_000,
      keepAliveTimeoutMs: 65_000,
      appTimeoutMs: 60_000,
      trustProxy: [],
      shutdownTimeoutMs: 30_000,
    });
  });

  it('reads each flag', () => {
    const c = parseArgs([
      '--max-header-size', '8k', '--max-headers', '50', '--header-timeout', '5s', '--body-timeout', '10s',
      '--keepalive-timeout', '500ms', '--app-timeout', '2m', '--shutdown-timeout', '1m',
      '--trust-proxy', '10.0.0.0/8, 192.168.1.1', '--trust-proxy', 'loopback',
    ]);
    expect([c.maxHeaderSize, c.maxHeaders, c.headerTimeoutMs, c.bodyTimeoutMs, c.keepAliveTimeoutMs, c.appTimeoutMs, c.shutdownTimeoutMs]).toEqual([
      8192, 50, 5000, 10_000, 500, 120_000, 60_000,
    ]);
    expect(c.trustProxy).toEqual(['10.0.0.0/8', '192.168.1.1', 'loopback']);
  });

  it.each(['10.0.0.0/33', 'not-an-ip', '::1/200', '10.0.0.1/255.0.255.0'])('refuses --trust-proxy %s', (bad) => {
    expect(() => parseArgs(['--trust-proxy', bad])).toThrow(UsageError);
  });
});

describe('buildCgiParams with a trusted proxy', () => {
  const base: HttpRequestInfo = {
    method: 'GET',
    rawUrl: '/x.php',
    rawHeaders: [],
    authority: null,
    httpVersion: '1.1',
    tls: false,
    remoteAddress: '10.0.0.2',
    remotePort: 40000,
    localAddress: '10.0.0.1',
    localPort: 8080,
    contentLength: null,
  };
  const target = { scriptName: '/x.php', pathInfo: '', scriptFilename: '/srv/x.php', queryString: '' };
  const server = { documentRoot: '/srv', serverSoftware: 'test', serverName: undefined, extra: [] };
  const params = (info: Partial<HttpRequestInfo>) => Object.fromEntries(buildCgiParams({ ...base, ...info }, target, server));
  const forwarded = ['Host', 'inner:8080', 'X-Forwarded-For', '198.51.100.9', 'X-Forwarded-Proto', 'HTTPS', 'X-Forwarded-Host', 'shop.example'];

  it('believes the headers from a peer in the list: IPv4, IPv6, and IPv4-mapped IPv6', () => {
    for (const [peer, trust] of [
      ['10.0.0.2', ['10.0.0.0/8']],
      ['fd00::5', ['fc00::/7']],
      ['::ffff:10.0.0.2', ['10.0.0.0/8']],
    ] as const) {
      const p = params({ remoteAddress: peer, rawHeaders: forwarded, trustProxy: proxyAddr.compile([...trust]) });
      expect({ peer, REMOTE_ADDR: p.REMOTE_ADDR, HTTPS: p.HTTPS, REQUEST_SCHEME: p.REQUEST_SCHEME, HTTP_HOST: p.HTTP_HOST, SERVER_NAME: p.SERVER_NAME }).toEqual({
        peer,
        REMOTE_ADDR: '198.51.100.9',
        HTTPS: 'on',
        REQUEST_SCHEME: 'https',
        HTTP_HOST: 'shop.example',
        SERVER_NAME: 'shop.example',
      });
    }
  });

  it('ignores them from any other peer, and without a list', () => {
    for (const trustProxy of [proxyAddr.compile(['192.168.0.0/16']), undefined]) {
      const p = params({ rawHeaders: forwarded, trustProxy });
      expect([p.REMOTE_ADDR, p.HTTPS, p.REQUEST_SCHEME, p.HTTP_HOST]).toEqual(['10.0.0.2', undefined, 'http', 'inner:8080']);
      expect(p.HTTP_X_FORWARDED_FOR).toBe('198.51.100.9');
    }
  });

  it('takes the first untrusted hop from the right; several X-Forwarded-For headers count as one list', () => {
    const trustProxy = proxyAddr.compile(['10.0.0.0/8']);
    const rawHeaders = ['X-Forwarded-For', '1.1.1.1, 2.2.2.2', 'X-Forwarded-For', '10.9.9.9'];
    expect(params({ rawHeaders, trustProxy }).REMOTE_ADDR).toBe('2.2.2.2');
    // All hops trusted: the leftmost is the client.
    expect(params({ rawHeaders: ['X-Forwarded-For', '10.1.1.1, 10.2.2.2'], trustProxy }).REMOTE_ADDR).toBe('10.1.1.1');
  });

  it('X-Forwarded-Proto http turns HTTPS off even on TLS; an unknown proto or a bad host is ignored', () => {
    const trustProxy = proxyAddr.compile(['10.0.0.0/8']);
    expect(params({ tls: true, rawHeaders: ['X-Forwarded-Proto', 'http'], trustProxy }).HTTPS).toBeUndefined();
    expect(params({ rawHeaders: ['X-Forwarded-Proto', 'gopher'], trustProxy }).REQUEST_SCHEME).toBe('http');
    expect(params({ rawHeaders: ['Host', 'ok.example', 'X-Forwarded-Host', 'evil.example/path x'], trustProxy }).HTTP_HOST).toBe('ok.example');
  });
});
