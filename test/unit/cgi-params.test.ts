import { describe, expect, it } from 'vitest';
import {
  buildCgiParams,
  headerParamName,
  type HttpRequestInfo,
  type ScriptTarget,
  type ServerParams,
} from '../../src/php/cgi-params.ts';
import type { Param } from '../../src/fastcgi/name-value.ts';

function req(over: Partial<HttpRequestInfo> = {}): HttpRequestInfo {
  return {
    method: 'GET',
    rawUrl: '/index.php/extra%20x?a=1&b=%20',
    rawHeaders: ['Host', 'example.com:8080', 'User-Agent', 'curl/8'],
    httpVersion: '1.1',
    tls: false,
    remoteAddress: '192.0.2.7',
    remotePort: 54321,
    localAddress: '10.0.0.1',
    localPort: 8080,
    contentLength: null,
    authority: null,
    ...over,
  };
}

const target: ScriptTarget = {
  scriptName: '/index.php',
  pathInfo: '/extra x',
  scriptFilename: '/srv/www/index.php',
  queryString: 'a=1&b=%20',
};

function server(over: Partial<ServerParams> = {}): ServerParams {
  return { documentRoot: '/srv/www', serverSoftware: 'fpm-bridge/0.1.0', serverName: undefined, extra: [], ...over };
}

const asMap = (params: Param[]) => new Map(params);
const names = (params: Param[]) => params.map(([n]) => n);

