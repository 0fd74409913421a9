// Shared plumbing for the integration suites: a bridge in front of a private php-fpm, raw HTTP
// clients (node:http and plain sockets), a recording logger. Not a test file itself.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { FcgiClient } from '../../src/fastcgi/client.ts';
import { listen } from '../../src/index.ts';
import type { BridgeOptions } from '../../src/bridge/options.ts';
import type { AccessEntry, Logger } from '../../src/log/logger.ts';

export const FIXTURES = fileURLToPath(new URL('../../php/fixtures', import.meta.url));

export type Running = Awaited<ReturnType<typeof listen>>;

/** A bridge on a free port of 127.0.0.1 (listen port 0). */
export function startBridge(options: Omit<BridgeOptions, 'root'> & { root?: string }): Promise<Running> {
  return listen({ root: FIXTURES, ...options, listen: '127.0.0.1:0' });
}

/** Our FastCGI client on its own, to `socket`: 4 connections, long timeouts (the tests bound their own time). */
export function fcgiClient(socket: string): FcgiClient {
  return new FcgiClient({
    address: { kind: 'unix', path: socket },
    maxConnections: 4,
    maxQueue: 100,
    queueTimeoutMs: 60_000,
    connectTimeoutMs: 5_000,
    responseTimeoutMs: 60_000,
    idleTimeoutMs: 60_000,
  });
}

export interface Reply {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  /** [name, value, name, value...] as received, repeated names kept. */
  rawHeaders: string[];
  body: Buffer;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string | string[]> | string[];
  body?: Buffer | string;
  /** Opt out of the Host header node:http adds (then give one in `headers`). */
  setHost?: boolean;
}

/** One request through node:http, no redirects followed, body collected. */
export function request(port: number, path: string, opts: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        setHost: opts.setHost ?? true,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? '',
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

export interface RawReply {
  /** Everything the server sent, as latin1 text. */
  text: string;
  status: number;
  head: string;
  body: Buffer;
}

/**
 * Writes `head` (request line and headers, CRLF-terminated lines, no final blank line needed) on a
 * plain socket exactly as given, so no client can normalise the target, and reads until the server
 * closes. `Connection: close` is added.
 */
export function rawRequest(port: number, head: string, body?: Buffer): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      const headText = all.toString('latin1', 0, end < 0 ? all.length : end);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(headText);
      const rawBody = end < 0 ? Buffer.alloc(0) : all.subarray(end + 4);
      resolve({
        text: all.toString('latin1'),
        status: m ? Number(m[1]) : 0,
        head: headText,
        body: /^transfer-encoding: *chunked/im.test(headText) ? dechunk(rawBody) : rawBody,
      });
    });
    const lines = head.replace(/(\r\n)+$/, '');
    sock.write(`${lines}\r\nConnection: close\r\n\r\n`, 'latin1');
    if (body) sock.write(body);
  });
}

/** Decodes a chunked body (no trailers expected). */
function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', pos);
    if (eol < 0) throw new Error('truncated chunked body');
    const size = parseInt(data.toString('latin1', pos, eol), 16);
    if (Number.isNaN(size)) throw new Error('bad chunk size');
    if (size === 0) return Buffer.concat(out);
    out.push(data.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
}

export function md5(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

/** The pattern big.php streams: byte i is i % 251. */
export function bigPatternMd5(bytes: number): string {
  const period = Buffer.alloc(251 * 4096);
  for (let i = 0; i < period.length; i++) period[i] = i % 251;
  const hash = createHash('md5');
  for (let off = 0; off < bytes; off += period.length) hash.update(period.subarray(0, Math.min(period.length, bytes - off)));
  return hash.digest('hex');
}

export interface RecordingLogger extends Logger {
  accessLog: AccessEntry[];
  stderr: Array<{ method: string; url: string; line: string }>;
  errors: Array<{ message: string; err: unknown }>;
  warnings: string[];
}

export function recordingLogger(): RecordingLogger {
  const log: RecordingLogger = {
    accessLog: [],
    stderr: [],
    errors: [],
    warnings: [],
    access(entry) {
      log.accessLog.push(entry);
    },
    phpStderr(method, url, line) {
      log.stderr.push({ method, url, line });
    },
    info() {},
    warn(message) {
      log.warnings.push(message);
    },
    error(message, err) {
      log.errors.push({ message, err });
    },
  };
  return log;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` until it holds or `timeoutMs` passes. */
export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Samples this process's RSS every 5 ms while `run` runs; returns its result and the peak growth. */
export async function withRssPeak<T>(run: () => Promise<T>): Promise<{ result: T; baseline: number; peakGrowth: number }> {
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  try {
    const result = await run();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, baseline, peakGrowth: peak - baseline };
  } finally {
    clearInterval(timer);
  }
}

export const MiB = 1024 * 1024;

type Gc = (options?: { type: 'major' | 'minor'; execution: 'sync' }) => void;
let gcFunction: Gc | undefined;

/** V8's gc(), exposed on first use (the flag only affects contexts made after it: a new one here). */
export function gc(options?: { type: 'major' | 'minor'; execution: 'sync' }): void {
  if (!gcFunction) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as Gc;
  }
  gcFunction(options);
}

/** Bytes this process's heap and buffers hold after a full GC: what is kept, garbage aside. */
export function heldAfterFullGc(): number {
  gc({ type: 'major', execution: 'sync' });
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Is a process alive (signal 0)? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Direct children of `pid` (Linux /proc), zombies aside: a php-fpm master's workers. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z') out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}
