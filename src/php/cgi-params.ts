import { isIP } from 'node:net';
import type { Param } from '../fastcgi/name-value.ts';

/**
 * The CGI/1.1 meta-variables (RFC 3875 section 4.1) for one request, as nginx's `fastcgi_params`
 * plus Debian's `snippets/fastcgi-php.conf` send them, so PHP code sees what it sees behind nginx.
 * All values are byte strings (one char per byte, see name-value.ts).
 */

/** What the HTTP side knows about the request. */
export interface HttpRequestInfo {
  method: string;
  /** The request target as received in origin-form (raw, undecoded, with the query): REQUEST_URI. */
  rawUrl: string;
  /** Node's rawHeaders: [name, value, name, value, ...]. */
  rawHeaders: readonly string[];
  /** Host of an absolute-form request target: it replaces the Host header (RFC 9112 3.2.2). */
  authority: string | null;
  httpVersion: string;
  tls: boolean;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  /**
   * Length of the buffered body, or null when the request had no body framing at all (a plain GET:
   * nginx then sends CONTENT_LENGTH empty). Known even for a chunked body, since the bridge buffers it.
   */
  contentLength: number | null;
  /**
   * Which peers' X-Forwarded-For/-Proto/-Host are believed (`--trust-proxy`, compiled by proxy-addr):
   * `(address, hop)` is true for a trusted proxy. Absent: none are.
   */
  trustProxy?: ((address: string, hop: number) => boolean) | undefined;
}

/** Which script runs, from the route decision. Paths decoded and normalised. */
export interface ScriptTarget {
  /** URL path of the script: `/index.php`. */
  scriptName: string;
  /** What follows the script in the path: `/extra` for `/index.php/extra`, or ''. */
  pathInfo: string;
  /** Absolute file name of the script (docroot joined with scriptName). */
  scriptFilename: string;
  /** Raw query string (after the first `?`), or ''. */
  queryString: string;
}

export interface ServerParams {
  documentRoot: string;
  serverSoftware: string;
  /** Fixed SERVER_NAME; when absent, the Host header's name (what `server_name` users usually mean). */
  serverName: string | undefined;
  /** `--param NAME=VALUE`, sent last so they win over the built-in ones. */
  extra: readonly Param[];
}

/** Header names nginx passes (ignore_invalid_headers on, underscores_in_headers off): letters, digits, '-'. */
const VALID_HEADER_NAME = /^[A-Za-z0-9-]+$/;
const paramNameCache = new Map<string, string | null>();

/** `X-Forwarded-For` → `HTTP_X_FORWARDED_FOR`; null for a name nginx would drop. */
export function headerParamName(name: string): string | null {
  let cached = paramNameCache.get(name);
  if (cached !== undefined) return cached;
  if (!VALID_HEADER_NAME.test(name)) {
    // A name with '_' or '.' could shadow a real header once '-' becomes '_' (X_Forwarded_For).
    cached = null;
  } else if (name.toLowerCase() === 'proxy') {
    // httpoxy (CVE-2016-5385): a Proxy header would become HTTP_PROXY, which many HTTP clients trust.
    cached = null;
  } else {
    cached = 'HTTP_' + name.toUpperCase().replace(/-/g, '_');
  }
  if (paramNameCache.size < 1000) paramNameCache.set(name, cached);
  return cached;
}

