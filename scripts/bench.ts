// fpm-bridge's benchmark against the fronts it replaces (nginx, `php -S`, Caddy, the seed's nginx setup).
// Run it through `bash scripts/bench` (it installs what is missing and owns the temp dir); see --help.
//
// How it measures: one php-fpm pool (pm = static, 4 workers, opcache on) shared by every FastCGI front;
// each front is checked (status + body) before it is measured; wrk -t1 -c16 on loopback, pinned to one
// core; every round measures every front once (rounds interleave, so drift hits all fronts alike), and
// the report shows medians over rounds.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildSync } from 'esbuild';
import {
  bridgeFront, caddyFront, nginxFront, persistentFront, startNodeHello, startPhpFpm, startPhpS,
  type Backends, type Front, type Paths, type Running,
} from './bench-fronts.ts';
import { benchTmp, cpuMs, findBinary, freePort, killAllNow, memoryKiB, sleep, startServer, type Proc } from './bench-procs.ts';
import { cpuLines, goalsTable, key, memoryLines, resultsTable, type Case, type Results, type SlowClientReport } from './bench-report.ts';
import { slowClient } from './bench-slow-client.ts';
import { check, h2loadArgs, runLoad, runWrk, wrkArgs, WRK_CONNECTIONS, WRK_THREADS, type Request } from './bench-wrk.ts';

const HELP = `usage: bash scripts/bench [--quick] [--rounds N] [--duration S] [--warmup S] [--cases a,b] [--nginx-workers N|auto] [--no-slow-client]

  --quick              smoke test: 1 round x 2 s (warm-up 1 s), the slow-client check for 2 s
  --rounds N           interleaved rounds (default 3; env BENCH_ROUNDS)
  --duration S         seconds of wrk per front and case per round (default 5; env BENCH_DURATION)
  --warmup S           seconds of unmeasured wrk before each measurement (default 1; env BENCH_WARMUP)
  --cases a,b          only these cases: hello,1mib,static,post,php404,app,claim,gzip,https,h2,shadow,cpu,static-w,ledger
  --nginx-workers N    nginx worker_processes (default auto, as in Debian's nginx.conf; env BENCH_NGINX_WORKERS)
  --no-slow-client     skip the 1 GiB slow-client check
The report is printed and written to .tmp/bench-<date>.md.`;

const FPM_WORKERS = 4;
const MiB = 1048576;

interface Options {
  rounds: number;
  duration: number;
  warmup: number;
  cases: string[] | null;
  nginxWorkers: string;
  slowClientSeconds: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      cases: { type: 'string' },
      'nginx-workers': { type: 'string' },
      'no-slow-client': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP + '\n');
    process.exit(0);
  }
  const whole = (name: string, v: string | undefined, fallback: number): number => {
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`--${name} wants a whole number ≥ 1, got "${v}"`);
    return Number(v);
  };
  const env = process.env;
  const quick = Boolean(values.quick);
  return {
    rounds: whole('rounds', values.rounds ?? env.BENCH_ROUNDS, quick ? 1 : 3),
    duration: whole('duration', values.duration ?? env.BENCH_DURATION, quick ? 2 : 5),
    warmup: whole('warmup', values.warmup ?? env.BENCH_WARMUP, 1),
    cases: values.cases ? checkedCases(values.cases) : null,
    nginxWorkers: values['nginx-workers'] ?? env.BENCH_NGINX_WORKERS ?? 'auto',
    slowClientSeconds: values['no-slow-client'] ? 0 : quick ? 2 : 5,
  };
}

const CASE_IDS = ['hello', '1mib', 'static', 'post', 'php404', 'app', 'claim', 'gzip', 'https', 'h2', 'shadow', 'cpu', 'static-w', 'ledger'];

function checkedCases(list: string): string[] {
  const ids = list.split(',');
  const unknown = ids.filter((id) => !CASE_IDS.includes(id));
  if (unknown.length > 0) throw new Error(`--cases: unknown ${unknown.join(', ')} (known: ${CASE_IDS.join(',')})`);
  return ids;
}

// ---------------------------------------------------------------- what is measured

