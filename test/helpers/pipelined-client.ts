// A raw HTTP/1.1 client that pipelines requests on one socket and splits what comes back by the
// server's own framing (Content-Length, chunked, or close-delimited), exactly as a strict client or a
// shared proxy would. A response that ends early or bytes that belong to no request show up as such.
import { connect } from 'node:net';

export interface ParsedResponse {
  status: number;
  head: string;
  headers: Array<[string, string]>;
  body: Buffer;
  /** The body ended where its framing said (false: the connection closed inside it). */
  complete: boolean;
}

export interface PipelinedResult {
  responses: ParsedResponse[];
  /** Bytes after the last response that no framing accounts for. */
  leftover: Buffer;
  /** The server closed the connection (rather than the read timing out). */
  closed: boolean;
  raw: Buffer;
}

/**
 * Writes every request in `heads` at once (each a request line plus headers, CRLF lines, without the
 * final blank line), then reads until the server closes or `timeoutMs` passes.
 */
export function pipelined(port: number, heads: string[], timeoutMs = 3000, isHead: boolean[] = []): Promise<PipelinedResult> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let closed = false;
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      const raw = Buffer.concat(chunks);
      resolve({ ...parseResponses(raw, isHead), closed, raw });
    };
    const timer = setTimeout(done, timeoutMs);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') return; // a cut is a close
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      closed = true;
      done();
    });
    sock.write(heads.map((h) => `${h.replace(/(\r\n)+$/, '')}\r\n\r\n`).join(''), 'latin1');
  });
}

export function parseResponses(raw: Buffer, isHead: boolean[] = []): { responses: ParsedResponse[]; leftover: Buffer } {
  const responses: ParsedResponse[] = [];
  let pos = 0;
  while (pos < raw.length) {
    const end = raw.indexOf('\r\n\r\n', pos);
    if (end < 0) break;
    const head = raw.toString('latin1', pos, end);
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (!m) break;
    const status = Number(m[1]);
    const headers = head
      .split('\r\n')
      .slice(1)
      .map((l): [string, string] => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]);
    const get = (n: string) => headers.filter(([k]) => k === n).map(([, v]) => v);
    let at = end + 4;
    const noBody = isHead[responses.length] === true || status < 200 || status === 204 || status === 304;
    if (noBody) {
      responses.push({ status, head, headers, body: Buffer.alloc(0), complete: true });
      pos = at;
      if (status >= 200) continue;
      continue;
    }
    if (get('transfer-encoding').some((v) => /chunked/i.test(v))) {
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const eol = raw.indexOf('\r\n', at);
        if (eol < 0) break;
        const size = parseInt(raw.toString('latin1', at, eol), 16);
        if (Number.isNaN(size)) break;
        if (size === 0) {
          const trailerEnd = raw.indexOf('\r\n', eol + 2);
          if (trailerEnd < 0) break;
          at = trailerEnd + 2;
          complete = true;
          break;
        }
        if (eol + 2 + size + 2 > raw.length) {
          parts.push(raw.subarray(eol + 2));
          at = raw.length;
          break;
        }
        parts.push(raw.subarray(eol + 2, eol + 2 + size));
        at = eol + 2 + size + 2;
      }
      responses.push({ status, head, headers, body: Buffer.concat(parts), complete });
      pos = complete ? at : raw.length;
      if (!complete) break;
      continue;
    }
    const cl = get('content-length');
    if (cl.length > 0) {
      const n = Number(cl[0]);
      const body = raw.subarray(at, Math.min(raw.length, at + n));
      responses.push({ status, head, headers, body, complete: body.length === n });
      pos = at + body.length;
      if (body.length < n) break;
      continue;
    }
    // Close-delimited: everything that is left.
    responses.push({ status, head, headers, body: raw.subarray(at), complete: true });
    pos = raw.length;
  }
  return { responses, leftover: raw.subarray(pos) };
}
