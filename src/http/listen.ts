import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface Listening {
  server: Server;
  /** The URL to open, e.g. http://127.0.0.1:8080/ */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** `8080`, `:8080`, `0.0.0.0:8080`, `[::1]:8080` → host and port; the default host is 127.0.0.1, like `php -S localhost`. */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+)?:)?(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`not a listen address: "${text}" (want [host:]port)`);
  const host = m[1] ? m[1].replace(/^\[|\]$/g, '') : '127.0.0.1';
  return { host, port };
}

export function listen(handler: (req: IncomingMessage, res: ServerResponse) => void, at: ListenAddress): Promise<Listening> {
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const host = at.host.includes(':') ? `[${at.host}]` : at.host;
      resolve({
        server,
        port,
        url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/`,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeIdleConnections();
          }),
      });
    });
  });
}