function buildCases(has: (front: string) => boolean): Case[] {
  const hello = { status: 200, body: 'Hello from PHP' };
  const app = { status: 200, body: 'hello from app' };
  const cases: Case[] = [
    {
      id: 'hello', title: 'PHP hello', req: { method: 'GET', path: '/hello.php' }, baseline: 'nginx',
      rows: [
        { front: 'nginx', label: 'nginx → php-fpm (fastcgi_pass)', expect: hello },
        { front: 'nginx-keepalive', label: 'nginx, fastcgi_keep_conn + keepalive', expect: hello },
        { front: 'php-s', label: 'php -S', expect: hello },
        { front: 'caddy', label: 'Caddy php_fastcgi', expect: hello },
        { front: 'bridge', label: 'fpm-bridge', expect: hello },
      ],
    },
    {
      id: '1mib', title: 'PHP 1 MiB response', req: { method: 'GET', path: '/1m.php' }, baseline: 'nginx',
      rows: ['nginx', 'nginx-keepalive', 'php-s', 'caddy', 'bridge'].map((front) => ({ front, label: LABELS[front]!, expect: { status: 200, length: MiB } })),
    },
    {
      id: 'static', title: '4 KiB static file', req: { method: 'GET', path: '/4k.txt' }, baseline: 'nginx',
      rows: ['nginx', 'php-s', 'caddy', 'bridge'].map((front) => ({ front, label: LABELS[front]!, expect: { status: 200, length: 4096 } })),
    },
    {
      id: 'post', title: 'POST 1 MiB body to PHP', req: { method: 'POST', path: '/post.php', bodyBytes: MiB }, baseline: 'nginx',
      rows: ['nginx', 'nginx-keepalive', 'php-s', 'caddy', 'bridge'].map((front) => ({ front, label: LABELS[front]!, expect: { status: 200, body: String(MiB) } })),
    },
    {
      id: 'php404', title: 'PHP 404 → app fallback', req: { method: 'GET', path: '/notfound.php' }, baseline: 'nginx',
      rows: [
        { front: 'nginx', label: 'nginx → php-fpm, the plain 404 alone (reference)', expect: { status: 404, body: 'Package X does not exist' } },
        { front: 'nginx-seed', label: 'seed: nginx → php -S, proxy_next_upstream http_404 → Node', expect: app },
        { front: 'nginx-error-page', label: 'nginx fastcgi_intercept_errors + error_page 404 = @node', expect: app },
        { front: 'bridge', label: 'fpm-bridge → app', expect: app },
      ],
    },
    {
      id: 'app', title: 'no PHP script → app', req: { method: 'GET', path: '/app/hello' }, baseline: 'node',
      rows: [
        { front: 'node', label: 'bare Node http hello (the ceiling)', expect: app },
        { front: 'bridge', label: 'fpm-bridge → app', expect: app },
      ],
    },
    // A claimed route (issue 10): PHP has the script, the claim sends the request to the app first,
    // which answers it (the bench app ports hello.php). Compared with the no-script app path above.
    {
      id: 'claim', title: 'PHP hello, the route claimed by the app', req: { method: 'GET', path: '/hello.php' }, baseline: 'bridge',
      rows: [
        { front: 'bridge', label: 'fpm-bridge (PHP answers)', expect: hello },
        { front: 'bridge-claim', label: "fpm-bridge --claim 'GET /hello.php' (the app answers)", expect: hello },
      ],
    },
    {
      id: 'gzip', title: 'PHP 100 KiB HTML, gzip (level 5 on both)', req: { method: 'GET', path: '/page100k.php', headers: { 'Accept-Encoding': 'gzip' } }, baseline: 'nginx-gzip',
      rows: [
        { front: 'nginx-gzip', label: 'nginx gzip on (gzip_comp_level 5)', expect: { status: 200, encoding: 'gzip' } },
        { front: 'bridge', label: 'fpm-bridge (compression on by default)', expect: { status: 200, encoding: 'gzip' } },
        // Compression is CPU-bound: one process is one core, where nginx's two workers (auto) have two.
        { front: 'bridge-w2', label: 'fpm-bridge --workers 2 (two processes, as nginx has two workers)', expect: { status: 200, encoding: 'gzip' } },
      ],
    },
    {
      id: 'https', title: 'PHP hello over HTTPS (HTTP/1.1 over TLS; h2 offered)', req: { method: 'GET', path: '/hello.php', tls: true }, baseline: 'nginx-ssl',
      rows: [
        { front: 'nginx-ssl', label: 'nginx listen ssl http2', expect: hello },
        { front: 'bridge-tls', label: 'fpm-bridge --cert --key', expect: hello },
      ],
    },
    // The same over HTTP/2, as browsers speak HTTPS: wrk speaks only HTTP/1.1, so h2load drives it
    // (one connection, 16 streams at once). Skipped when h2load is not installed.
    {
      id: 'h2', title: 'PHP hello over HTTP/2 (h2load: one connection, 16 streams)', req: { method: 'GET', path: '/hello.php', tls: true, h2: true }, baseline: 'nginx-ssl',
      rows: [
        { front: 'nginx-ssl', label: 'nginx listen ssl http2', expect: hello },
        { front: 'bridge-tls', label: 'fpm-bridge --cert --key', expect: hello },
      ],
    },
    // --shadow (issue 10): the same PHP hello with every request shadowed (the app replayed beside it,
    // at most 4 at once, the rest skipped-busy), and with a tenth of them (`@0.1`, what a busy route
    // would use): what the client's p99 pays for it at the same load. The load is paced (each of wrk's
    // connections waits 3 ms between requests: about 5k req/s, a third of what the bridge serves
    // flat out), as the "the same load" asks: at saturation a closed loop would measure the
    // shadow's CPU as fewer req/s and a longer queue, not the delay a shadow adds to a client.
    {
      id: 'shadow', title: 'PHP hello, the route shadowed (paced load)', req: { method: 'GET', path: '/hello.php', paceMs: 3 }, baseline: 'bridge', paired: true,
      rows: [
        { front: 'bridge', label: 'fpm-bridge', expect: hello },
        { front: 'bridge-shadow', label: "fpm-bridge --shadow 'GET /hello.php' (every request)", expect: hello },
        { front: 'bridge-shadow-10', label: "fpm-bridge --shadow 'GET /hello.php @0.1' (a tenth)", expect: hello },
      ],
    },
    // --workers: the same front as one process and as two workers, wrk unpinned (it shares the two
    // cores with them; a 2-core machine cannot give each its own).
    {
      id: 'cpu', title: 'app route burning 1 ms CPU (wrk unpinned)', req: { method: 'GET', path: '/app/cpu', unpinned: true }, baseline: 'bridge',
      rows: [
        { front: 'bridge', label: 'fpm-bridge, one process', expect: app },
        { front: 'bridge-w2', label: 'fpm-bridge --workers 2', expect: app },
      ],
    },
    {
      id: 'static-w', title: '4 KiB static file (wrk unpinned)', req: { method: 'GET', path: '/4k.txt', unpinned: true }, baseline: 'bridge',
      rows: [
        { front: 'bridge', label: 'fpm-bridge, one process', expect: { status: 200, length: 4096 } },
        { front: 'bridge-w2', label: 'fpm-bridge --workers 2', expect: { status: 200, length: 4096 } },
      ],
    },
    // The ledger's cost (issue 10): the same bridge with --no-ledger and with the ledger, both on a
    // Node with node:sqlite, in one run.
    {
      id: 'ledger', title: 'PHP hello, ledger off vs on (A/B)', req: { method: 'GET', path: '/hello.php' }, baseline: 'bridge-ledger-off', paired: true,
      rows: [
        { front: 'bridge-ledger-off', label: 'fpm-bridge --no-ledger', expect: hello },
        { front: 'bridge-ledger-on', label: 'fpm-bridge --ledger FILE (a batch a second)', expect: hello },
      ],
    },
  ];
  const h2load = findBinary('h2load') !== undefined;
  return cases.filter((c) => h2load || !c.req.h2).map((c) => ({ ...c, rows: c.rows.filter((r) => has(r.front)) }));
}

