import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { sendError } from './error-response.ts';
import { BodyTooLargeError, declaredTooLarge } from './request-body.ts';
import { refuseRequest } from './validate-request.ts';

/**
 * What every listener (plain HTTP, HTTPS with HTTP/1.1 or h2) does with a request before the bridge
 * sees it, in one place so the listeners cannot drift apart:
 * - refuse what must not reach the bridge: more header fields than `maxHeaders` (431; Node would
 *   silently keep only the first ones), and the shapes `refuseRequest` names (400, 501);
 * - `Expect: 100-continue`: a declared body over `maxBody` gets 413 without the 100, as nginx
 *   (client_max_body_size), whatever serves the path; else the 100, and on;
 * - once the listener closes, every response is its connection's last (`Connection: close`), so
 *   kept-alive clients move on;
 * - `CONNECT` gets 501: the bridge is no proxy (Node would drop the socket with no answer).
 */
export interface RequestGate {
  /** A request: answered here, or handed to the bridge. `expectsContinue`: it came through 'checkContinue'. */
  admit(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void;
  /** From now on, responses close their connection. */
  drain(): void;
}

export function requestGate(handler: (req: IncomingMessage, res: ServerResponse) => void, limits: { maxHeaders: number; maxBody?: number | undefined }): RequestGate {
  const { maxHeaders, maxBody } = limits;
  let draining = false;
  return {
    admit(req, res, expectsContinue) {
      // Node parses past maxHeadersCount but keeps only that many in req.headers, silently. One more
      // than the limit is kept (maxHeadersCount = maxHeaders + 1), so "too many" is seen and refused.
      if (req.rawHeaders.length > 2 * maxHeaders) return refuse(req, res, 431, `more than ${maxHeaders} header fields`);
      const refusal = refuseRequest(req);
      if (refusal) return refuse(req, res, refusal.status, refusal.reason);
      if (expectsContinue) {
        if (maxBody !== undefined && declaredTooLarge(req, maxBody)) return refuse(req, res, 413, new BodyTooLargeError(maxBody).message);
        res.writeContinue();
      }
      if (draining) res.shouldKeepAlive = false;
      handler(req, res);
    },
    drain() {
      draining = true;
    },
  };
}

/** The answer, and the connection closes after it (what was sent of the request is not read). */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, reason: string): void {
  req.resume();
  sendError(res, status, reason, { connection: 'close' });
}

const CONNECT_REFUSAL = 'CONNECT is not supported: fpm-bridge is not a proxy\n';

/**
 * CONNECT asks for a tunnel; the bridge is no proxy: 501, as for any method it does not implement
 * (nginx 1.22 answers 400). Node's HTTP/1 server hands it over as a raw socket (and without a
 * 'connect' listener drops it unanswered); its h2 server as a stream's response.
 */
export function refuseConnect(_req: unknown, out: Duplex | { writeHead(status: number, headers: Record<string, string | number>): unknown; end(body: string): unknown }): void {
  if ('writeHead' in out) {
    out.writeHead(501, { 'content-type': 'text/plain', 'content-length': CONNECT_REFUSAL.length });
    out.end(CONNECT_REFUSAL);
    return;
  }
  out.on('error', () => {});
  out.end(`HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain\r\nContent-Length: ${CONNECT_REFUSAL.length}\r\nConnection: close\r\n\r\n${CONNECT_REFUSAL}`);
}
