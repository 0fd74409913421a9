// wrk runs and the correctness check that precedes them, for scripts/bench.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { Agent as TlsAgent, request as tlsRequest } from 'node:https';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { benchTmp, findBinary, requireBinary } from './bench-procs.ts';

export const WRK_THREADS = 1;
export const WRK_CONNECTIONS = 16;
/** wrk gets core 1 to itself when there are two or more cores; the servers stay free to use any. */
const PIN = findBinary('taskset') && availableParallelism() > 1 ? ['taskset', '-c', '1'] : [];

export interface Request {
  method: 'GET' | 'POST';
  path: string;
  /** POST body size in bytes. */
  bodyBytes?: number;
  /** wrk on any core, not pinned: for multi-process fronts, which need both cores (wrk then shares them). */
  unpinned?: boolean;
  /** Request headers (Accept-Encoding for the compression case). */
  headers?: Record<string, string>;
  /** HTTPS (a self-signed certificate: the check does not verify it). */
  tls?: boolean;
  /**
   * HTTP/2 over TLS, driven by h2load (nghttp2-client) instead of wrk, which speaks only HTTP/1.1:
   * one connection with 16 concurrent streams, as browsers multiplex one connection.
   */
  h2?: boolean;
  /**
   * Each connection waits this long on average before its next request (wrk's delay(), not counted
   * in the latency): an offered load below saturation, the same for every front of the case.
   */
  paceMs?: number;
}

export interface Expect {
  status: number;
  /** Exact body, or only its length. */
  body?: string;
  length?: number;
  /** The Content-Encoding the answer must have. */
  encoding?: string;
}

export interface WrkResult {
  rps: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
  /** wrk's breakdown: connect, read, write, timeout. */
  socket: { connect: number; read: number; write: number; timeout: number };
}

/** The wrk command line (shown in the report, so anyone can re-run one case by hand). */
export function wrkArgs(url: string, seconds: number, req: Request): string[] {
  const args = [...(req.unpinned ? [] : PIN), 'wrk', `-t${WRK_THREADS}`, `-c${WRK_CONNECTIONS}`, `-d${seconds}s`, '--latency'];
  if (req.method === 'POST' || req.paceMs) args.push('-s', luaScript(req));
  for (const [name, value] of Object.entries(req.headers ?? {})) args.push('-H', `${name}: ${value}`);
  return [...args, url];
}

