import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { refuseConnect, requestGate } from './request-gate.ts';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface Listening {
  server: Server | Http2SecureServer;
  /** The URL to open, e.g. http://127.0.0.1:8080/ */
  url: string;
  port: number;
  close(): Promise<void>;
  /** Cuts every connection now (after close()'s grace ran out). */
  closeAll(): void;
}

/** `8080`, `:8080`, `0.0.0.0:8080`, `[::1]:8080` → host and port; the default host is 127.0.0.1, like `php -S localhost`. */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+)?:)?(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`not a listen address: "${text}" (want [host:]port)`);
  const host = m[1] ? m[1].replace(/^\[|\]$/g, '') : '127.0.0.1';
  return { host, port };
}

/**
 * What the HTTP server itself enforces before a request reaches the bridge (nginx's
 * large_client_header_buffers, client_header_timeout, keepalive_timeout). Node's parser already
 * refuses the request smuggling shapes (Content-Length with Transfer-Encoding, two Content-Lengths,
 * obs-fold) with 400, and headers over `maxHeaderSize` with 431.
 */
export interface ServerLimits {
  /** Most bytes of request line + headers (Node's maxHeaderSize); beyond, 431. */
  maxHeaderSize?: number;
  /** Most header fields; beyond, 431 (Node would silently drop the rest from req.headers). */
  maxHeaders?: number;
  /** The whole request head must arrive within this (slowloris); else 408 and close. */
  headerTimeoutMs?: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs?: number;
  /**
   * A request with `Expect: 100-continue` that declares a longer body gets 413 without the 100, as
   * nginx (client_max_body_size), whatever serves its path: the client never sends a body that would be
   * refused. Without it, Node sends the 100 to every such request.
   */
  maxBody?: number;
}

export const SERVER_DEFAULTS = {
  maxHeaderSize: 16 * 1024,
  maxHeaders: 100,
  /** nginx client_header_timeout is 60 s; tighter. */
  headerTimeoutMs: 30_000,
  /** nginx keepalive_timeout is 75 s; tighter, but above the 60 s idle timeout of common load balancers. */
  keepAliveTimeoutMs: 65_000,
} as const;

/**
 * How often Node checks headersTimeout: a quarter of it, at most every second; every second when it
 * is 0 (off: Node checks nothing then, and a 10 ms interval would only cost).
 */
export function checkingInterval(headerTimeoutMs: number): number {
  return headerTimeoutMs > 0 ? Math.max(10, Math.min(1_000, Math.floor(headerTimeoutMs / 4))) : 1_000;
}

export function listen(handler: (req: IncomingMessage, res: ServerResponse) => void, at: ListenAddress, limits: ServerLimits = {}): Promise<Listening> {
  const maxHeaders = limits.maxHeaders ?? SERVER_DEFAULTS.maxHeaders;
  const headerTimeoutMs = limits.headerTimeoutMs ?? SERVER_DEFAULTS.headerTimeoutMs;
  const gate = requestGate(handler, { maxHeaders, maxBody: limits.maxBody });
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderSize ?? SERVER_DEFAULTS.maxHeaderSize,
      headersTimeout: headerTimeoutMs,
      // No cap on the whole request: a big upload may take long. The bridge times out a body that
      // stalls instead (--body-timeout, between two reads, like nginx's client_body_timeout).
      requestTimeout: 0,
      keepAliveTimeout: limits.keepAliveTimeoutMs ?? SERVER_DEFAULTS.keepAliveTimeoutMs,
      connectionsCheckingInterval: checkingInterval(headerTimeoutMs),
    },
    (req, res) => gate.admit(req, res, false),
  );
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => gate.admit(req, res, true));
  server.maxHeadersCount = maxHeaders + 1;
  server.on('connect', refuseConnect);
  return bindTo(server, at, 'http').then(({ port, url }) => ({
    server,
    port,
    url,
    closeAll: () => server.closeAllConnections(),
    close: () =>
      new Promise((done) => {
        gate.drain();
        // Kept-alive connections that finish their response later are idle from then on, but
        // Node only closes the ones idle right now: sweep until the last one has gone.
        const sweep = setInterval(() => server.closeIdleConnections(), 100);
        sweep.unref();
        server.close(() => {
          clearInterval(sweep);
          done();
        });
        server.closeIdleConnections();
      }),
  }));
}

/** Listens on `at`; resolves with the port bound (for port 0) and the URL to reach it by. */
export function bindTo(server: Server | Http2SecureServer, at: ListenAddress, scheme: 'http' | 'https'): Promise<{ port: number; url: string }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const host = at.host.includes(':') ? `[${at.host}]` : at.host;
      resolve({ port, url: `${scheme}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/` });
    });
  });
}