const LABELS: Record<string, string> = {
  nginx: 'nginx → php-fpm (fastcgi_pass)',
  'nginx-keepalive': 'nginx, fastcgi_keep_conn + keepalive',
  'php-s': 'php -S',
  caddy: 'Caddy php_fastcgi',
  bridge: 'fpm-bridge',
};

async function startBackends(paths: Paths): Promise<Backends> {
  const fpm = await startPhpFpm(FPM_WORKERS);
  const node = await startNodeHello(paths);
  const phpS = await startPhpS(paths);
  return {
    fpmSocket: fpm.socket,
    fpmWorkers: FPM_WORKERS,
    nodePort: node.port,
    phpSPort: phpS?.port ?? null,
    procs: [fpm.proc, node.proc, ...(phpS ? [phpS.proc] : [])],
  };
}

function buildFronts(b: Backends, paths: Paths, opts: Options): Front[] {
  const procOf = (name: string) => b.procs.find((p) => p.name === name)!;
  const fronts: Array<Front | null> = [
    nginxFront('nginx', 'plain', b, paths, opts.nginxWorkers),
    nginxFront('nginx-keepalive', 'keepalive', b, paths, opts.nginxWorkers),
    nginxFront('nginx-error-page', 'error-page', b, paths, opts.nginxWorkers),
    nginxFront('nginx-gzip', 'gzip', b, paths, opts.nginxWorkers),
    nginxFront('nginx-ssl', 'ssl', b, paths, opts.nginxWorkers),
    b.phpSPort ? nginxFront('nginx-seed', 'seed', b, paths, opts.nginxWorkers) : null,
    b.phpSPort ? persistentFront('php-s', b.phpSPort, procOf('php-S')) : null,
    caddyFront(b, paths),
    persistentFront('node', b.nodePort, procOf('node-hello')),
    bridgeFront(b, paths),
    bridgeFront(b, paths, 2),
    bridgeFront(b, paths, 1, { tls: true }),
    bridgeFront(b, paths, 1, { variant: { id: 'bridge-claim', args: ['--claim', 'GET /hello.php'] } }),
    bridgeFront(b, paths, 1, { variant: { id: 'bridge-shadow', args: ['--shadow', 'GET /hello.php'] } }),
    bridgeFront(b, paths, 1, { variant: { id: 'bridge-shadow-10', args: ['--shadow', 'GET /hello.php @0.1'] } }),
    ...ledgerFronts(b, paths),
  ];
  return fronts.filter((f): f is Front => f !== null);
}

