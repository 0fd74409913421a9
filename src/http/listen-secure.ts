import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session, type SecureServerOptions } from 'node:http2';
import type { Socket } from 'node:net';
import { sendError } from './error-response.ts';
import { http1View } from './h2-compat.ts';
import { bindTo, checkingInterval, SERVER_DEFAULTS, type ListenAddress, type Listening, type ServerLimits } from './listen.ts';
import { refuseConnect, requestGate } from './request-gate.ts';

/** A certificate chain and its key (PEM). */
export interface TlsCredentials {
  cert: string;
  key: string;
}

/**
 * HTTP/2 abuse limits (see SECURITY.md). nginx's http2 defaults where it has one: 128 concurrent
 * streams, headers bounded as for HTTP/1.1. Node (nghttp2) already counts rapidly reset streams
 * (CVE-2023-44487) and refuses a session that keeps sending invalid frames or too many settings.
 */
export const H2_LIMITS = {
  /** Streams a client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused. */
  maxConcurrentStreams: 100,
  /** Invalid frames, then the session goes (Node's default is 1000). */
  maxSessionInvalidFrames: 100,
  /** Streams refused (over the concurrency limit, rapid resets) before the session goes. */
  maxSessionRejectedStreams: 100,
  /** Entries in one SETTINGS frame. */
  maxSettings: 32,
  /** nghttp2's buffered frames and headers per session, MiB: beyond it a flood of PINGs or SETTINGS whose ACKs go unread ends the session. */
  maxSessionMemory: 10,
} as const;

/**
 * The HTTPS listener: HTTP/2 by ALPN and HTTP/1.1 on the same port (`allowHTTP1`), with the limits
 * of the plain listener (header size and count, header timeout, keep-alive) on both. An h2 request
 * reaches `handler` as Node HTTP/1 objects (h2-compat.ts), so the bridge and apps see one API.
 */
export function listenSecure(handler: (req: IncomingMessage, res: ServerResponse) => void, at: ListenAddress, limits: ServerLimits, tls: TlsCredentials): Promise<Listening> {
  const maxHeaders = limits.maxHeaders ?? SERVER_DEFAULTS.maxHeaders;
  const maxHeaderSize = limits.maxHeaderSize ?? SERVER_DEFAULTS.maxHeaderSize;
  const headerTimeoutMs = limits.headerTimeoutMs ?? SERVER_DEFAULTS.headerTimeoutMs;
  const keepAliveTimeoutMs = limits.keepAliveTimeoutMs ?? SERVER_DEFAULTS.keepAliveTimeoutMs;
  const options: SecureServerOptions = {
    allowHTTP1: true,
    cert: tls.cert,
    key: tls.key,
    // A client that opens TCP and never finishes the TLS handshake (or never picks a protocol).
    handshakeTimeout: headerTimeoutMs,
    unknownProtocolTimeout: headerTimeoutMs,
    settings: { maxConcurrentStreams: H2_LIMITS.maxConcurrentStreams, maxHeaderListSize: maxHeaderSize, enablePush: false },
    // Pseudo-headers count too; a few over our count reach tooManyHeaders (431), far over: refused by nghttp2.
    maxHeaderListPairs: maxHeaders + 8,
    maxSessionInvalidFrames: H2_LIMITS.maxSessionInvalidFrames,
    maxSessionRejectedStreams: H2_LIMITS.maxSessionRejectedStreams,
    maxSettings: H2_LIMITS.maxSettings,
    maxSessionMemory: H2_LIMITS.maxSessionMemory,
  };
  const server = createSecureServer(options);
  const gate = requestGate(handler, { maxHeaders, maxBody: limits.maxBody });
  // HTTP/1.1 connections are run by Node's http server code, which reads these from the server.
  Object.assign(server, {
    maxHeaderSize,
    headersTimeout: headerTimeoutMs,
    requestTimeout: 0,
    keepAliveTimeout: keepAliveTimeoutMs,
    maxHeadersCount: maxHeaders + 1,
    connectionsCheckingInterval: checkingInterval(headerTimeoutMs),
  });

  // One path for HTTP/1.1 and h2, and for 'checkContinue' (Expect: 100-continue), which Node emits
  // for both instead of 'request' once it has a listener (without one it sends every such client a 100).
  const onRequest = (expectsContinue: boolean) => (req2: Http2ServerRequest | IncomingMessage, res2: Http2ServerResponse | ServerResponse) => {
    if (!('stream' in req2)) return gate.admit(req2, res2 as ServerResponse, expectsContinue);
    const { req, res } = http1View(req2, res2 as Http2ServerResponse);
    // nghttp2 only advertises SETTINGS_MAX_HEADER_LIST_SIZE; the bound is kept here, counted as
    // RFC 9113 6.5.2 does (name + value + 32 per field), the same 431 as HTTP/1.1.
    if (headerListSize(req2.rawHeaders) > maxHeaderSize) {
      req.resume();
      sendError(res, 431, `header list larger than ${maxHeaderSize} bytes`);
      return;
    }
    gate.admit(req, res, expectsContinue);
  };
  server.on('request', onRequest(false));
  server.on('checkContinue', onRequest(true));
  // HTTP/1.1 hands CONNECT over as a socket (dropped unanswered without a listener), h2 as a response.
  server.on('connect', refuseConnect);

  // h2 sessions: closed when idle for keepAliveTimeoutMs (nginx's keepalive_timeout for h2), never
  // while a stream is open (a long PHP stream or a slow upload has its own timeouts).
  const sessions = new Set<Http2Session>();
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    let open = 0;
    session.on('stream', (stream) => {
      open++;
      stream.once('close', () => open--);
    });
    session.setTimeout(keepAliveTimeoutMs, () => {
      if (open === 0) session.close();
    });
    session.once('close', () => sessions.delete(session));
    session.on('error', () => {});
  });
  const h1Sockets = new Set<Socket>();
  server.on('secureConnection', (socket: Socket & { alpnProtocol?: string | false }) => {
    if (socket.alpnProtocol === 'h2') return;
    h1Sockets.add(socket);
    socket.once('close', () => h1Sockets.delete(socket));
  });
  server.on('tlsClientError', () => {});

  // Node's HTTP/1 connection tracking (allowHTTP1) has it; not in the h2 server's types.
  const closeIdleH1 = (): void => (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();

  return bindTo(server, at, 'https').then(({ port, url }) => ({
    server,
    port,
    url,
    close: () =>
      new Promise((done) => {
        gate.drain();
        // h2: GOAWAY, running streams finish. h1: idle kept-alive connections closed as they free up.
        for (const s of sessions) s.close();
        const sweep = setInterval(closeIdleH1, 100);
        sweep.unref();
        server.close(() => {
          clearInterval(sweep);
          done();
        });
        closeIdleH1();
      }),
    closeAll: () => {
      for (const s of sessions) s.destroy();
      for (const s of h1Sockets) s.destroy();
    },
  }));
}

function headerListSize(raw: readonly string[]): number {
  let size = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) size += raw[i]!.length + raw[i + 1]!.length + 32;
  return size;
}
