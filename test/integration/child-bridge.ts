// A bridge in a child process, run by the real CLI: for what can only be measured from outside the
// process (its RSS, its open file descriptors, its exit code and start-up messages).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO, 'scripts/fpm-bridge.mjs');

export interface ChildBridge {
  child: ChildProcess;
  pid: number;
  port: number;
  stdout(): string;
  stderr(): string;
  /** Resident memory of the bridge process now, in bytes (/proc/PID/status VmRSS). */
  rss(): number;
  /** Open file descriptors of the bridge process now, with what they point at. */
  fds(): string[];
  stop(): Promise<void>;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function launch(args: string[], env: NodeJS.ProcessEnv) {
  // The same flags as scripts/fpm-bridge, so what is measured is what runs in production.
  const child = spawn(process.execPath, ['--max-semi-space-size=2', CLI, ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (b: Buffer) => (out.stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out.stderr += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, out, exited };
}

/** Runs the CLI to its end (a start-up failure), killing it after `timeoutMs`. */
export async function runCliToEnd(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 15_000): Promise<ChildExit> {
  const { child, out, exited } = launch(args, env);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exit = await exited;
  clearTimeout(timer);
  return { ...exit, ...out };
}

/** Starts the CLI on a free port (`--listen 127.0.0.1:0`) and waits for its banner. */
export async function startChildBridge(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ChildBridge> {
  const { child, out, exited } = launch(['--listen', '127.0.0.1:0', ...args], env);
  const deadline = Date.now() + 20_000;
  let port = 0;
  while (!port) {
    const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out.stderr);
    if (m) port = Number(m[1]);
    else if (child.exitCode !== null || child.signalCode !== null) throw new Error(`fpm-bridge exited before its banner:\n${out.stderr}`);
    else if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`no banner within 20 s:\n${out.stderr}`);
    }
    else await new Promise((r) => setTimeout(r, 20));
  }
  const pid = child.pid!;
  return {
    child,
    pid,
    port,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024,
    fds: () =>
      readdirSync(`/proc/${pid}/fd`).map((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          return '';
        }
      }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