/** The ledger A/B fronts, on a Node with node:sqlite: this one, else Node 22 (scripts/install-node). */
function ledgerFronts(b: Backends, paths: Paths): Front[] {
  const hasSqlite = (node: string) => spawnSync(node, ['-e', "process.exit(process.getBuiltinModule?.('node:sqlite') ? 0 : 1)"], { stdio: 'ignore' }).status === 0;
  let node = execFileSync('sh', ['-c', 'command -v node'], { encoding: 'utf8' }).trim();
  if (!hasSqlite(node)) {
    try {
      node = execFileSync('bash', [join(paths.repo, 'scripts/install-node'), '22'], { encoding: 'utf8' }).trim().split('\n').pop()!;
    } catch {
      return [];
    }
    if (!hasSqlite(node)) return [];
  }
  return [bridgeFront(b, paths, 1, { ledger: { on: false, nodeBin: node } }), bridgeFront(b, paths, 1, { ledger: { on: true, nodeBin: node } })];
}

// ---------------------------------------------------------------- running it

const log = (line: string) => process.stderr.write(line + '\n');

/** Starts `front` (unless it always runs), hands it to `fn`, and stops it again whatever happens. */
async function withFront<T>(front: Front, fn: (running: Running) => Promise<T>): Promise<T> {
  const running = await front.start();
  try {
    return await fn(running);
  } finally {
    if (!front.persistent) await running.proc.stop();
  }
}

/** The (case, front) pairs to measure, front by front. */
function pairsOf(cases: Case[], front: string): Array<{ c: Case; expect: Case['rows'][number]['expect'] }> {
  return cases.flatMap((c) => c.rows.filter((r) => r.front === front).map((r) => ({ c, expect: r.expect })));
}

/**
 * Every front is checked on every one of its cases (fresh process, three requests on one connection)
 * before anything is measured. A failing pair is reported in the table and not measured: its req/s
 * would only measure a timeout.
 */
async function checkAll(fronts: Front[], cases: Case[], results: Results): Promise<void> {
  for (const front of fronts) {
    for (const { c, expect } of pairsOf(cases, front.id)) {
      const problem = await withFront(front, ({ port }) => check(port, c.req, expect));
      if (problem) results.failures.set(key(c.id, front.id), problem);
      log(`  ${problem ? 'FAIL' : 'ok  '}  ${front.id.padEnd(17)} ${c.id.padEnd(7)} ${problem ?? ''}`);
    }
  }
}

/**
 * One round: every front on every case it passed, in an order rotated per round so no front always
 * runs first or last. Each pair gets a freshly started front (persistent backends excepted): one
 * case cannot leave the next a degraded process, and the bridge's VmHWM is that case's own peak.
 */
