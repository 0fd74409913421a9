/**
 * Parses the CGI response header block that a script writes before its body (RFC 3875 section 6).
 * The block may span several FCGI_STDOUT records and arrive together with the first body bytes.
 */

export interface CgiHead {
  status: number;
  /** Reason phrase from `Status: 404 Not Found`, when the script gave one. */
  statusText: string | undefined;
  /**
   * In order, repeated names (several Set-Cookie) kept as separate entries. Status, Content-Length and
   * hop-by-hop fields removed: the bridge frames the response itself.
   */
  headers: Array<[name: string, value: string]>;
  /**
   * PHP's Content-Length when it is one valid decimal (repeats of the same value allowed, RFC 9110
   * 8.6), else null. The bridge sends exactly this many body bytes, never more.
   */
  contentLength: number | null;
  /** Set when PHP sent a Content-Length that was dropped (not a number, negative, two different values). */
  invalidContentLength?: string;
}

export class CgiHeaderError extends Error {
  override name = 'CgiHeaderError';
}

/** nginx refuses upstream header blocks larger than its buffer ("upstream sent too big header"). */
export const MAX_HEADER_BLOCK = 64 * 1024;

/** RFC 9110 5.1 field-name = token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 5.5: no CR, LF, NUL or other controls except HTAB in a field value. */
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
/** RFC 9110 7.6.1 hop-by-hop fields: about one connection, never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

export class CgiHeaderParser {
  private pending: Buffer | null = null;

  /**
   * Feeds stdout. Returns the head and the body bytes that followed it once the block is complete
   * (`rest` may be a view of `chunk`: valid as long as `chunk` is), or null while more is needed.
   * Throws CgiHeaderError on a malformed or oversized block.
   */
  push(chunk: Buffer): { head: CgiHead; rest: Buffer } | null {
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const end = findBlockEnd(data, this.pending ? Math.max(0, this.pending.length - 3) : 0);
    if (end < 0) {
      if (data.length > MAX_HEADER_BLOCK) throw new CgiHeaderError(`CGI header block larger than ${MAX_HEADER_BLOCK} bytes`);
      // Kept past this call: a copy (stdout comes as views of php-fpm's read buffer; a concat is one already).
      this.pending = data === chunk ? Buffer.from(chunk) : data;
      return null;
    }
    this.pending = null;
    if (end > MAX_HEADER_BLOCK) throw new CgiHeaderError(`CGI header block larger than ${MAX_HEADER_BLOCK} bytes`);
    return { head: parseBlock(data.toString('latin1', 0, end)), rest: data.subarray(end) };
  }

  /** stdout ended inside the header block: a script with no header at all is malformed for a CGI gateway. */
  finish(): never {
    throw new CgiHeaderError('php-fpm ended the response inside the CGI header block');
  }
}

/** Offset just past the blank line that ends the block (LF LF or CRLF CRLF, mixed allowed), or -1. */
function findBlockEnd(data: Buffer, from: number): number {
  // A block that starts with a blank line is empty.
  if (from === 0 && data[0] === 10) return 1;
  if (from === 0 && data[0] === 13 && data[1] === 10) return 2;
  let nl = data.indexOf(10, from);
  while (nl >= 0) {
    let next = nl + 1;
    if (data[next] === 13) next++;
    if (data[next] === 10) return next + 1;
    nl = data.indexOf(10, nl + 1);
  }
  return -1;
}

/** `line` from `start` without leading and trailing SP / HTAB (a loop: a regex would be quadratic). */
function trimOws(line: string, start: number): string {
  let end = line.length;
  while (start < end && (line[start] === ' ' || line[start] === '\t')) start++;
  while (end > start && (line[end - 1] === ' ' || line[end - 1] === '\t')) end--;
  return line.slice(start, end);
}

/** Digits only (no sign, no space), at most 15 of them: exact as a JS number. */
const DECIMAL = /^\d{1,15}$/;

function parseBlock(block: string): CgiHead {
  let status = 0;
  let lengths: string[] | null = null;
  let statusText: string | undefined;
  let hasLocation = false;
  const headers: Array<[string, string]> = [];
  for (const raw of block.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') continue;
    if (line[0] === ' ' || line[0] === '\t') throw new CgiHeaderError('obsolete line folding in CGI header block');
    const colon = line.indexOf(':');
    if (colon <= 0) throw new CgiHeaderError(`malformed CGI header line: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon);
    // RFC 9110 5.5: only OWS (SP / HTAB) surrounds a field value. String#trim() would also strip
    // CR, VT, FF and latin1 0xA0 (NBSP), silently accepting `X: a\r\r\n` (nginx: "upstream sent
    // invalid header") and dropping a legitimate obs-text byte 0xA0 from the value.
    const value = trimOws(line, colon + 1);
    if (!TOKEN.test(name)) throw new CgiHeaderError(`invalid CGI header name: ${JSON.stringify(name.slice(0, 80))}`);
    if (BAD_VALUE.test(value)) throw new CgiHeaderError(`invalid value for CGI header ${name}`);
    const lower = name.toLowerCase();
    if (lower === 'status') {
      // RFC 3875 6.3.3: Status = "Status:" status-code SP reason-phrase
      const m = /^([1-9]\d\d)(?:\s+(.*))?$/.exec(value);
      if (!m) throw new CgiHeaderError(`invalid CGI Status header: ${JSON.stringify(value.slice(0, 80))}`);
      // A 1xx is never a final response: sent as one, the client would pair PHP's real answer (or the
      // next response) with the wrong request. The gateway answers 502 instead.
      if (m[1]![0] === '1') throw new CgiHeaderError(`CGI Status ${m[1]} is informational, not a final response`);
      if (status === 0) {
        status = Number(m[1]);
        statusText = m[2] || undefined;
      }
      continue;
    }
    if (HOP_BY_HOP.has(lower)) continue;
    if (lower === 'content-length') {
      (lengths ??= []).push(value);
      continue;
    }
    if (lower === 'location') hasLocation = true;
    headers.push([name, value]);
  }
  // RFC 3875 6.2.3/6.2.4: a Location with no Status is a redirect; otherwise the default is 200.
  if (status === 0) status = hasLocation ? 302 : 200;
  if (lengths === null) return { status, statusText, headers, contentLength: null };
  return { status, statusText, headers, ...contentLength(lengths) };
}

/** One length from PHP's Content-Length fields ("5", "5, 5" and two "5" are one); anything else dropped. */
function contentLength(values: string[]): { contentLength: number | null; invalidContentLength?: string } {
  let length: string | null = null;
  for (const value of values) {
    for (const part of value.split(',')) {
      const v = trimOws(part, 0);
      if (!DECIMAL.test(v) || (length !== null && Number(v) !== Number(length))) {
        return { contentLength: null, invalidContentLength: values.join(', ').slice(0, 80) };
      }
      length = v;
    }
  }
  return { contentLength: Number(length) };
}