export async function runWrk(url: string, seconds: number, req: Request): Promise<WrkResult> {
  const [cmd, ...args] = wrkArgs(url, seconds, req);
  if (cmd === 'wrk') requireBinary('wrk', 'wrk');
  const out = await new Promise<string>((resolve, reject) => {
    execFile(cmd!, args, { timeout: (seconds + 30) * 1000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`wrk failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
  return parseWrk(out);
}

/** Runs the case's load: wrk, or h2load for an HTTP/2 case. */
export function runLoad(url: string, seconds: number, req: Request): Promise<WrkResult> {
  return req.h2 ? runH2load(url, seconds, req) : runWrk(url, seconds, req);
}

/** The h2load command line: one connection, as many streams at once as wrk has connections, pinned as wrk is. */
export function h2loadArgs(url: string, seconds: number, req: Request, logFile: string): string[] {
  return [...(req.unpinned ? [] : PIN), 'h2load', '-c1', `-m${WRK_CONNECTIONS}`, `-D${seconds}`, `--log-file=${logFile}`, ...Object.entries(req.headers ?? {}).flatMap(([n, v]) => ['-H', `${n}: ${v}`]), url];
}

let h2Runs = 0;
export async function runH2load(url: string, seconds: number, req: Request): Promise<WrkResult> {
  const logFile = join(benchTmp(), `h2load-${++h2Runs}.tsv`);
  const [cmd, ...args] = h2loadArgs(url, seconds, req, logFile);
  requireBinary('h2load (Debian: nghttp2-client)', 'h2load');
  const out = await new Promise<string>((resolve, reject) => {
    execFile(cmd!, args, { timeout: (seconds + 30) * 1000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`h2load failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
  return parseH2load(out, readFileSync(logFile, 'utf8'));
}

/**
 * Reads h2load's summary (req/s, requests done, failed and errored, status classes) and its
 * --log-file (a line per request: start time, status, duration in µs) for the p99, which the summary
 * does not give.
 */
export function parseH2load(out: string, log: string): WrkResult {
  const rps = Number(/^finished in [\d.]+m?s, ([\d.]+) req\/s/m.exec(out)?.[1]);
  const counts = /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(out);
  const statuses = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m.exec(out);
  if (!Number.isFinite(rps) || !counts || !statuses) throw new Error(`could not parse h2load's output:\n${out}`);
  const durations = log
    .split('\n')
    .map((line) => Number(line.split('\t')[2]))
    .filter((us) => Number.isFinite(us) && us > 0)
    .sort((a, b) => a - b);
  if (durations.length === 0) throw new Error('h2load logged no request');
  const p99Us = durations[Math.min(durations.length - 1, Math.ceil(durations.length * 0.99) - 1)]!;
  const [failed, errored, timeout] = [counts[5], counts[6], counts[7]].map(Number) as [number, number, number];
  return {
    rps,
    p99Ms: p99Us / 1000,
    requests: Number(counts[3]),
    non2xx: Number(statuses[2]) + Number(statuses[3]) + Number(statuses[4]),
    socketErrors: failed + errored + timeout,
    socket: { connect: 0, read: errored, write: failed, timeout },
  };
}

/** Reads Requests/sec, the 99% line of --latency, the error counts, from wrk's text output. */
export function parseWrk(out: string): WrkResult {
  const rps = Number(/^Requests\/sec:\s+([\d.]+)/m.exec(out)?.[1]);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
  const requests = Number(/^\s+(\d+) requests in/m.exec(out)?.[1]);
  if (!Number.isFinite(rps) || !p99 || !Number.isFinite(requests)) throw new Error(`could not parse wrk's output:\n${out}`);
  const unitMs = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[p99[2] as 'us' | 'ms' | 's' | 'm'];
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const [connect, read, write, timeout] = socket ? socket.slice(1).map(Number) : [0, 0, 0, 0];
  const counts = { connect: connect!, read: read!, write: write!, timeout: timeout! };
  const socketErrors = counts.connect + counts.read + counts.write + counts.timeout;
  return {
    rps,
    p99Ms: Number(p99[1]) * unitMs,
    requests,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors,
    socket: counts,
  };
}

/** A wrk Lua script: a POST of `bodyBytes` bytes (wrk adds Content-Length itself), a pause between requests. */
function luaScript(req: Request): string {
  const lines: string[] = [];
  if (req.method === 'POST') {
    const bytes = req.bodyBytes ?? 0;
    lines.push('wrk.method = "POST"', `wrk.body = string.rep("a", ${bytes})`, 'wrk.headers["Content-Type"] = "application/octet-stream"');
  }
  // A random pause (0 to twice the mean, whole ms) so that the connections do not fall into step.
  if (req.paceMs) lines.push(`function delay() return math.random(0, ${2 * req.paceMs}) end`);
  const file = join(benchTmp(), `${req.method.toLowerCase()}-${req.bodyBytes ?? 0}-pace-${req.paceMs ?? 0}.lua`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/**
 * Three requests in a row on one kept-alive connection (as wrk sends them), each with a matching
 * status and body, or a message saying what went wrong. The repeat matters: a front can answer its
 * first request right and then leave the connection (or its pooled php-fpm connection) broken.
 */
export async function check(port: number, req: Request, expect: Expect): Promise<string | null> {
  if (req.h2) {
    const session = http2Connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    try {
      return await threeInARow('on one h2 session', () => fetchOnceH2(session, req), expect);
    } finally {
      session.close();
    }
  }
  const agent = req.tls ? new TlsAgent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false }) : new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    return await threeInARow('on one connection', () => fetchOnce(agent, port, req), expect);
  } finally {
    agent.destroy();
  }
}

type Answer = { status: number; body: Buffer; encoding: string | undefined };

async function threeInARow(where: string, fetch: () => Promise<Answer>, expect: Expect): Promise<string | null> {
  for (let i = 1; i <= 3; i++) {
    let got: Answer;
    try {
      got = await fetch();
    } catch (err) {
      return `request ${i} of 3 ${where}: ${(err as Error).message}`;
    }
    const problem = mismatch(got, expect);
    if (problem) return `request ${i} of 3 ${where}: ${problem}`;
  }
  return null;
}

function mismatch({ status, body, encoding }: Answer, expect: Expect): string | null {
  const problems: string[] = [];
  if (expect.encoding !== undefined && encoding !== expect.encoding) problems.push(`Content-Encoding ${encoding ?? 'none'}, want ${expect.encoding}`);
  if (status !== expect.status) problems.push(`status ${status}, want ${expect.status}`);
  if (expect.body !== undefined && body.toString('latin1') !== expect.body) {
    problems.push(`body ${JSON.stringify(body.subarray(0, 60).toString('latin1'))}, want ${JSON.stringify(expect.body)}`);
  }
  if (expect.length !== undefined && body.length !== expect.length) problems.push(`body of ${body.length} bytes, want ${expect.length}`);
  return problems.length > 0 ? problems.join('; ') : null;
}

const CHECK_TIMEOUT_MS = 10_000;

function fetchOnce(agent: Agent, port: number, req: Request): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = req.method === 'POST' ? Buffer.alloc(req.bodyBytes ?? 0, 'a') : null;
    const r = (req.tls ? tlsRequest : request)(
      { host: '127.0.0.1', port, path: req.path, method: req.method, agent, headers: { ...req.headers, ...(payload ? { 'content-length': payload.length } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), encoding: res.headers['content-encoding'] }));
        res.on('error', reject);
      },
    );
    // A whole-request deadline (not an idle timeout): a stalled answer is what this looks for.
    const timer = setTimeout(() => r.destroy(new Error(`no complete answer within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS);
    r.on('close', () => clearTimeout(timer));
    r.on('error', reject);
    r.end(payload ?? undefined);
  });
}

/** One request of an HTTP/2 case on `session`. */
function fetchOnceH2(session: ClientHttp2Session, req: Request): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = req.method === 'POST' ? Buffer.alloc(req.bodyBytes ?? 0, 'a') : null;
    const stream = session.request({ ':method': req.method, ':path': req.path, ...req.headers });
    const timer = setTimeout(() => stream.destroy(new Error(`no complete answer within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS);
    let status = 0;
    let encoding: string | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      encoding = h['content-encoding'] as string | undefined;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status, body: Buffer.concat(chunks), encoding }));
    stream.on('close', () => clearTimeout(timer));
    stream.on('error', reject);
    stream.end(payload ?? undefined);
  });
}
