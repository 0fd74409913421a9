import { lstatSync, renameSync, statSync, unlinkSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
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
 *
 * Two things node-fastcgi leaves to us:
 * - The response goes out only once stdin has been read to the end, as with php-fpm: an app that
 *   answers before reading the upload (a 401) otherwise made nginx lose the answer (an empty 200
 *   that hung, or a 502 on a reset while it still wrote).
 * - A FastCGI response has no room for a 1xx: early hints are dropped (the framing guard then
 *   requires a final status, app/response-framing.ts).
 */
export function serveAppOverFastCGI(listener: (req: IncomingMessage, res: ServerResponse) => void, address: string): Promise<FastCGIAppServer> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.writeEarlyHints = () => {};
    holdOutputUntilStdinRead(req);
    listener(req, res);
  });
  const isUnix = address.includes('/');
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      server.close();
      reject(err);
    };
    server.once('error', fail);
    if (isUnix) {
      listenUnix(server, address).then((close) => {
        server.off('error', fail);
        resolve({ server, close });
      }, fail);
    } else {
      const m = /^(?:(.*):)?(\d+)$/.exec(address);
      if (!m) return reject(new Error(`not a FastCGI listen address: "${address}" (want a socket path or [host:]port)`));
      server.listen(Number(m[2]), m[1] || '127.0.0.1', () => {
        server.off('error', fail);
        resolve({ server, close: () => new Promise((r) => server.close(() => r())) });
      });
    }
  });
}

/**
 * php-fpm reads the whole of stdin before its script answers; nginx counts on that: once a response
 * header arrives it stops sending the request body, and an upstream that waits for the rest of the
 * body then never finishes (the empty 200s that hung, the 502s on a reset). So the app's output is
 * held in memory until the last stdin record has arrived (write callbacks are called at once, so an
 * app waiting for 'drain' before it reads cannot deadlock), and a response that ends before that
 * ends the FastCGI request only once stdin is read to the end, discarding what the app left.
 */
function holdOutputUntilStdinRead(req: IncomingMessage): void {
  const conn = req.socket as Duplex & { _stdinComplete?: boolean };
  if (conn._stdinComplete) return;
  const write = conn.write as (...a: unknown[]) => boolean;
  const end = conn.end as (...a: unknown[]) => Duplex;
  let held: unknown[][] = [];
  let endArgs: unknown[] | null = null;
  const release = () => {
    conn.write = write as Duplex['write'];
    conn.end = end as Duplex['end'];
    for (const args of held) write.apply(conn, args);
    held = [];
    if (endArgs) end.apply(conn, endArgs);
  };
  req.once('complete', release);
  conn.write = function (chunk: unknown, ...rest: unknown[]) {
    const cb = rest.find((a) => typeof a === 'function') as (() => void) | undefined;
    held.push([chunk, ...rest.filter((a) => typeof a === 'string')]);
    if (cb) process.nextTick(cb);
    return true;
  } as Duplex['write'];
  conn.end = function (...args: unknown[]) {
    endArgs = args;
    req.resume();
    return conn;
  } as Duplex['end'];
}

/**
 * Listens on a unix socket path the way nginx and php-fpm do: a live socket there (something accepts
 * a connection) is another instance's, and this one fails with EADDRINUSE instead of taking it over;
 * a stale one (connection refused) is replaced; a path that is not a socket is never removed. The new
 * socket is bound under a temporary name and renamed into place, and on close the path is removed
 * only if it still is this socket (not one another instance put there since).
 */
async function listenUnix(server: Server, path: string): Promise<() => Promise<void>> {
  let existing: ReturnType<typeof lstatSync> | undefined;
  try {
    existing = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existing && !existing.isSocket()) {
    throw Object.assign(new Error(`${path} exists and is not a socket: not replacing it`), { code: 'EEXIST' });
  }
  if (existing) {
    const state = await probe(path);
    if (state === 'live') throw Object.assign(new Error(`another process is already serving on ${path} (it accepts connections)`), { code: 'EADDRINUSE' });
    if (state !== 'stale') throw Object.assign(new Error(`cannot tell whether ${path} is in use (${state}): not replacing it`), { code: 'EADDRINUSE' });
  }
  const temp = `${path}.${process.pid}.tmp`;
  try {
    unlinkSync(temp);
  } catch {
    // not there
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(temp, () => {
      server.off('error', reject);
      resolve();
    });
  });
  renameSync(temp, path);
  const ino = statSync(path).ino;
  return () =>
    new Promise((resolve) => {
      try {
        if (statSync(path).ino === ino) unlinkSync(path);
      } catch {
        // already gone
      }
      // Node removes the temporary name it bound, which no longer exists.
      server.close(() => resolve());
    });
}

/** 'live' when something accepts on the socket, 'stale' when nothing listens there, else the error code. */
function probe(path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.setTimeout(2_000, () => {
      socket.destroy();
      resolve('no answer within 2 s');
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve('live');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve(err.code === 'ECONNREFUSED' ? 'stale' : (err.code ?? err.message));
    });
  });
}
