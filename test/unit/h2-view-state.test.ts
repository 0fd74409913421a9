// The h2 view's response reports its state as Node's HTTP/1 response does: the same handler runs on a
// real node:http server and behind http1View on a real node:http2 server, and what it reads from
// `res` at each step must be the same on both.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, constants, createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http1View } from '../../src/http/h2-compat.ts';
import { localCredentials, type ServerCredentials } from '../../src/tls/local-ca.ts';

type Log = Array<[string, unknown]>;

const state = (res: ServerResponse) => ({
  headersSent: res.headersSent,
  writableEnded: res.writableEnded,
  finished: res.finished,
  writableFinished: res.writableFinished,
  destroyed: res.destroyed,
  writableLength: typeof res.writableLength,
});

/** Runs one request's script and logs what `res` says; `done` resolves once the response closed. */
function handler(logs: Map<string, { log: Log; done: Promise<void> }>) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const log: Log = [];
    const done = new Promise<void>((resolve) => {
      res.once('finish', () => log.push(['finish', state(res)]));
      res.once('close', () => {
        log.push(['close', state(res)]);
        resolve();
      });
    });
    logs.set(req.url!, { log, done });
    log.push(['start', state(res)]);
    res.setHeader('x-a', '1');
    res.writeHead(200, { 'content-type': 'text/plain' });
    log.push(['head', state(res)]);
    try {
      res.setHeader('x-b', '2');
      log.push(['late setHeader', 'allowed']);
    } catch (err) {
      log.push(['late setHeader', (err as NodeJS.ErrnoException).code]);
    }
    res.write('a');
    if (req.url === '/reset') return; // left open: the client goes away
    res.end('b');
    log.push(['end', { headersSent: res.headersSent, writableEnded: res.writableEnded, finished: res.finished, destroyed: res.destroyed }]);
  };
}

let dir: string;
let creds: ServerCredentials;
const h1Logs = new Map<string, { log: Log; done: Promise<void> }>();
const h2Logs = new Map<string, { log: Log; done: Promise<void> }>();
let h1: Server;
let h2: Http2SecureServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'h2-view-state-'));
  creds = await localCredentials(join(dir, 'ca'));
  h1 = createServer(handler(h1Logs));
  const h2Handler = handler(h2Logs);
  h2 = createSecureServer({ cert: creds.cert, key: creds.key }, (req2, res2) => {
    const { req, res } = http1View(req2, res2);
    h2Handler(req, res);
  });
  h1.listen(0, '127.0.0.1');
  h2.listen(0, '127.0.0.1');
  await Promise.all([once(h1, 'listening'), once(h2, 'listening')]);
});

afterAll(async () => {
  h1.closeAllConnections();
  await Promise.all([new Promise((r) => h1.close(r)), new Promise((r) => h2.close(r))]);
  rmSync(dir, { recursive: true, force: true });
});

async function overH1(path: string, reset: boolean): Promise<Log> {
  const req = request({ host: '127.0.0.1', port: (h1.address() as AddressInfo).port, path, agent: false });
  const [res] = (await Promise.race([once(req.end(), 'response'), new Promise((_, no) => setTimeout(() => no(new Error('no h1 response')), 5000))])) as [IncomingMessage];
  if (reset) {
    await once(res, 'data');
    req.destroy();
  } else {
    res.resume();
    await once(res, 'end');
  }
  await h1Logs.get(path)!.done;
  return h1Logs.get(path)!.log;
}

async function overH2(path: string, reset: boolean): Promise<Log> {
  const session = connect(`https://localhost:${(h2.address() as AddressInfo).port}`, { ca: creds.ca });
  try {
    const stream = session.request({ ':path': path });
    await once(stream, 'response');
    if (reset) {
      await once(stream, 'data');
      stream.close(constants.NGHTTP2_CANCEL);
    } else {
      stream.resume();
      await once(stream, 'end');
    }
    await h2Logs.get(path)!.done;
    return h2Logs.get(path)!.log;
  } finally {
    session.close();
  }
}

describe('the h2 view reports its response state as HTTP/1.1 does', () => {
  it('through a whole response: head sent, setHeader after it refused, ended, finished, then closed', async () => {
    const one = await overH1('/whole', false);
    const two = await overH2('/whole', false);
    expect(two).toEqual(one);
    // What the comparison rests on, spelled out.
    expect(Object.fromEntries(two)).toMatchObject({
      start: { headersSent: false, writableEnded: false, destroyed: false },
      head: { headersSent: true, writableEnded: false },
      'late setHeader': 'ERR_HTTP_HEADERS_SENT',
      end: { writableEnded: true, finished: true, destroyed: false },
      finish: { writableFinished: true, destroyed: false },
      // Node's HTTP/1.1 response is destroyed once closed, finished or not.
      close: { writableFinished: true, destroyed: true },
    });
  });

  it("when the client goes away mid-response: destroyed, never finished (Node's compat response says 'finish')", async () => {
    const one = await overH1('/reset', true);
    const two = await overH2('/reset', true);
    expect(two).toEqual(one);
    expect(Object.fromEntries(two)).toMatchObject({ close: { writableFinished: false, destroyed: true, writableEnded: false } });
    expect(two.some(([step]) => step === 'finish')).toBe(false);
  });
});