describe('buildCgiParams', () => {
  it('sends what nginx with fastcgi_params + snippets/fastcgi-php.conf sends for a GET', () => {
    const params = buildCgiParams(req(), target, server());
    expect(Object.fromEntries(params)).toEqual({
      SCRIPT_FILENAME: '/srv/www/index.php', // fastcgi.conf: $document_root$fastcgi_script_name
      QUERY_STRING: 'a=1&b=%20',
      REQUEST_METHOD: 'GET',
      CONTENT_TYPE: '',
      CONTENT_LENGTH: '',
      SCRIPT_NAME: '/index.php',
      REQUEST_URI: '/index.php/extra%20x?a=1&b=%20', // raw, with the query
      // try_files $fastcgi_script_name (Debian's snippet) sets $uri, so $document_uri, to the script.
      DOCUMENT_URI: '/index.php',
      DOCUMENT_ROOT: '/srv/www',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REQUEST_SCHEME: 'http',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_SOFTWARE: 'fpm-bridge/0.1.0',
      REMOTE_ADDR: '192.0.2.7',
      REMOTE_PORT: '54321',
      REMOTE_USER: '', // fastcgi_param REMOTE_USER $remote_user: sent, empty without Basic credentials
      SERVER_ADDR: '10.0.0.1',
      SERVER_PORT: '8080',
      SERVER_NAME: 'example.com',
      REDIRECT_STATUS: '200',
      PATH_INFO: '/extra x',
      HTTP_HOST: 'example.com:8080',
      HTTP_USER_AGENT: 'curl/8',
    });
    // No duplicates among the names.
    expect(new Set(names(params)).size).toBe(params.length);
  });

  it('sends HTTPS=on and REQUEST_SCHEME=https only with TLS (fastcgi_param HTTPS $https if_not_empty)', () => {
    const plain = buildCgiParams(req(), target, server());
    expect(names(plain)).not.toContain('HTTPS');
    const tls = asMap(buildCgiParams(req({ tls: true }), target, server()));
    expect(tls.get('HTTPS')).toBe('on');
    expect(tls.get('REQUEST_SCHEME')).toBe('https');
  });

  it('sends CONTENT_TYPE and CONTENT_LENGTH for a body, and "0" for an empty framed body', () => {
    const p = asMap(
      buildCgiParams(
        req({ method: 'POST', rawHeaders: ['Host', 'h', 'Content-Type', 'application/json', 'Content-Length', '13'], contentLength: 13 }),
        target,
        server(),
      ),
    );
    expect(p.get('REQUEST_METHOD')).toBe('POST');
    expect(p.get('CONTENT_TYPE')).toBe('application/json');
    expect(p.get('CONTENT_LENGTH')).toBe('13');
    // nginx passes every request header as HTTP_*, Content-Type and Content-Length included.
    expect(p.get('HTTP_CONTENT_TYPE')).toBe('application/json');
    expect(p.get('HTTP_CONTENT_LENGTH')).toBe('13');

    const empty = asMap(buildCgiParams(req({ method: 'POST', contentLength: 0 }), target, server()));
    expect(empty.get('CONTENT_LENGTH')).toBe('0');
    expect(empty.get('CONTENT_TYPE')).toBe('');
  });

  it('sends the buffered length for a chunked body (nginx sets content_length_n after reading it)', () => {
    const p = asMap(
      buildCgiParams(req({ method: 'PUT', rawHeaders: ['Host', 'h', 'Transfer-Encoding', 'chunked'], contentLength: 5 }), target, server()),
    );
    expect(p.get('CONTENT_LENGTH')).toBe('5');
  });

  it('passes the HTTP version as SERVER_PROTOCOL', () => {
    expect(asMap(buildCgiParams(req({ httpVersion: '1.0' }), target, server())).get('SERVER_PROTOCOL')).toBe('HTTP/1.0');
    expect(asMap(buildCgiParams(req({ httpVersion: '2.0' }), target, server())).get('SERVER_PROTOCOL')).toBe('HTTP/2.0');
  });

  describe('REMOTE_USER ($remote_user)', () => {
    const user = (auth: string[]) => asMap(buildCgiParams(req({ rawHeaders: ['Host', 'h', ...auth] }), target, server())).get('REMOTE_USER');
    const basic = (credentials: string) => ['Authorization', 'Basic ' + Buffer.from(credentials, 'latin1').toString('base64')];

    it('is the user name of Basic credentials', () => {
      expect(user(basic('alice:secret'))).toBe('alice');
      expect(user(basic('bob:pa:ss'))).toBe('bob');
      expect(user(basic('u:'))).toBe('u');
      expect(user(['authorization', 'basic ' + Buffer.from('carol:x').toString('base64')])).toBe('carol');
      expect(user(basic('j\u00fcrgen:x'))).toBe('j\u00fcrgen');
    });

    it('is empty without usable Basic credentials', () => {
      expect(user([])).toBe('');
      expect(user(['Authorization', 'Bearer abc.def'])).toBe('');
      expect(user(basic('nocolon'))).toBe('');
      expect(user(basic(':password'))).toBe('');
      expect(user(['Authorization', 'Basic'])).toBe('');
    });
  });

  it('sends an empty PATH_INFO and DOCUMENT_URI = SCRIPT_NAME without path info', () => {
    const t: ScriptTarget = { scriptName: '/a/b.php', pathInfo: '', scriptFilename: '/srv/www/a/b.php', queryString: '' };
    const p = asMap(buildCgiParams(req({ rawUrl: '/a/b.php' }), t, server()));
    expect(p.get('PATH_INFO')).toBe('');
    expect(p.get('DOCUMENT_URI')).toBe('/a/b.php');
    expect(p.get('QUERY_STRING')).toBe('');
    expect(p.get('REQUEST_URI')).toBe('/a/b.php');
  });

  describe('SERVER_NAME', () => {
    const name = (rawHeaders: string[], serverName?: string) =>
      asMap(buildCgiParams(req({ rawHeaders }), target, server({ serverName }))).get('SERVER_NAME');

    it('is the configured name when there is one', () => {
      expect(name(['Host', 'other.example:81'], 'www.example.org')).toBe('www.example.org');
    });

    it('is the Host header without its port otherwise', () => {
      expect(name(['Host', 'example.com:8080'])).toBe('example.com');
      expect(name(['Host', 'example.com'])).toBe('example.com');
      expect(name(['Host', '[::1]:8080'])).toBe('[::1]');
      expect(name(['Host', '[2001:db8::1]'])).toBe('[2001:db8::1]');
      expect(name(['host', 'lower.example'])).toBe('lower.example');
    });

    it('falls back to the local address without a usable Host', () => {
      expect(name([])).toBe('10.0.0.1');
      expect(name(['Host', ''])).toBe('10.0.0.1');
      expect(name(['Host', ':8080'])).toBe('10.0.0.1');
    });
  });

  describe('HTTP_* headers', () => {
    const headers = (rawHeaders: string[]) =>
      buildCgiParams(req({ rawHeaders }), target, server()).filter(([n]) => n.startsWith('HTTP_'));

    it('upper-cases names and turns - into _, in header order, after the fixed params', () => {
      const params = buildCgiParams(
        req({ rawHeaders: ['Host', 'h', 'x-forwarded-for', '1.2.3.4', 'Accept-Language', 'de', 'X-A-1', 'v'] }),
        target,
        server(),
      );
      expect(params.slice(-4)).toEqual([
        ['HTTP_HOST', 'h'],
        ['HTTP_X_FORWARDED_FOR', '1.2.3.4'],
        ['HTTP_ACCEPT_LANGUAGE', 'de'],
        ['HTTP_X_A_1', 'v'],
      ]);
      expect(names(params).indexOf('HTTP_HOST')).toBeGreaterThan(names(params).indexOf('PATH_INFO'));
    });

    it('joins repeated headers with ", " and Cookie with "; " (nginx 1.23+, RFC 6265 5.4)', () => {
      expect(
        headers(['Accept', 'text/html', 'Cookie', 'a=1', 'X-Forwarded-For', '1.1.1.1', 'cookie', 'b=2', 'accept', '*/*', 'COOKIE', 'c=3', 'x-forwarded-for', '2.2.2.2']),
      ).toEqual([
        ['HTTP_ACCEPT', 'text/html, */*'],
        ['HTTP_COOKIE', 'a=1; b=2; c=3'],
        ['HTTP_X_FORWARDED_FOR', '1.1.1.1, 2.2.2.2'],
      ]);
    });

    it('keeps empty header values and joins them too', () => {
      expect(headers(['X-Empty', '', 'X-Empty', 'b'])).toEqual([['HTTP_X_EMPTY', ', b']]);
    });

    it('drops names with "_" or "." and other non [A-Za-z0-9-] characters (underscores_in_headers off)', () => {
      expect(
        headers(['X_Forwarded_For', 'evil', 'X.Forwarded.For', 'evil', 'X-Forwarded-For', 'good', 'X Y', 'z', 'X!', 'z', 'Ä', 'z']),
      ).toEqual([['HTTP_X_FORWARDED_FOR', 'good']]);
      // The underscore version must not replace or join the real header, in either order.
      expect(headers(['X-Real-IP', 'good', 'X_Real_IP', 'evil'])).toEqual([['HTTP_X_REAL_IP', 'good']]);
    });

    it('never turns a Proxy header into HTTP_PROXY (httpoxy, CVE-2016-5385)', () => {
      const params = buildCgiParams(req({ rawHeaders: ['Proxy', 'http://evil:1', 'PROXY', 'x', 'proxy', 'y', 'Proxy-Authorization', 'ok'] }), target, server());
      expect(names(params)).not.toContain('HTTP_PROXY');
      expect(asMap(params).get('HTTP_PROXY_AUTHORIZATION')).toBe('ok');
    });

    it('passes raw header bytes through unchanged', () => {
      expect(headers(['X-Name', 'caf\u00c3\u00a9 \u00ff'])).toEqual([['HTTP_X_NAME', 'caf\u00c3\u00a9 \u00ff']]);
    });

    it('ignores a dangling name without a value', () => {
      expect(headers(['X-A', '1', 'X-B'])).toEqual([['HTTP_X_A', '1']]);
    });
  });

  it('puts extra params last, after the headers, so they win in PHP', () => {
    const extra: Param[] = [
      ['APP_ENV', 'prod'],
      ['SERVER_NAME', 'forced.example'],
      ['HTTP_HOST', 'forced'],
    ];
    const params = buildCgiParams(req(), target, server({ extra }));
    expect(params.slice(-3)).toEqual(extra);
    // PHP keeps the last value of a repeated name; the extra ones are after the built-in ones.
    const lastWins = new Map(params);
    expect(lastWins.get('SERVER_NAME')).toBe('forced.example');
    expect(lastWins.get('HTTP_HOST')).toBe('forced');
  });
});

