import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { FcgiClient, RequestHandle } from '../fastcgi/client.ts';
import type { FcgiError } from '../fastcgi/errors.ts';
import type { RequestBody } from '../fastcgi/connection.ts';
import { ownMethods, type ResponseMethods } from '../http/response-methods.ts';
import { CgiHeaderError, CgiHeaderParser, type CgiHead } from './cgi-response.ts';

/** Bytes of PHP output that may wait in a response before reading from php-fpm pauses. */
const STREAM_WINDOW = 256 * 1024;

/** PHP's answer, held back because its status lets the app have a try. */
export interface HeldResponse {
  head: CgiHead;
  body: Buffer[];
}

/** How a PHP request ended, for the caller to log or act on. */
export type PhpOutcome =
  | { kind: 'sent' } // PHP's response went to the client (streamed)
  | { kind: 'held'; response: HeldResponse } // status was a fallback status: not sent, yours to decide
  | { kind: 'failed'; status: number; reason: string } // nothing sent; the caller answers `status`
  | { kind: 'aborted'; reason?: string }; // the client went away, or (with a reason) php-fpm broke mid-body

export interface PhpRequestOptions {
  params: Buffer;
  body: RequestBody | null;
  /** Statuses to hold back instead of sending (404 when an app is there to fall back to). */
  holdStatuses: ReadonlySet<number>;
  /** Most bytes of a held body kept in memory; past that PHP's response is sent as it is. */
  holdLimit: number;
  onStderr(line: string): void;
  /** May be retried once on a fresh connection (see FcgiClient.request). */
  idempotent: boolean;
}

/**
 * Runs one request on php-fpm and streams the result to `res` with backpressure both ways: when the
 * client reads slowly, reading from php-fpm pauses, so memory stays bounded whatever the size.
 */