async function runRound(round: number, fronts: Front[], cases: Case[], opts: Options, results: Results): Promise<void> {
  const order = fronts.map((_, i) => fronts[(i + round) % fronts.length]!);
  const byId = new Map(fronts.map((f) => [f.id, f]));
  for (const front of order) {
    for (const { c } of pairsOf(cases, front.id)) {
      if (c.paired || results.failures.has(key(c.id, front.id))) continue;
      await measure(front, c, round, opts, results);
    }
  }
  // A/B cases: their fronts back to back, there and back (A B B A; A B C C B A), so that a drift of
  // the machine's speed within the round weighs on each side alike. The report pairs the i-th
  // sample of one front with the i-th of the other.
  for (const c of cases.filter((x) => x.paired)) {
    const ids = c.rows.map((r) => r.front).filter((id) => byId.has(id) && !results.failures.has(key(c.id, id)));
    const there = ids.map((_, i) => ids[(i + round) % ids.length]!);
    for (const id of [...there, ...[...there].reverse()]) await measure(byId.get(id)!, c, round, opts, results);
  }
}

/** One measured run of a front on a case: a fresh front, warm-up, the run, its CPU and memory. */
async function measure(front: Front, c: Case, round: number, opts: Options, results: Results): Promise<void> {
  await withFront(front, async ({ port, proc }) => {
    if (front.id === 'bridge') noteStart(results, proc);
    const url = `${c.req.tls ? 'https' : 'http'}://127.0.0.1:${port}${c.req.path}`;
    await runLoad(url, opts.warmup, c.req);
    // The front's own CPU (all its processes: nginx's master and workers) over the measured run, per request.
    const cpuBefore = front.id.startsWith('bridge') || front.id.startsWith('nginx') ? cpuMs(proc.pid) : null;
    const r = await runLoad(url, opts.duration, c.req);
    const cpuAfter = cpuBefore !== null ? cpuMs(proc.pid) : null;
    const k = key(c.id, front.id);
    if (cpuBefore !== null && cpuAfter !== null && r.rps > 0) results.cpuPerRequestMs.set(k, [...(results.cpuPerRequestMs.get(k) ?? []), (cpuAfter - cpuBefore) / (r.rps * opts.duration)]);
    results.samples.set(k, [...(results.samples.get(k) ?? []), r]);
    if (front.id === 'bridge') notePeak(results, c.id, proc.pid);
    const errors = r.socketErrors || r.non2xx ? `  (${r.non2xx} non-2xx, ${r.socketErrors} socket errors)` : '';
    log(`  round ${round + 1}  ${front.id.padEnd(17)} ${c.id.padEnd(7)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${r.p99Ms.toFixed(2)} ms${errors}`);
  });
}

/** Idle RSS right after start-up, and the time from spawn to a listening socket. */
function noteStart(results: Results, proc: Proc): void {
  noteIdle(results, proc.pid);
  if (proc.listenMs !== undefined) results.bridgeListenMs.push(proc.listenMs);
}

function noteIdle(results: Results, pid: number): void {
  const rss = memoryKiB(pid)?.rss;
  if (rss !== undefined) results.bridgeIdleKiB = Math.min(results.bridgeIdleKiB ?? Infinity, rss);
}

/** VmHWM: the peak over the process's whole life, which is this one case. */
function notePeak(results: Results, caseId: string, pid: number): void {
  const hwm = memoryKiB(pid)?.hwm;
  if (hwm !== undefined) results.bridgePeakKiB.set(caseId, Math.max(results.bridgePeakKiB.get(caseId) ?? 0, hwm));
}

/**
 * Issue 11's start-up: the command as a user runs it against a running php-fpm (`--fpm` given, no
 * app, the ledger off), from the spawn to an accepted connection, polled every 2 ms, and its RSS
 * then (the idle RSS of the command alone); `times` starts.
 *
 * In Node's default environment: a machine that sets NODE_EXTRA_CA_CERTS (this one points it at the
 * whole system bundle, 144 certificates) makes every Node process parse that file before any of its
 * JavaScript runs: `node -e 0` takes 90-130 ms with it here and 50 without. When it is set, each start
 * is followed by one with it, and those are reported apart (`envMs`).
 */