describe('headerParamName', () => {
  it('maps names like nginx', () => {
    expect(headerParamName('X-Forwarded-For')).toBe('HTTP_X_FORWARDED_FOR');
    expect(headerParamName('content-type')).toBe('HTTP_CONTENT_TYPE');
    expect(headerParamName('a1-B2')).toBe('HTTP_A1_B2');
    expect(headerParamName('x_y')).toBeNull();
    expect(headerParamName('x.y')).toBeNull();
    expect(headerParamName('')).toBeNull();
    expect(headerParamName('pRoXy')).toBeNull();
  });

  it('gives the same answer on repeated calls (cached)', () => {
    for (let i = 0; i < 3; i++) {
      expect(headerParamName('X-Cached')).toBe('HTTP_X_CACHED');
      expect(headerParamName('X_Cached')).toBeNull();
    }
  });
});

describe('absolute-form request target', () => {
  it('takes HTTP_HOST and SERVER_NAME from the target, not the Host header (RFC 9112 3.2.2)', () => {
    const p = new Map(buildCgiParams(req({ authority: 'real.example:81', rawHeaders: ['Host', 'forged'] }), target, {
      documentRoot: '/srv/www', serverSoftware: 'x', serverName: undefined, extra: [],
    }));
    expect(p.get('HTTP_HOST')).toBe('real.example:81');
    expect(p.get('SERVER_NAME')).toBe('real.example');
  });
});
