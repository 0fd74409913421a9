import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { RequestHandle } from '../fastcgi/client.ts';
import type { FcgiBackend } from '../fastcgi/pool-set.ts';
import type { FcgiError } from '../fastcgi/errors.ts';
import type { RequestBody } from '../fastcgi/connection.ts';
import { clientGone, whenClientGone } from '../http/client-gone.ts';
import { ownMethods, type ResponseMethods } from '../http/response-methods.ts';
import { CgiHeaderError, CgiHeaderParser, type CgiHead } from './cgi-response.ts';
import { CUT, cut, PhpBody } from './php-body.ts';
import { SEND_TIMEOUT_MS, watchSend } from './send-timeout.ts';

/** PHP's answer, held back because its status lets the app have a try. */
export interface HeldResponse {
  head: CgiHead;
  body: Buffer[];
}

/** How a PHP request ended, for the caller to log or act on. */
export type PhpOutcome =
  | { kind: 'sent'; warning?: string } // PHP's response went to the client; `warning`: something in it was fixed up
  | { kind: 'held'; response: HeldResponse } // a fallback status (or holdHead said so): not sent, yours to decide
  | { kind: 'failed'; status: number; reason: string } // nothing sent; the caller answers `status`
  | { kind: 'aborted'; reason?: string }; // the client went away, or (with a reason) the response was cut

export interface PhpRequestOptions {
  params: Buffer;
  body: RequestBody | null;
  /** Statuses to hold back instead of sending (404 when an app is there to fall back to). */
  holdStatuses: ReadonlySet<number>;
  /** Most bytes of a held body kept in memory; past that PHP's response is sent as it is. */
  holdLimit: number;
  /** Other heads to hold back, whatever their status (X-Accel-Redirect: the bridge sends a file instead). */
  holdHead?: (head: CgiHead) => boolean;
  onStderr(line: string): void;
  /** May be retried once on a fresh connection (see FcgiClient.request). */
  idempotent: boolean;
  /** The private directory where a slow client's response is spooled (made on first call); null: never spooled. */
  spoolDir?: (() => string) | null;
  /** A client that takes no byte for this long is cut (nginx send_timeout); 0: never. */
  sendTimeoutMs?: number;
  onWarning?(message: string): void;
  /** Gets a copy of the response when PHP's answer goes out as it is (not one held back): the shadow's. */
  tap?: ResponseTap | null;
}

/**
 * A copy of PHP's answer on the side (shadow/): the head, then PHP's body as it came from php-fpm,
 * then `end` once PHP finished it and it was not cut. Never called for a response held back.
 */
export interface ResponseTap {
  head(head: CgiHead): void;
  body(chunk: Buffer): void;
  end(): void;
}

/**
 * Runs one request on php-fpm and sends the result to `res`. A response that arrives whole leaves in
 * one write with a Content-Length; a longer one streams, and a client slower than php-fpm gets the
 * rest from a spool file, so the worker is free when PHP is done (see PhpBody). Memory stays bounded
 * whatever the size.
 */