async function startupCheck(b: Backends, paths: Paths, times: number, app?: string): Promise<{ ms: number[]; envMs: number[]; idleKiB: number | null }> {
  const out: number[] = [];
  const envMs: number[] = [];
  let idleKiB: number | null = null;
  const clean = { ...process.env };
  delete clean.NODE_EXTRA_CA_CERTS;
  const withExtra = process.env.NODE_EXTRA_CA_CERTS !== undefined && app === undefined;
  const start = async (env: NodeJS.ProcessEnv) => {
    const port = await freePort();
    const args = ['--fpm', b.fpmSocket, '--root', paths.docroot, '--listen', `127.0.0.1:${port}`, '--quiet', '--no-ledger', ...(app ? ['--app', app] : [])];
    const proc = await startServer('fpm-bridge-startup', join(paths.repo, 'scripts', 'fpm-bridge'), args, { host: '127.0.0.1', port }, env, 2);
    const rss = memoryKiB(proc.pid)?.rss;
    await proc.stop();
    return { ms: proc.listenMs!, rss };
  };
  for (let i = 0; i < times; i++) {
    const { ms, rss } = await start(clean);
    out.push(ms);
    if (rss !== undefined) idleKiB = Math.min(idleKiB ?? Infinity, rss);
    if (withExtra) envMs.push((await start(process.env)).ms);
  }
  return { ms: out, envMs, idleKiB };
}

/** The bridge streaming 1 GiB of PHP to a client reading ~20 MiB/s: its RSS should stay flat. */
async function slowClientCheck(bridge: Front, seconds: number): Promise<SlowClientReport> {
  const rate = 20 * MiB;
  const hello: Request = { method: 'GET', path: '/hello.php' };
  return withFront(bridge, async ({ port, proc }) => {
    await runWrk(`http://127.0.0.1:${port}/hello.php`, 1, hello); // settle the heap before the baseline
    const r = await slowClient({ port, pid: proc.pid, path: '/stream.php?mb=1024', bytesPerSecond: rate, seconds });
    if (!r.status.includes(' 200')) throw new Error(`slow client: the bridge answered "${r.status}"`);
    // The abandoned response must give its php-fpm worker back: PHP is served again within a few seconds.
    let recovered = false;
    for (let i = 0; i < 50 && !recovered; i++) {
      recovered = (await check(port, hello, { status: 200, body: 'Hello from PHP' })) === null;
      if (!recovered) await sleep(100);
    }
    return { bytesRead: r.bytesRead, seconds, rssBeforeKiB: r.rssBeforeKiB, rssPeakKiB: r.rssPeakKiB, recovered };
  });
}

// ---------------------------------------------------------------- the report

/** First line of `cmd args`, stdout or stderr (nginx -v prints to stderr; wrk -v exits 1). */
function versionOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]?.trim() || '?';
}

function environment(opts: Options, fronts: Front[]): string {
  let cpu = '?';
  try {
    cpu = execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], { encoding: 'utf8' }).trim() || '?';
  } catch {
    // not Linux
  }
  const example = wrkArgs('http://127.0.0.1:<port>/hello.php', opts.duration, { method: 'GET', path: '/hello.php' }).join(' ');
  return [
    `- machine: ${availableParallelism()} cores (${cpu}), ${versionOf('uname', ['-sr'])}`,
    `- node ${process.version}; ${versionOf('nginx', ['-v'])}; ${versionOf('php', ['-v'])}; ${versionOf('wrk', ['-v'])}`,
    `- php-fpm: pm = static, ${FPM_WORKERS} workers, opcache on; fpm-bridge --fpm-connections ${FPM_WORKERS} --quiet, with --app php/bench/app.ts compiled to app.mjs by esbuild`,
    `- nginx: worker_processes ${opts.nginxWorkers}, Debian's snippets/fastcgi-php.conf, access_log off; php -S: one worker, -q`,
    `- fronts: ${fronts.map((f) => f.id).join(', ')}${fronts.some((f) => f.id === 'caddy') ? '' : ' (Caddy not installed: skipped)'}`,
    `- wrk: \`${example}\` (-t${WRK_THREADS} -c${WRK_CONNECTIONS}), after a ${opts.warmup} s unmeasured warm-up; ` +
      `${opts.rounds} interleaved round(s) × ${opts.duration} s; medians over rounds`,
    findBinary('h2load')
      ? `- h2 case: ${versionOf('h2load', ['--version'])}: \`${h2loadArgs('https://127.0.0.1:<port>/hello.php', opts.duration, { method: 'GET', path: '/hello.php', h2: true }, '<log>').join(' ')}\` (p99 from its per-request log); nginx's keepalive_requests is raised to 1000000 on its TLS server, since the default 1000 ends an h2 connection (h2load does not reconnect)`
      : '- h2 case: skipped (h2load not installed: apt-get install nghttp2-client)',
  ].join('\n');
}

