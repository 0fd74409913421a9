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
  | { kind: 'sent'; warning?: string } // PHP's response went to the client; `warning`: something in it was fixed up
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
    /** Once committed: the body as it goes out, cut to the declared length. */
    let body: FramedBody | null = null;
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
      const length = framedLength(head);
      const flat = flatHeaders(head);
      if (length !== null) flat.push('Content-Length', String(length));
      try {
        if (head.statusText) res.writeHead(head.status, head.statusText, flat);
        else res.writeHead(head.status, flat);
      } catch (err) {
        // Node refused a header the parser let through: never a crash, a 502 like any bad header.
        return failHeader(`bad header from PHP: ${(err as Error).message}`);
      }
      body = new FramedBody(res, length);
      for (const chunk of first) body.write(chunk);
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
          body!.write(data);
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
          let warning: string | undefined;
          try {
            warning = sendWhole(res, head, pending ?? []);
          } catch (err) {
            return failHeader(`bad header from PHP: ${(err as Error).message}`);
          }
          settle(warning?.startsWith(CUT) ? { kind: 'aborted', reason: warning } : { kind: 'sent', warning });
        } else {
          const warning = body!.end(head);
          settle(warning?.startsWith(CUT) ? { kind: 'aborted', reason: warning } : { kind: 'sent', warning });
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

/** Reasons that start with this cut the client's connection (the response could not be completed). */
const CUT = 'response cut';

/**
 * The Content-Length that goes out with a response PHP streams: PHP's own when valid (the bridge then
 * sends exactly that many bytes), else none (Node frames it chunked, or close-delimited for HTTP/1.0).
 * A HEAD answer and a 304 carry PHP's length as information only; a 204 carries none.
 */
function framedLength(head: CgiHead): number | null {
  if (head.contentLength === null || head.status === 204 || head.status < 200) return null;
  return head.contentLength;
}

/** Does this response carry the body bytes its Content-Length announces? */
function carriesBody(res: ServerResponse, status: number): boolean {
  return res.req?.method !== 'HEAD' && !bodyless(status);
}

function invalidLengthWarning(head: CgiHead): string | undefined {
  return head.invalidContentLength === undefined ? undefined : `PHP sent an invalid Content-Length (${head.invalidContentLength}): dropped`;
}

/**
 * A streamed body on its way out. The bridge owns the framing: with a declared length exactly that
 * many bytes go out. More from PHP is dropped (and the connection closed after the response, as it
 * is suspect); fewer, and the connection is cut, so the client never reads the next response as the
 * rest of this one.
 */
class FramedBody {
  private remaining: number;
  private overflow = 0;

  constructor(
    private readonly res: ServerResponse,
    declared: number | null,
  ) {
    this.remaining = declared !== null && carriesBody(res, res.statusCode) ? declared : Infinity;
  }

  write(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (chunk.length > this.remaining) {
      this.overflow += chunk.length - this.remaining;
      chunk = chunk.subarray(0, this.remaining);
      if (chunk.length === 0) return;
    }
    this.remaining -= chunk.length;
    this.res.write(chunk);
  }

  /** Ends the response; returns what went wrong with PHP's framing, if anything. */
  end(head: CgiHead): string | undefined {
    if (this.remaining !== Infinity && this.remaining > 0) {
      cut(this.res);
      return `${CUT}: PHP sent ${this.remaining} bytes fewer than its Content-Length ${head.contentLength}`;
    }
    this.res.end();
    if (this.overflow > 0) {
      closeAfter(this.res);
      return `PHP sent ${this.overflow} bytes more than its Content-Length ${head.contentLength}: dropped, connection closed`;
    }
    return invalidLengthWarning(head);
  }
}

/**
 * Ends the client's connection inside this response: what was written still goes out, then FIN, so
 * the client sees a body shorter than announced. Nothing more is written on the connection.
 */
function cut(res: ServerResponse): void {
  const socket = res.socket;
  if (socket) socket.destroySoon();
  else res.destroy();
}

/** Closes the client's connection once this response is out (no further request on it). */
function closeAfter(res: ServerResponse): void {
  const close = () => res.socket?.end();
  if (res.writableFinished) close();
  else res.once('finish', close);
}

/**
 * Sends a response that is complete in hand, in one write, with a Content-Length: PHP's when valid
 * (a longer body is cut to it and the connection closed; a shorter one is sent and the connection
 * cut), else the body's own. A HEAD answer carries PHP's length, if any, and no body.
 * Returns what went wrong with PHP's framing, if anything.
 */
function sendWhole(res: ServerResponse, head: CgiHead, body: readonly Buffer[], methods: ResponseMethods = ownMethods(res)): string | undefined {
  let data = body.length === 1 ? body[0]! : Buffer.concat(body as Buffer[]);
  const flat = flatHeaders(head);
  const withBody = carriesBody(res, head.status);
  let warning = invalidLengthWarning(head);
  let after: 'keep' | 'close' | 'cut' = 'keep';
  if (withBody) {
    const declared = head.contentLength ?? data.length;
    if (data.length > declared) {
      warning = `PHP sent ${data.length - declared} bytes more than its Content-Length ${declared}: dropped, connection closed`;
      data = data.subarray(0, declared);
      flat.push('Connection', 'close');
    } else if (data.length < declared) {
      warning = `${CUT}: PHP sent ${declared - data.length} bytes fewer than its Content-Length ${declared}`;
      after = 'cut';
    }
    flat.push('Content-Length', String(declared));
  } else if (head.contentLength !== null && head.status !== 204 && head.status >= 200) {
    flat.push('Content-Length', String(head.contentLength));
  }
  methods.writeHead.call(res, head.status, head.statusText ?? STATUS_CODES[head.status] ?? '', flat);
  if (after === 'cut') {
    if (data.length > 0) methods.write.call(res, data);
    else res.flushHeaders();
    cut(res);
    return warning;
  }
  if (data.length > 0) methods.end.call(res, data);
  else methods.end.call(res);
  return warning;
}

/**
 * Sends a response PHP produced and the bridge held back, through `methods` (the response's own by
 * default). Returns what went wrong with PHP's framing, if anything.
 */
export function sendHeld(res: ServerResponse, held: HeldResponse, methods: ResponseMethods = ownMethods(res)): string | undefined {
  return sendWhole(res, held.head, held.body, methods);
}