export function runPhp(client: FcgiBackend, res: ServerResponse, opts: PhpRequestOptions): Promise<PhpOutcome> {
  // A client already gone (it left while its body was read or the docroot was looked up): PHP never
  // runs for it, as nginx starts no upstream request for a closed client.
  if (clientGone(res)) return Promise.resolve({ kind: 'aborted' });
  return new Promise((resolve) => {
    const parser = new CgiHeaderParser();
    const sendTimeoutMs = opts.sendTimeoutMs ?? SEND_TIMEOUT_MS;
    let head: CgiHead | null = null;
    /** Body bytes of a 404 held for the app. */
    let held: Buffer[] | null = null;
    let heldSize = 0;
    /** Body bytes read since the head, not sent yet: the rest of this socket read. */
    let pending: Buffer[] | null = null;
    let committed = false;
    /** Once committed: the body on its way out. */
    let body: PhpBody | null = null;
    let settled = false;
    let unwatch = (): void => {};
    let stderrRest = '';
    const tap = opts.tap ?? null;
    const settle = (o: PhpOutcome) => {
      if (settled) return;
      settled = true;
      unwatch();
      resolve(o);
    };
    /** The client left: a request still queued for a php-fpm connection is dropped and never runs. */
    const onClientClose = () => {
      handle.abort();
      settle(body?.failure ? { kind: 'aborted', reason: body.failure } : { kind: 'aborted' });
    };
    const failHeader = (reason: string) => {
      handle.abort();
      settle({ kind: 'failed', status: 502, reason });
    };
    /** What was fixed up in PHP's head (an invalid Content-Length, an X-Accel-Redirect): a warning if nothing worse happened. */
    let invalidNote: string | undefined;
    const sentWith = (found: string | undefined) => {
      const problem = found ?? invalidNote;
      settle(problem?.startsWith(CUT) ? { kind: 'aborted', reason: problem } : problem ? { kind: 'sent', warning: problem } : { kind: 'sent' });
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
      invalidNote = headWarning(head);
      body = new PhpBody(res, {
        declared: length,
        carriesBody: carriesBody(res, head.status),
        unbuffered: unbuffered(head),
        spoolDir: opts.spoolDir ?? null,
        sendTimeoutMs,
        resume: () => handle.resume(),
        done: sentWith,
        warn: (m) => opts.onWarning?.(m),
      });
      let more = true;
      for (const chunk of first) more = body.write(chunk);
      if (first.length === 0) res.flushHeaders();
      if (!more) handle.pause();
    };

    const handle: RequestHandle = client.request(opts.params, opts.body, {
      onStdout(data) {
        if (settled) return true;
        if (committed) {
          tap?.body(data);
          return body!.write(data);
        }
        // What is kept past this call is copied: `data` is a view of php-fpm's read buffer.
        if (pending) {
          tap?.body(data);
          pending.push(Buffer.from(data));
          return true;
        }
        if (held) {
          heldSize += data.length;
          held.push(Buffer.from(data));
          if (heldSize > opts.holdLimit) {
            // Too big to hold: PHP's answer stands as it is.
            pending = held;
            held = null;
            tap?.head(head!);
            for (const chunk of pending) tap?.body(chunk);
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
        if (opts.holdStatuses.has(head.status) || opts.holdHead?.(head)) {
          held = [Buffer.from(parsed.rest)];
          heldSize = parsed.rest.length;
          return true;
        }
        pending = [Buffer.from(parsed.rest)];
        tap?.head(head);
        tap?.body(parsed.rest);
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
          let problem: string | undefined;
          try {
            problem = sendWhole(res, head, pending ?? [], ownMethods(res), sendTimeoutMs);
          } catch (err) {
            return failHeader(`bad header from PHP: ${(err as Error).message}`);
          }
          tap?.end();
          sentWith(problem);
        } else {
          tap?.end();
          // The response ends once what waits (in memory, in the spool) has gone out: body.done.
          body!.end();
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
    // The pool may have answered at once (busy, closing): then there is nothing to watch.
    if (!settled) unwatch = whenClientGone(res, onClientClose);
  });
}

/** The head as writeHead takes it: repeated names (Set-Cookie) stay separate entries in a flat list. */
function flatHeaders(head: CgiHead): string[] {
  const flat: string[] = [];
  for (const [name, value] of head.headers) if (!(name.length > 8 && ACCEL.has(name.toLowerCase()))) flat.push(name, value);
  return flat;
}

/** Statuses that never carry a body (RFC 9110 6.4.1), so no Content-Length is added for them. */
function bodyless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

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

/** PHP asked for its output to go out as it flushes (`X-Accel-Buffering: no`, as nginx reads it, or SSE). */
function unbuffered(head: CgiHead): boolean {
  for (const [name, value] of head.headers) {
    const n = name.toLowerCase();
    if (n === 'x-accel-buffering' && value.toLowerCase() === 'no') return true;
    if (n === 'content-type' && value.toLowerCase().startsWith('text/event-stream')) return true;
  }
  return false;
}

/**
 * The X-Accel-* fields nginx reads from its upstream and never passes on (its fastcgi module hides
 * exactly these five, besides Status): read here (X-Accel-Buffering; X-Accel-Redirect through
 * --sendfile-root, before the head gets this far), never sent to the client.
 */
const ACCEL: ReadonlySet<string> = new Set(['x-accel-buffering', 'x-accel-redirect', 'x-accel-limit-rate', 'x-accel-expires', 'x-accel-charset']);

/**
 * An X-Accel-Redirect that reaches the client's answer was not acted on (no --sendfile-root): the
 * client gets PHP's own answer without the field, and the operator is told.
 */
function accelWarning(head: CgiHead): string | undefined {
  for (const [name, value] of head.headers) {
    if (name.toLowerCase() === 'x-accel-redirect') return `PHP sent X-Accel-Redirect: ${value.slice(0, 80)}, but no --sendfile-root (sendfileRoots) maps it: dropped, PHP's own answer sent`;
  }
  return undefined;
}

/** What the bridge fixed up in PHP's head, worth a warning if nothing worse happened. */
function headWarning(head: CgiHead): string | undefined {
  const invalid = head.invalidContentLength === undefined ? undefined : `PHP sent an invalid Content-Length (${head.invalidContentLength}): dropped`;
  const accel = accelWarning(head);
  return invalid && accel ? `${invalid}; ${accel}` : (invalid ?? accel);
}

/**
 * Sends a response that is complete in hand, in one write, with a Content-Length: PHP's when valid
 * (a longer body is cut to it and the connection closed; a shorter one is sent and the connection
 * cut), else the body's own. A HEAD answer carries PHP's length, if any, and no body.
 * Returns what went wrong with PHP's framing, if anything.
 */
function sendWhole(res: ServerResponse, head: CgiHead, body: readonly Buffer[], methods: ResponseMethods, sendTimeoutMs: number): string | undefined {
  let data = body.length === 1 ? body[0]! : Buffer.concat(body as Buffer[]);
  const flat = flatHeaders(head);
  let problem = headWarning(head);
  let after: 'keep' | 'cut' = 'keep';
  if (carriesBody(res, head.status)) {
    const declared = head.contentLength ?? data.length;
    if (data.length > declared) {
      problem = `PHP sent ${data.length - declared} bytes more than its Content-Length ${declared}: dropped, connection closed`;
      data = data.subarray(0, declared);
      flat.push('Connection', 'close');
    } else if (data.length < declared) {
      problem = `${CUT}: PHP sent ${declared - data.length} bytes fewer than its Content-Length ${declared}`;
      after = 'cut';
    }
    flat.push('Content-Length', String(declared));
  } else {
    const length = framedLength(head);
    if (length !== null) flat.push('Content-Length', String(length));
  }
  methods.writeHead.call(res, head.status, head.statusText ?? STATUS_CODES[head.status] ?? '', flat);
  if (after === 'cut') {
    if (data.length > 0) methods.write.call(res, data);
    else res.flushHeaders();
    cut(res);
    return problem;
  }
  if (data.length > 0) methods.end.call(res, data);
  else methods.end.call(res);
  // Bytes the client has not taken yet: nginx's send_timeout applies to them too.
  if (res.writableLength > 0) watchSend(res, sendTimeoutMs, () => {});
  return problem;
}

/**
 * Sends a response PHP produced and the bridge held back, through `methods` (the response's own by
 * default). Returns what went wrong with PHP's framing, if anything.
 */
export function sendHeld(res: ServerResponse, held: HeldResponse, methods: ResponseMethods = ownMethods(res), sendTimeoutMs = SEND_TIMEOUT_MS): string | undefined {
  return sendWhole(res, held.head, held.body, methods, sendTimeoutMs);
}
