import fresh from 'fresh';
import parseRange from 'range-parser';

/** What a file response is decided by: its validators and size. */
export interface Validators {
  etag: string;
  lastModified: string;
  size: number;
}

export type Decision =
  | { kind: 'full' }
  | { kind: 'range'; start: number; end: number }
  | { kind: 'not-modified' }
  | { kind: 'precondition-failed' }
  | { kind: 'unsatisfiable' };

type RequestHeaders = Record<string, string | string[] | undefined>;

/**
 * The HTTP part of serving a file, for GET and HEAD, in RFC 9110's order (13.2.2): If-Match, else
 * If-Unmodified-Since (412); If-None-Match, else If-Modified-Since (304, through `fresh`); then a
 * single Range (206, or 416 when unsatisfiable) unless If-Range does not match. It follows what `send`
 * did before (If-Match compared weakly, a multi-range request answered whole), except If-Range: RFC
 * 9110 13.1.5 requires a strong comparison there, and a weak validator never matches, so a resumed
 * download from a weak ETag restarts from byte 0 instead of splicing two versions.
 */
export function decide(headers: RequestHeaders, v: Validators): Decision {
  const ifMatch = one(headers['if-match']);
  if (ifMatch !== undefined) {
    if (ifMatch.trim() !== '*' && !tokens(ifMatch).some((t) => t === v.etag || t === `W/${v.etag}` || `W/${t}` === v.etag)) return { kind: 'precondition-failed' };
  } else {
    const since = Date.parse(one(headers['if-unmodified-since']) ?? '');
    if (!Number.isNaN(since) && !(Date.parse(v.lastModified) <= since)) return { kind: 'precondition-failed' };
  }
  if ((headers['if-none-match'] !== undefined || headers['if-modified-since'] !== undefined) && fresh(headers, { etag: v.etag, 'last-modified': v.lastModified })) {
    return { kind: 'not-modified' };
  }
  const range = one(headers.range);
  if (range === undefined || !/^ *bytes=/.test(range)) return { kind: 'full' };
  const ranges = parseRange(v.size, range, { combine: true });
  if (!rangeStillValid(one(headers['if-range']), v)) return { kind: 'full' };
  if (ranges === -1) return { kind: 'unsatisfiable' };
  // Syntactically invalid, or several ranges: the whole file, as send and nginx (without multipart).
  if (ranges === -2 || ranges.length !== 1) return { kind: 'full' };
  return { kind: 'range', start: ranges[0]!.start, end: ranges[0]!.end };
}

/** If-Range (RFC 9110 13.1.5): an entity tag must match strongly (both strong, equal); a date exactly. */
function rangeStillValid(ifRange: string | undefined, v: Validators): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.includes('"')) return !value.startsWith('W/') && !v.etag.startsWith('W/') && value === v.etag;
  const date = Date.parse(value);
  return !Number.isNaN(date) && date === Date.parse(v.lastModified);
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function tokens(list: string): string[] {
  return list
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
}
