import type { IncomingMessage } from 'node:http';

/**
 * What the HTTP front refuses before a request reaches the bridge, beyond what Node's parser already
 * refuses (smuggling shapes, bad framing). Each rule is RFC 9110's and nginx's; where they differ the
 * stricter one is taken, and SECURITY.md says so.
 */
export interface Refusal {
  status: 400 | 501;
  reason: string;
}

/**
 * RFC 9110 7.2 / RFC 3986 3.2.2: `uri-host [ ":" port ]`, uri-host an IP-literal (`[...]`) or a
 * reg-name (unreserved / pct-encoded / sub-delims). Plus nginx's rules: not empty, no `..` (it would
 * become SERVER_NAME, and a path in the hands of any script that builds one from it).
 */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]*)?$/;

export function validHost(host: string): boolean {
  return HOST.test(host) && !host.includes('..');
}

/** `http://host/...` → host (with port); the authority of an absolute-form target. */
const ABSOLUTE_AUTHORITY = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^/?#@]*@)?([^/?#]*)/;

/** Null when the request may go on; else the status and why. Cheap for the usual request: one pass over its header names. */
export function refuseRequest(req: IncomingMessage): Refusal | null {
  const raw = req.rawHeaders;
  let host: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    // Node keeps only the first in req.headers; the CGI params are built from rawHeaders.
    if (host !== null) return { status: 400, reason: 'more than one Host header' };
    host = raw[i + 1]!;
  }
  if (host !== null && !validHost(host)) return { status: 400, reason: 'invalid Host header' };
  const url = req.url ?? '/';
  if (url[0] !== '/' && url !== '*') {
    const authority = ABSOLUTE_AUTHORITY.exec(url)?.[1];
    if (authority !== undefined && authority !== '' && !validHost(authority)) return { status: 400, reason: 'invalid host in the request target' };
  }
  // Node accepts any list that ends in chunked and leaves the body coded (`gzip, chunked` reached
  // PHP as gzip bytes). No transfer coding but chunked is implemented here: 501, as nginx answers.
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') return { status: 501, reason: `transfer coding "${te}" is not implemented` };
  return null;
}
