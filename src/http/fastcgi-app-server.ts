import { existsSync, statSync, unlinkSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:net';
import { createServer } from 'node-fastcgi';

export interface FastCGIAppServer {
  server: Server;
  close(): Promise<void>;
}

/**
 * Serves the app itself over FastCGI, for an nginx (or any FastCGI front) that stays in front in
 * production: `fastcgi_intercept_errors on; error_page 404 = @app;` with `location @app {
 * fastcgi_pass unix:...; include fastcgi_params; }` sends what PHP declines to the same app the
 * bridge runs. node-fastcgi turns FastCGI requests into Node request/response objects (it builds
 * req.url from REQUEST_URI and the headers from HTTP_*), so the app needs no change.
 */
export function serveAppOverFastCGI(listener: (req: IncomingMessage, res: ServerResponse) => void, address: string): Promise<FastCGIAppServer> {
  const server = createServer(listener);
  const isUnix = address.includes('/');
  // A socket file left by a previous run would make listen fail with EADDRINUSE.
  if (isUnix && existsSync(address) && statSync(address).isSocket()) unlinkSync(address);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve({ server, close: () => new Promise((r) => server.close(() => r())) });
    };
    if (isUnix) {
      server.listen(address, done);
    } else {
      const m = /^(?:(.*):)?(\d+)$/.exec(address);
      if (!m) return reject(new Error(`not a FastCGI listen address: "${address}" (want a socket path or [host:]port)`));
      server.listen(Number(m[2]), m[1] || '127.0.0.1', done);
    }
  });
}
