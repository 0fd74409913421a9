import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { FcgiClient, RequestHandle } from '../fastcgi/client.ts';
import type { FcgiError } from '../fastcgi/errors.ts';
import type { RequestBody } from '../fastcgi/connection.ts';
import { ownMethods, type ResponseMethods } from '../http/response-methods.ts';
import { CgiHeaderError, CgiHeaderParser, type CgiHead } from './cgi-response.ts';

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
  | { kind: 'aborted' }; // the client went away, or the response broke mid-body

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
    let held: Buffer[] | null = null;
    let heldSize = 0;
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

    /** Sends the head and whatever body is already here; from now on, stdout streams to the client. */
    const commit = (h: CgiHead, first: Buffer[]): boolean => {
      if (h.statusText) res.writeHead(h.status, h.statusText, flatHeaders(h));
      else res.writeHead(h.status, flatHeaders(h));
      let ok = true;
      for (const chunk of first) if (chunk.length > 0) ok = res.write(chunk);
      if (first.length === 0) res.flushHeaders();
      return ok;
    };

    const handle: RequestHandle = client.request(opts.params, opts.body, {
      onStdout(data) {
        if (settled) return true;
        if (held) {
          heldSize += data.length;
          held.push(data);
          if (heldSize > opts.holdLimit) {
            // Too big to hold: PHP's answer stands as it is.
            const first = held;
            held = null;
            return commit(head!, first);
          }
          return true;
        }
        if (head) return res.write(data);
        let parsed;
        try {
          parsed = parser.push(data);
        } catch (err) {
          handle.abort();
          settle({ kind: 'failed', status: 502, reason: (err as CgiHeaderError).message });
          return true;
        }
        if (!parsed) return true;
        head = parsed.head;
        if (opts.holdStatuses.has(head.status)) {
          held = [parsed.rest];
          heldSize = parsed.rest.length;
          return true;
        }
        try {
          return commit(head, [parsed.rest]);
        } catch (err) {
          // Node refused a header the parser let through: never a crash, a 502 like any bad header.
          handle.abort();
          settle({ kind: 'failed', status: 502, reason: `bad header from PHP: ${(err as Error).message}` });
          return true;
        }
      },
      onStderr(data) {
        const text = stderrRest + data.toString('utf8');
        const lines = text.split('\n');
        stderrRest = lines.pop() ?? '';
        for (const line of lines) if (line.trim() !== '') opts.onStderr(line);
      },
      onEnd() {
        if (stderrRest.trim() !== '') opts.onStderr(stderrRest);
        if (!head) {
          settle({ kind: 'failed', status: 502, reason: 'php-fpm ended the response inside the CGI header block' });
        } else if (held) {
          settle({ kind: 'held', response: { head, body: held } });
        } else {
          res.end();
          settle({ kind: 'sent' });
        }
      },
      onError(err: FcgiError) {
        if (head && !held) {
          // Headers already went out: all that is left is to cut the response short.
          res.destroy();
          settle({ kind: 'aborted' });
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

/** Sends a response PHP produced and the bridge held back, through `methods` (the response's own by default). */
export function sendHeld(res: ServerResponse, held: HeldResponse, methods: ResponseMethods = ownMethods(res)): void {
  const { head } = held;
  methods.writeHead.call(res, head.status, head.statusText ?? STATUS_CODES[head.status] ?? '', flatHeaders(head));
  for (const chunk of held.body) if (chunk.length > 0) methods.write.call(res, chunk);
  methods.end.call(res);
}
