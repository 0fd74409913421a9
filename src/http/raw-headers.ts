import type { IncomingMessage } from 'node:http';

/**
 * Headers of which Node's HTTP/1 parser keeps the first value and drops repeats (its
 * `matchKnownFields` in lib/_http_incoming.js); every other repeat is joined.
 */
const FIRST_VALUE_ONLY: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'referer',
  'host',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);

/**
 * `req.headers` from `rawHeaders` ([name, value, name, value...]) as Node's parser builds it, for
 * requests it never parsed (an h2 stream's HTTP/1 view, the shadow's replay): names in lower case,
 * set-cookie as a list, cookies joined with '; ', other repeats with ', ', and the first value only
 * of the headers that can have one.
 */
export function headersFromRaw(raw: readonly string[]): IncomingMessage['headers'] {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const prev = out[name];
    if (prev === undefined) out[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prev)) prev.push(value);
    else if (!FIRST_VALUE_ONLY.has(name)) out[name] = prev + (name === 'cookie' ? '; ' : ', ') + value;
  }
  return out;
}
