// Process plumbing for scripts/bench: start servers, wait until they listen, stop them, find binaries.
//
// Every server is spawned in its own process group (detached), so that stopping it reaches nginx's and
// php-fpm's workers too, and its group id is appended to $BENCH_TMP/pgids: if this process dies without
// cleaning up (even SIGKILL), the EXIT trap of scripts/bench kills those groups.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { canConnect } from '../src/fpm/wait-socket.ts';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Proc {
  name: string;
  pid: number;
  /** Resolves once the process (group leader) has exited. */
  stop(): Promise<void>;
  /** From the spawn to the first accepted connection (polled every `pollMs` of startServer), for servers started here. */
  listenMs?: number;
}

const live = new Set<ChildProcess>();

/** The bench's temp dir: made by scripts/bench (removed by its EXIT trap). */
export function benchTmp(): string {
  const dir = process.env.BENCH_TMP;
  if (!dir || !existsSync(dir)) throw new Error('BENCH_TMP is not set: run the bench as `bash scripts/bench`');
  return dir;
}

/** Spawns `cmd` in its own process group; stdout+stderr go to `<tmp>/<name>.log`. */
export function startProcess(name: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): { child: ChildProcess; log: string } {
  const log = join(benchTmp(), `${name}.log`);
  const out = openSync(log, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out], env: env ?? process.env });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  appendFileSync(join(benchTmp(), 'pgids'), `${child.pid}\n`);
  live.add(child);
  child.once('exit', () => live.delete(child));
  return { child, log };
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // the group is gone already
  }
}

/** SIGTERM to the whole group, SIGKILL after `graceMs`; resolves when the leader has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (!exited(child)) {
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    signalGroup(child, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
    await done;
    clearTimeout(timer);
  }
  // Workers that outlived their master (rare) go too.
  signalGroup(child, 'SIGKILL');
}

/** Synchronous last resort on exit: only signals can be sent here. */
export function killAllNow(): void {
  for (const child of live) signalGroup(child, 'SIGTERM');
}

export function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

type Target = { path: string } | { host: string; port: number };

/** Polls until `target` accepts connections; fails early (with the log) if the process died. */
export async function waitForListen(name: string, child: ChildProcess, target: Target, log: string, timeoutMs = 15_000, pollMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited(child)) throw new Error(`${name} exited (code ${child.exitCode}) before listening; its log:\n${readLog(log)}`);
    if (await canConnect(target)) return;
    await sleep(pollMs);
  }
  throw new Error(`${name} did not listen within ${timeoutMs} ms; its log:\n${readLog(log)}`);
}

/** Starts a server and waits for it to listen; the returned Proc stops the whole group. */
export async function startServer(name: string, cmd: string, args: string[], target: Target, env?: NodeJS.ProcessEnv, pollMs = 20): Promise<Proc> {
  const spawned = performance.now();
  const { child, log } = startProcess(name, cmd, args, env);
  try {
    await waitForListen(name, child, target, log, 15_000, pollMs);
  } catch (err) {
    await stopProcess(child);
    throw err;
  }
  return { name, pid: child.pid!, stop: () => stopProcess(child), listenMs: performance.now() - spawned };
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('freePort: no port'))));
    });
  });
}

// ---------------------------------------------------------------- binaries

function isExecutable(p: string): boolean {
  try {
    return statSync(p).isFile() && (statSync(p).mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** `name` on PATH or in the sbin dirs (root's tools live there and PATH may lack them). */
export function findBinary(...names: string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'].filter(Boolean);
  for (const name of names) {
    for (const dir of dirs) {
      const p = join(dir, name);
      if (isExecutable(p)) return p;
    }
  }
  return undefined;
}

export function requireBinary(what: string, ...names: string[]): string {
  const bin = findBinary(...names);
  if (!bin) throw new Error(`${what} is missing (looked for ${names.join(', ')}); run: bash scripts/install-php-fpm --with-bench`);
  return bin;
}

/** Peak and current resident set (KiB) of `pid`, from /proc. */
export function memoryKiB(pid: number): { hwm: number; rss: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { hwm: field('VmHWM'), rss: field('VmRSS') };
  } catch {
    return null;
  }
}

/**
 * CPU time (user + system, in ms) of `pid` and its direct children (the --workers primary and its
 * workers), from /proc; null off Linux. Children that exited meanwhile are not counted.
 */
export function cpuMs(pid: number): number | null {
  const ticksPerMs = 100 / 1000; // USER_HZ is 100 on Linux
  const read = (p: string): { ppid: number; ticks: number } | null => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
    } catch {
      return null;
    }
  };
  const own = read(String(pid));
  if (!own) return null;
  let ticks = own.ticks;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = read(entry);
    if (s && s.ppid === pid) ticks += s.ticks;
  }
  return ticks / ticksPerMs;
}