export function runPhp(client: FcgiClient, res: ServerResponse, opts: PhpRequestOptions): Promise<PhpOutcome> {
  return new Promise((resolve) => {
    const parser = new CgiHeaderParser();
    let head: CgiHead | null = null;
    /** Body bytes of a 404 held for the app. */
    let held: Buffer[] | null = null;
    let heldSize = 0;
    /** Body bytes read since the head, not sent yet: the rest of this socket read. */
    let pending: Buffer[] | null = null;
    let committed = false;
    let settled = false;
    let stderrRest = '';
    const settle = (o: PhpOutcome) => {
      if (settled) return;
      settled = true;
      res.off('close', onClientClose);
      res.off('drain', onDrain);
      resolve(o);
    };
    const onClientClose = () => {
      if (res.writableFinished) return;
      handle.abort();
      settle({ kind: 'aborted' });
    };
    const onDrain = () => handle.resume();
    const failHeader = (reason: string) => {
      handle.abort();
      settle({ kind: 'failed', status: 502, reason });
    };

    /**
     * Sends the head and what body is here; from now on stdout streams to the client. Called one
     * microtask after the head arrived, unless END_REQUEST came in the same socket read: then the whole
     * response goes out at once, with a Content-Length, in one write (sendWhole).
     */
    const commit = (): void => {
      if (committed || settled || !head || held) return;
      committed = true;
      const first = pending ?? [];
      pending = null;
      try {
        if (head.statusText) res.writeHead(head.status, head.statusText, flatHeaders(head));
        else res.writeHead(head.status, flatHeaders(head));
      } catch (err) {
        // Node refused a header the parser let through: never a crash, a 502 like any bad header.
        return failHeader(`bad header from PHP: ${(err as Error).message}`);
      }
      for (const chunk of first) if (chunk.length > 0) res.write(chunk);
      if (first.length === 0) res.flushHeaders();
      if (res.writableLength > STREAM_WINDOW) handle.pause();
    };

    const handle: RequestHandle = client.request(opts.params, opts.body, {
      onStdout(data) {
        if (settled) return true;
        if (committed) {
          // write() says false as soon as one 64 KiB chunk passes the socket's 16 KiB mark, even when
          // the kernel took it all at once; pausing php-fpm then costs a round trip per chunk. Pause
          // only while more than STREAM_WINDOW bytes really wait in the response (memory stays bounded).
          res.write(data);
          return res.writableLength <= STREAM_WINDOW;
        }
        if (pending) {
          pending.push(data);
          return true;
        }
        if (held) {
          heldSize += data.length;
          held.push(data);
          if (heldSize > opts.holdLimit) {
            // Too big to hold: PHP's answer stands as it is.
            pending = held;
            held = null;
            commit();
          }
          return true;
        }
        let parsed;
        try {
          parsed = parser.push(data);
        } catch (err) {
          failHeader((err as CgiHeaderError).message);
          return true;
        }
        if (!parsed) return true;
        head = parsed.head;
        if (opts.holdStatuses.has(head.status)) {
          held = [parsed.rest];
          heldSize = parsed.rest.length;
          return true;
        }
        pending = [parsed.rest];
        queueMicrotask(commit);
        return true;
      },
      onStderr(data) {
        const text = stderrRest + data.toString('utf8');
        const lines = text.split('\n');
        stderrRest = lines.pop() ?? '';
        for (const line of lines) if (line.trim() !== '') opts.onStderr(line);
      },
      onEnd() {
        if (stderrRest.trim() !== '') opts.onStderr(stderrRest);
        if (settled) return;
        if (!head) {
          settle({ kind: 'failed', status: 502, reason: 'php-fpm ended the response inside the CGI header block' });
        } else if (held) {
          settle({ kind: 'held', response: { head, body: held } });
        } else if (!committed) {
          committed = true;
          try {
            sendWhole(res, head, pending ?? []);
          } catch (err) {
            return failHeader(`bad header from PHP: ${(err as Error).message}`);
          }
          settle({ kind: 'sent' });
        } else {
          res.end();
          settle({ kind: 'sent' });
        }
      },
      onError(err: FcgiError) {
        if (committed) {
          // Headers already went out: all that is left is to cut the response short.
          res.destroy();
          settle({ kind: 'aborted', reason: `response cut short: ${err.message}` });
          return;
        }
        settle({ kind: 'failed', status: err.httpStatus, reason: err.message });
      },
    }, opts.idempotent);
    res.on('close', onClientClose);
    res.on('drain', onDrain);
  });
}

/** The head as writeHead takes it: repeated names (Set-Cookie) stay separate entries in a flat list. */
function flatHeaders(head: CgiHead): string[] {
  const flat: string[] = [];
  for (const [name, value] of head.headers) flat.push(name, value);
  return flat;
}

/** Statuses that never carry a body (RFC 9110 6.4.1), so no Content-Length is added for them. */
function bodyless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/**
 * Sends a response that is complete in hand, in one write: adds Content-Length when PHP gave none (no
 * chunked framing) unless the request was HEAD (PHP sent no body, the GET's length is unknown).
 */
function sendWhole(res: ServerResponse, head: CgiHead, body: readonly Buffer[], methods: ResponseMethods = ownMethods(res)): void {
  const data = body.length === 1 ? body[0]! : Buffer.concat(body as Buffer[]);
  const flat = flatHeaders(head);
  const isHead = res.req?.method === 'HEAD';
  if (!isHead && !bodyless(head.status) && !head.headers.some(([n]) => n.length === 14 && n.toLowerCase() === 'content-length')) {
    flat.push('Content-Length', String(data.length));
  }
  methods.writeHead.call(res, head.status, head.statusText ?? STATUS_CODES[head.status] ?? '', flat);
  if (data.length > 0) methods.end.call(res, data);
  else methods.end.call(res);
}

/** Sends a response PHP produced and the bridge held back, through `methods` (the response's own by default). */
export function sendHeld(res: ServerResponse, held: HeldResponse, methods: ResponseMethods = ownMethods(res)): void {
  sendWhole(res, held.head, held.body, methods);
}
