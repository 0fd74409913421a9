// wrk runs and the correctness check that precedes them, for scripts/bench.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { Agent as TlsAgent, request as tlsRequest } from 'node:https';
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
  const agent = req.tls ? new TlsAgent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false }) : new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 1; i <= 3; i++) {
      let got: { status: number; body: Buffer; encoding: string | undefined };
      try {
        got = await fetchOnce(agent, port, req);
      } catch (err) {
        return `request ${i} of 3 on one connection: ${(err as Error).message}`;
      }
      const problem = mismatch(got, expect);
      if (problem) return `request ${i} of 3 on one connection: ${problem}`;
    }
    return null;
  } finally {
    agent.destroy();
  }
}

function mismatch({ status, body, encoding }: { status: number; body: Buffer; encoding: string | undefined }, expect: Expect): string | null {
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

function fetchOnce(agent: Agent, port: number, req: Request): Promise<{ status: number; body: Buffer; encoding: string | undefined }> {
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
