// --watch through the real CLI (tsx loader, spawned php-fpm): an app in a temp folder is edited while
// the bridge runs. New code serves without a restart (php-fpm and the socket stay), a broken file is
// reported once while the last good app keeps serving, in-flight requests finish on the old code,
// and stack traces name the .ts lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { findPhpFpm } from '../helpers/php-fpm.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO, 'scripts/fpm-bridge.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The app: its answer comes from a local module, so a reload must reach the app's own imports. */
const APP = (extra = '') => `import type { IncomingMessage, ServerResponse } from 'node:http';
import { message } from './message.ts';

export default async function app(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const answer = message();
  if (url.pathname === '/slow') await new Promise((r) => setTimeout(r, 800));
  if (url.pathname === '/boom') {
    throw new Error('boom from the app');
  }
  if (url.pathname === '/hello' || url.pathname === '/slow') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(answer);
    return;
  }
  res.writeHead(404);
  res.end();
}
${extra}`;
/** Line of the throw in APP (1-based): the stack must name it. */
const THROW_LINE = APP().split('\n').findIndex((l) => l.includes("throw new Error('boom")) + 1;
const MESSAGE = (text: string) => `export const message = (): string => ${JSON.stringify(text)};\n`;

interface Cli {
  child: ChildProcess;
  url: string;
  fpmPid: number;
  stderr(): string;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();
const dirs: string[] = [];

async function startCli(args: string[]): Promise<Cli> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stdout!.resume();
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (running.delete(child), resolve(code))));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const url = /(http:\/\/\S+)/.exec(stderr)?.[1];
    const pid = /spawned: \d+ workers, pid (\d+)/.exec(stderr)?.[1];
    if (url && pid && stderr.includes('Ctrl-C')) return { child, url, fpmPid: Number(pid), stderr: () => stderr, exited };
    if (child.exitCode !== null) throw new Error(`fpm-bridge exited before its banner:\n${stderr}`);
    if (Date.now() > deadline) throw new Error(`no banner within 15 s:\n${stderr}`);
    await sleep(20);
  }
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text() };
}

/** Polls `url` until its body is `body`; returns how long that took. */
async function until(url: string, body: string, timeoutMs = 5_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const r = await get(url);
    if (r.body === body) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`${url} still answers ${r.status} ${JSON.stringify(r.body)}, not ${JSON.stringify(body)}`);
    await sleep(10);
  }
}

async function untilMatch(url: string, pattern: RegExp, timeoutMs = 5_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    const r = await get(url);
    if (pattern.test(r.body)) return;
    if (Date.now() - started > timeoutMs) throw new Error(`${url} still answers ${r.status} ${JSON.stringify(r.body)}`);
    await sleep(10);
  }
}

const count = (text: string, what: string) => text.split(what).length - 1;

afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('--watch', () => {
  findPhpFpm(); // fails the suite, with an install hint, when php-fpm is missing

  // No package.json: Node 20 loads a bare .ts through require (tsx's CommonJS side); "type": "module": ESM.
  it.each(['no package.json', 'type module'])('reloads the app and its own imports on change; a broken file is reported once and the old app keeps serving (%s)', async (kind) => {
    const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-watch-'));
    dirs.push(dir);
    if (kind === 'type module') writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
    const app = join(dir, 'app.ts');
    writeFileSync(app, APP());
    writeFileSync(join(dir, 'message.ts'), MESSAGE('v1'));
    const cli = await startCli(['--root', 'php/demo/public', '--app', app, '--watch', '--listen', '127.0.0.1:0']);
    expect(cli.stderr()).toMatch(/app +\S*app\.ts +\(--watch/);
    const hello = `${cli.url}hello`;
    expect(await get(hello)).toEqual({ status: 200, body: 'v1' });

    // A change in a module the app imports: the new code serves, no restart.
    writeFileSync(join(dir, 'message.ts'), MESSAGE('v2'));
    const latency = await until(hello, 'v2');
    expect(cli.stderr()).toMatch(/app reloaded in \d+ ms \(\S*message\.ts changed\)/);

    // In flight during a reload: finishes on the code it started with.
    const slow = get(`${cli.url}slow`);
    await sleep(100);
    writeFileSync(join(dir, 'message.ts'), MESSAGE('v3'));
    await until(hello, 'v3');
    expect(await slow).toEqual({ status: 200, body: 'v2' });

    // A syntax error: logged once with file:line, the last good app keeps serving.
    const broken = APP().replace('const answer = message();', 'const answer = message(;');
    writeFileSync(app, broken);
    const deadline = Date.now() + 5_000;
    while (!cli.stderr().includes('app reload failed') && Date.now() < deadline) await sleep(20);
    expect(cli.stderr()).toMatch(/app reload failed \(\S*app\.ts changed\); the last good app \(loaded [^)]*\) keeps serving/);
    expect(cli.stderr()).toMatch(new RegExp(`app\\.ts:\\d+:\\d+: `));
    expect(await get(hello)).toEqual({ status: 200, body: 'v3' });
    writeFileSync(app, broken); // saved again, same error: not repeated
    await sleep(400);
    expect(count(cli.stderr(), 'app reload failed')).toBe(1);
    expect(await get(hello)).toEqual({ status: 200, body: 'v3' });

    // Fixed: the new code serves, and the log says the error is gone.
    writeFileSync(join(dir, 'message.ts'), MESSAGE('v4'));
    writeFileSync(app, APP('// fixed\n'));
    await until(hello, 'v4');
    expect(cli.stderr()).toMatch(/app reloaded in \d+ ms \([^)]*\): the error is fixed/);

    // A throw in the .ts app: the 500's log line names the .ts line (source maps), after reloads too.
    expect((await get(`${cli.url}boom`)).status).toBe(500);
    await sleep(100);
    expect(cli.stderr()).toContain('boom from the app');
    expect(cli.stderr()).toMatch(new RegExp(`app\\.ts:${THROW_LINE}:\\d+`));

    // PHP went on being served by the same php-fpm, on the same socket.
    expect((await get(cli.url)).status).toBe(200);
    expect(() => process.kill(cli.fpmPid, 0)).not.toThrow();
    expect(cli.stderr()).not.toMatch(/php-fpm: restarted/);

    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    console.info(`--watch (${kind}): a change served ${latency} ms after the write (debounce 100 ms)`);
  });

  it('the demo (a temp copy of php/demo): editing app.ts is served without a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-demo-'));
    dirs.push(dir);
    cpSync(join(REPO, 'php/demo'), dir, { recursive: true });
    const app = join(dir, 'app.ts');
    const cli = await startCli(['--root', join(dir, 'public'), '--app', app, '--watch', '--listen', '127.0.0.1:0']);
    expect((await get(`${cli.url}hello`)).body).toMatch(/^Hello from the TypeScript app!/);
    writeFileSync(app, readFileSync(app, 'utf8').replace('Hello from the TypeScript app!', 'Hello from the edited app!'));
    await untilMatch(`${cli.url}hello`, /^Hello from the edited app!/);
    // PHP pages, and the fallback with PHP's 404 body, as before.
    expect((await get(cli.url)).status).toBe(200);
    expect(await get(`${cli.url}packages/?name=nope`)).toEqual({ status: 404, body: 'Package nope does not exist\n' });
    // A change under the docroot is PHP's: no reload.
    writeFileSync(join(dir, 'public/extra.js'), '// static\n');
    await sleep(300);
    expect(count(cli.stderr(), 'app reloaded')).toBe(1);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  });

  it('source maps without --watch too: the 500 log names app.ts:<line>', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-watch-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
    writeFileSync(join(dir, 'app.ts'), APP());
    writeFileSync(join(dir, 'message.ts'), MESSAGE('v1'));
    const cli = await startCli(['--root', 'php/demo/public', '--app', join(dir, 'app.ts'), '--listen', '127.0.0.1:0']);
    expect((await get(`${cli.url}boom`)).status).toBe(500);
    await sleep(100);
    expect(cli.stderr()).toMatch(new RegExp(`Error: boom from the app\\n\\s+at app \\(\\S*app\\.ts:${THROW_LINE}:\\d+\\)`));
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  });

  it('--watch without --app is a usage error (exit 2)', async () => {
    const child = spawn(process.execPath, [CLI, '--watch'], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('--watch reloads the app: it needs --app');
  });
});