export function buildCgiParams(req: HttpRequestInfo, target: ScriptTarget, server: ServerParams): Param[] {
  const headers = headerParams(req.rawHeaders);
  if (req.authority !== null) headers.set('HTTP_HOST', req.authority);
  let remoteAddress = req.remoteAddress;
  let tls = req.tls;
  if (req.trustProxy?.(req.remoteAddress, 0)) {
    const fwd = forwardedBy(headers, req.remoteAddress, req.trustProxy);
    remoteAddress = fwd.address;
    if (fwd.https !== null) tls = fwd.https;
    if (fwd.host !== null) headers.set('HTTP_HOST', fwd.host);
  }
  const host = headers.get('HTTP_HOST');
  const contentType = headers.get('HTTP_CONTENT_TYPE') ?? '';
  const params: Param[] = [
    ['SCRIPT_FILENAME', target.scriptFilename],
    ['QUERY_STRING', target.queryString],
    ['REQUEST_METHOD', req.method],
    ['CONTENT_TYPE', contentType],
    ['CONTENT_LENGTH', req.contentLength === null ? '' : String(req.contentLength)],
    ['SCRIPT_NAME', target.scriptName],
    ['REQUEST_URI', req.rawUrl],
    // Debian's snippet runs `try_files $fastcgi_script_name =404`, which sets nginx's $uri (and so
    // $document_uri) to the script: /index.php/extra gives DOCUMENT_URI /index.php.
    ['DOCUMENT_URI', target.scriptName],
    ['DOCUMENT_ROOT', server.documentRoot],
    ['SERVER_PROTOCOL', `HTTP/${req.httpVersion}`],
    ['REQUEST_SCHEME', tls ? 'https' : 'http'],
    ...(tls ? ([['HTTPS', 'on']] as const) : []),
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_SOFTWARE', server.serverSoftware],
    ['REMOTE_ADDR', remoteAddress],
    ['REMOTE_PORT', String(req.remotePort)],
    // nginx's $remote_user: the Basic credentials' user name, sent (empty) even without auth_basic.
    ['REMOTE_USER', basicAuthUser(headers.get('HTTP_AUTHORIZATION')) ?? ''],
    ['SERVER_ADDR', req.localAddress],
    ['SERVER_PORT', String(req.localPort)],
    ['SERVER_NAME', server.serverName ?? hostName(host) ?? req.localAddress],
    // php-cgi built with force-cgi-redirect refuses to run without it.
    ['REDIRECT_STATUS', '200'],
    ['PATH_INFO', target.pathInfo],
  ];
  for (const entry of headers) params.push(entry);
  for (const p of server.extra) params.push(p);
  return params;
}

/**
 * What a trusted proxy (the peer, already checked) says about the client. The client address is found
 * as Express/proxy-addr find it: walk X-Forwarded-For from the right while the hops are trusted
 * proxies; the first untrusted one is the client. A hop that is no IP address ends the walk at the
 * last good one. Proto and host are the first (client-side) values, as Express takes them.
 */
function forwardedBy(
  headers: Map<string, string>,
  peer: string,
  trust: (address: string, hop: number) => boolean,
): { address: string; https: boolean | null; host: string | null } {
  let address = peer;
  const chain = (headers.get('HTTP_X_FORWARDED_FOR') ?? '').split(',').map((a) => a.trim()).filter((a) => a !== '');
  for (let hop = 0; trust(address, hop) && chain.length > 0; hop++) {
    const next = chain.pop()!;
    if (isIP(next) === 0) break;
    address = next;
  }
  const proto = firstValue(headers.get('HTTP_X_FORWARDED_PROTO'))?.toLowerCase();
  const host = firstValue(headers.get('HTTP_X_FORWARDED_HOST'));
  return {
    address,
    https: proto === 'https' ? true : proto === 'http' ? false : null,
    host: host !== undefined && /^[A-Za-z0-9.:[\]_-]+$/.test(host) ? host : null,
  };
}

function firstValue(list: string | undefined): string | undefined {
  const first = list?.split(',')[0]?.trim();
  return first || undefined;
}

/** HTTP_* params in header order; repeated headers joined with ", " (Cookie with "; ", RFC 6265 5.4). */
function headerParams(raw: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = headerParamName(raw[i]!);
    if (name === null) continue;
    const value = raw[i + 1]!;
    const prev = out.get(name);
    out.set(name, prev === undefined ? value : prev + (name === 'HTTP_COOKIE' ? '; ' : ', ') + value);
  }
  return out;
}

/** The user of `Authorization: Basic base64(user:password)`, as nginx's $remote_user decodes it; else undefined. */
function basicAuthUser(authorization: string | undefined): string | undefined {
  const m = authorization === undefined ? null : /^basic +([A-Za-z0-9+/]+)(=*)/i.exec(authorization);
  if (!m || m[1]!.length % 4 === 1) return undefined;
  const credentials = Buffer.from(m[1]!, 'base64').toString('latin1');
  const colon = credentials.indexOf(':');
  return colon > 0 ? credentials.slice(0, colon) : undefined;
}

/** `example.com:8080` → `example.com`, `[::1]:80` → `[::1]`. */
function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const m = /^(\[[^\]]*\]|[^:]*)/.exec(host);
  return m?.[1] || undefined;
}