function report(results: Results, opts: Options, fronts: Front[]): string {
  return [
    `# fpm-bridge benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    environment(opts, fronts),
    '',
    resultsTable(results),
    '',
    '"vs baseline" is req/s relative to the case\'s baseline row. "errors" sums over all rounds the unexpected statuses and wrk\'s ' +
      'socket errors; `php -S` closes every connection after its answer (no keep-alive), which wrk counts as read errors: ' +
      'for php -S those are reconnections, not failures (their cost is in its req/s). A "timeout" is a request unanswered after 2 s.',
    '',
    memoryLines(results),
    cpuLines(results),
    '',
    '## Goals (issues 5, 9, 10, 11, 13)',
    '',
    goalsTable(results),
    '',
  ].join('\n');
}

function writeReport(repo: string, text: string): string {
  const dir = join(repo, '.tmp');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${new Date().toISOString().slice(0, 19).replace(/:/g, '-')}.md`);
  writeFileSync(file, text);
  return file;
}

/**
 * The bench app compiled to JavaScript, as an app is deployed (README, "Install"): a TypeScript
 * `--app` loads tsx, whose loader thread on Node 20 is 26-30 MiB of RSS by itself, and that would be
 * measured as the bridge's. The TypeScript start is measured apart (the start-up check).
 */
function compileApp(source: string): string {
  const out = join(benchTmp(), 'app.mjs');
  buildSync({ entryPoints: [source], outfile: out, bundle: true, format: 'esm', platform: 'node', packages: 'external', logLevel: 'warning' });
  return out;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2)); // before starting anything: a bad flag costs nothing
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const appTs = join(repo, 'php', 'bench', 'app.ts');
  const paths: Paths = { repo, docroot: join(repo, 'php', 'bench', 'docroot'), app: compileApp(appTs), appTs };

  log('starting php-fpm, the bare Node server and php -S ...');
  const backends = await startBackends(paths);
  const stopBackends = () => Promise.all(backends.procs.map((p: Proc) => p.stop()));
  try {
    const fronts = buildFronts(backends, paths, opts);
    const has = (id: string) => fronts.some((f) => f.id === id);
    const cases = buildCases(has).filter((c) => !opts.cases || opts.cases.includes(c.id));

    const results: Results = { cases, samples: new Map(), failures: new Map(), bridgePeakKiB: new Map(), bridgeIdleKiB: null, bridgeListenMs: [], startupMs: [], startupEnvMs: [], extraCaCerts: process.env.NODE_EXTRA_CA_CERTS ?? null, startupIdleKiB: null, startupTsMs: [], startupTsIdleKiB: null, slow: null, cpuPerRequestMs: new Map() };
    log('checking that every front answers every case correctly ...');
    await checkAll(fronts, cases, results);

    for (let round = 0; round < opts.rounds; round++) {
      log(`round ${round + 1}/${opts.rounds} ...`);
      await runRound(round, fronts, cases, opts, results);
    }
    if (!opts.cases || opts.cases.includes('hello')) {
      log('start-up: the command with --fpm, 7 times ...');
      const startup = await startupCheck(backends, paths, 7);
      results.startupMs = startup.ms;
      results.startupEnvMs = startup.envMs;
      results.startupIdleKiB = startup.idleKiB;
      log('start-up: the same with the bench app as TypeScript (tsx), 3 times ...');
      const ts = await startupCheck(backends, paths, 3, paths.appTs);
      results.startupTsMs = ts.ms;
      results.startupTsIdleKiB = ts.idleKiB;
    }
    if (opts.slowClientSeconds > 0) {
      log(`slow client: 1 GiB from PHP at 20 MiB/s for ${opts.slowClientSeconds} s ...`);
      results.slow = await slowClientCheck(fronts.find((f) => f.id === 'bridge')!, opts.slowClientSeconds);
    }

    const text = report(results, opts, fronts);
    process.stdout.write('\n' + text);
    log(`\nwritten to ${writeReport(repo, text)}`);
  } finally {
    await stopBackends();
  }
}

// Ctrl-C or a kill: stop every server group now (scripts/bench's EXIT trap sweeps up after a SIGKILL).
process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`bench: ${signal}, stopping everything`);
    process.exit(130);
  });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
