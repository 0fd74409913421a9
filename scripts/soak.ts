// The soak test (see scripts/soak): the real CLI with its own spawned php-fpm and an app, 100k mixed
// requests at concurrency 32 on 127.0.0.1, every response checked, while four clients that never
// read hold 13 MB PHP answers. Then the faults: POSTs that count their runs while php-fpm workers are
// killed at random (0 duplicate runs required, and no 200 without its run). Prints the bridge's open
// file descriptors and RSS before and after, and the errors per category; exits 1 on any wrong
// response, a duplicate run, a file descriptor leak, or when the time bound runs out.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
if (args.includes('--help') || args.includes('-h')) {
  console.log('usage: bash scripts/soak [--requests 100000] [--concurrency 32] [--max-seconds 900] [--fault-requests 2000] [--never-reading 4]');
  process.exit(0);
}
const TOTAL = flag('requests', 100_000);
const CONCURRENCY = flag('concurrency', 32);
const MAX_SECONDS = flag('max-seconds', 900);
/** POSTs sent while workers are killed (0: skip the fault phase). */
const FAULT_REQUESTS = flag('fault-requests', 2_000);
/** Clients that request a 13 MB PHP page and never read, open during the main run. */
const NEVER_READING = flag('never-reading', 4);

type Category = 'php' | 'static' | 'app' | 'php404→app' | 'post-php' | 'post-app' | 'abort';
const WEIGHTS: Array<[Category, number]> = [
  ['php', 30],
  ['static', 15],
  ['app', 15],
  ['php404→app', 10],
  ['post-php', 10],
  ['post-app', 10],
  ['abort', 10],
];

interface Tally {
  count: number;
  errors: number;
  samples: string[];
  ms: number[];
}

const root = mkdtempSync(join(tmpdir(), 'fpm-bridge-soak-'));
cpSync(join(REPO, 'php/fixtures'), root, { recursive: true });
writeFileSync(
  join(root, 'soak-app.mjs'),
  `import { createHash } from 'node:crypto';
export default (req, res) => {
  if (req.method === 'POST') {
    const hash = createHash('md5');
    let length = 0;
    req.on('data', (c) => { length += c.length; hash.update(c); });
    req.on('end', () => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ length, md5: hash.digest('hex') })); });
    return;
  }
  res.setHeader('content-type', 'text/plain');
  res.end('app ' + req.url);
};
`,
);
const staticJs = readFileSync(join(root, 'static/app.js'), 'utf8');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function procStats(pid: number): { fds: number; rssMiB: number } {
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { fds, rssMiB: Math.round((rss / 1024) * 10) / 10 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** php-fpm workers ("php-fpm: pool ...") among the descendants of `root` (the bridge). */
function fpmWorkers(root: number): number[] {
  const parent = new Map<number, number>();
  const workers: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').startsWith('php-fpm: pool')) workers.push(Number(e));
    } catch {
      // gone
    }
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid), n = 0; p !== undefined && n < 10; p = parent.get(p), n++) if (p === root) return true;
    return false;
  };
  return workers.filter(under);
}

/** A client that sends a request for a big PHP page and never reads its answer. */
function neverReads(port: number, i: number): Socket {
  const sock = connect({ host: '127.0.0.1', port }, () => {
    sock.pause();
    sock.write(`GET /big.php?mb=13&never=${i} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  });
  sock.on('error', () => {});
  return sock;
}

/**
 * POSTs to runs.php (which logs "<pid> POST <id>" before it answers) while a php-fpm worker is
 * SIGKILLed every 50 ms. A POST may fail (502) but never run twice, and a 200 must have its run.
 */
async function faultPhase(port: number, pid: number): Promise<{ lines: string[]; problems: string[] }> {
  const logName = `fpm-bridge-soak-runs-${process.pid}.log`;
  const logPath = join(tmpdir(), logName);
  rmSync(logPath, { force: true });
  let killing = true;
  let kills = 0;
  const killer = (async () => {
    while (killing) {
      await sleep(50);
      const workers = fpmWorkers(pid);
      const victim = workers[Math.floor(Math.random() * workers.length)];
      if (victim === undefined) continue;
      try {
        process.kill(victim, 'SIGKILL');
        kills++;
      } catch {
        // gone already
      }
    }
  })();
  const statuses = new Map<number, number>();
  const ok = new Set<number>();
  let failures = 0;
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < FAULT_REQUESTS) {
      const id = next++;
      const status = await new Promise<number>((resolve) => {
        const body = Buffer.from(`post ${id}`);
        const req = request({ host: '127.0.0.1', port, method: 'POST', path: `/runs.php?log=${logName}&id=${id}&ms=${id % 20}`, agent: false, headers: { 'content-length': body.length } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', () => resolve(-1));
        });
        req.on('error', () => resolve(-1));
        req.end(body);
      });
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status === 200) ok.add(id);
      if (status !== 200 && status !== 502 && status !== 503 && status !== 504) failures++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  killing = false;
  await killer;
  const seconds = (performance.now() - started) / 1000;
  let lines: string[] = [];
  try {
    lines = readFileSync(logPath, 'utf8').split('\n').filter(Boolean);
  } catch {
    // no run at all
  }
  rmSync(logPath, { force: true });
  const runs = new Map<number, number>();
  for (const l of lines) {
    const id = Number(l.split(' ')[2]);
    runs.set(id, (runs.get(id) ?? 0) + 1);
  }
  const duplicates = [...runs.values()].filter((n) => n > 1).length;
  const lost = [...ok].filter((id) => !runs.has(id)).length;
  // Served again once the killing stops.
  await sleep(1_000);
  const after = await Promise.all(
    Array.from({ length: 50 }, () => new Promise<number>((resolve) => {
      request({ host: '127.0.0.1', port, path: '/hello.php', agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); }).on('error', () => resolve(-1)).end();
    })),
  );
  const afterOk = after.filter((s) => s === 200).length;
  console.log(`\nfaults: ${FAULT_REQUESTS} counted POSTs in ${seconds.toFixed(1)} s at concurrency 16, ${kills} php-fpm workers killed (one every 50 ms)`);
  console.log('\n| POST outcome | count |\n|---|---:|');
  for (const [status, n] of [...statuses].sort((a, b) => a[0] - b[0])) console.log(`| ${status === -1 ? 'connection error' : status} | ${n} |`);
  console.log(`\n| runs logged | duplicate runs | 200 without a run | hello after the kills |\n|---:|---:|---:|---:|\n| ${lines.length} | ${duplicates} | ${lost} | ${afterOk}/50 |`);
  const problems: string[] = [];
  if (duplicates > 0) problems.push(`${duplicates} POSTs ran twice`);
  if (lost > 0) problems.push(`${lost} POSTs answered 200 without running`);
  if (failures > 0) problems.push(`${failures} POSTs got neither 200 nor 502/503/504`);
  if (afterOk < 50) problems.push(`only ${afterOk}/50 PHP requests served after the kills`);
  return { lines, problems };
}

async function main(): Promise<number> {
  const port = await freePort();
  const cli = spawn(join(REPO, 'scripts/fpm-bridge'), ['--root', root, '--app', join(root, 'soak-app.mjs'), '--listen', `127.0.0.1:${port}`, '--quiet'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  cli.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 20_000;
  while (!/http:\/\//.test(stderr)) {
    if (Date.now() > deadline || cli.exitCode !== null) throw new Error(`fpm-bridge did not start:\n${stderr}`);
    await sleep(50);
  }
  const pid = cli.pid!;
  let agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  function one(cat: Category, i: number): Promise<string | null> {
    const started = performance.now();
    return new Promise<string | null>((resolve) => {
      let path = '/hello.php';
      let method = 'GET';
      let body: Buffer | null = null;
      let check: (status: number, text: string) => string | null = () => null;
      const expectText = (want: string) => (status: number, text: string) => (status === 200 && text === want ? null : `${status} ${text.slice(0, 80)}`);
      const expectHash = (status: number, text: string) => {
        const want = JSON.stringify({ length: body!.length, md5: createHash('md5').update(body!).digest('hex') });
        let got = '';
        try {
          const j = JSON.parse(text) as { length: number; md5: string };
          got = JSON.stringify({ length: j.length, md5: j.md5 });
        } catch {
          got = text.slice(0, 80);
        }
        return status === 200 && got === want ? null : `${status} ${got}`;
      };
      switch (cat) {
        case 'php':
          check = expectText('Hello from PHP');
          break;
        case 'static':
          path = '/static/app.js';
          check = expectText(staticJs);
          break;
        case 'app':
          path = `/api/item/${i}`;
          check = expectText(`app /api/item/${i}`);
          break;
        case 'php404→app':
          path = `/notfound.php?i=${i}`;
          check = expectText(`app /notfound.php?i=${i}`);
          break;
        case 'post-php':
        case 'post-app':
          method = 'POST';
          path = cat === 'post-php' ? '/echo.php' : '/api/upload';
          body = randomBytes(1 + (i % 64) * 1024);
          check = cat === 'post-php'
            ? (status, text) => {
                const j = status === 200 ? (JSON.parse(text) as { length: number; md5: string }) : null;
                return j && j.length === body!.length && j.md5 === createHash('md5').update(body!).digest('hex') ? null : `${status} ${text.slice(0, 80)}`;
              }
            : expectHash;
          break;
        case 'abort':
          // Goes away mid-response (a big PHP download) or before PHP answers (a slow script).
          path = i % 2 ? '/big.php?mb=4' : '/slow.php?ms=30';
          break;
      }
      const req = request({ host: '127.0.0.1', port, path, method, agent: cat === 'abort' ? false : agent, headers: body ? { 'content-length': body.length } : {} }, (res) => {
        if (cat === 'abort') {
          res.once('data', () => req.destroy());
          res.on('error', () => {});
          res.on('close', () => resolve(null));
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => resolve(`response error ${err.message}`));
        res.on('end', () => {
          tallies[cat].ms.push(performance.now() - started);
          resolve(check(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
        });
      });
      req.on('error', (err) => resolve(cat === 'abort' ? null : `request error ${err.message}`));
      if (cat === 'abort' && i % 2 === 0) setTimeout(() => req.destroy(), 10);
      req.end(body ?? undefined);
    });
  }

  const tallies = Object.fromEntries(WEIGHTS.map(([c]) => [c, { count: 0, errors: 0, samples: [], ms: [] } as Tally])) as Record<Category, Tally>;
  const pick: Category[] = WEIGHTS.flatMap(([c, w]) => Array<Category>(w).fill(c));
  let next = 0;
  let stop = false;
  const run = async (n: number) => {
    next = 0;
    const worker = async () => {
      while (!stop && next < n) {
        const i = next++;
        const cat = pick[(i * 7919) % pick.length]!;
        const err = await one(cat, i);
        tallies[cat].count++;
        if (err) {
          tallies[cat].errors++;
          if (tallies[cat].samples.length < 3) tallies[cat].samples.push(err);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  };

  // Warm up (pool connections, caches, JIT), then measure.
  await run(2_000);
  for (const t of Object.values(tallies)) Object.assign(t, { count: 0, errors: 0, samples: [], ms: [] });
  // Measured with no client connection open, like the figures after.
  agent.destroy();
  agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  // Clients that never read, holding 13 MB PHP answers for the whole run: PHP must still be served.
  const idleReaders = Array.from({ length: NEVER_READING }, (_, i) => neverReads(port, i));
  await sleep(1_500);
  const before = procStats(pid);
  const timer = setTimeout(() => (stop = true), MAX_SECONDS * 1000);
  const started = performance.now();
  await run(TOTAL);
  const seconds = (performance.now() - started) / 1000;
  clearTimeout(timer);
  agent.destroy();
  for (const s of idleReaders) s.destroy();
  await sleep(1_500);
  const after = procStats(pid);

  const done = Object.values(tallies).reduce((n, t) => n + t.count, 0);
  const errors = Object.values(tallies).reduce((n, t) => n + t.errors, 0);
  const pct = (xs: number[], p: number) => (xs.length ? xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!.toFixed(1) : '-');
  console.log(`\nfpm-bridge soak: ${done} requests in ${seconds.toFixed(1)} s (${Math.round(done / seconds)} req/s), concurrency ${CONCURRENCY}`);
  console.log('\n| category | requests | errors | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|');
  for (const [cat, t] of Object.entries(tallies)) console.log(`| ${cat} | ${t.count} | ${t.errors} | ${pct(t.ms, 0.5)} | ${pct(t.ms, 0.99)} |`);
  console.log(`\n| bridge process | before | after |\n|---|---:|---:|\n| open fds | ${before.fds} | ${after.fds} |\n| RSS MiB | ${before.rssMiB} | ${after.rssMiB} |`);
  for (const [cat, t] of Object.entries(tallies)) for (const s of t.samples) console.log(`  ${cat}: ${s}`);
  if (NEVER_READING > 0) console.log(`\n${NEVER_READING} clients that never read held 13 MB PHP answers during the run (php category above: served alongside).`);
  const faults = FAULT_REQUESTS > 0 ? await faultPhase(port, pid) : { lines: [], problems: [] };

  cli.kill('SIGTERM');
  const code = await exited;
  console.log(`\nSIGTERM: exit ${code}`);
  if (/uncaught|unhandled/i.test(stderr)) console.log(`stderr:\n${stderr}`);

  const problems: string[] = [];
  if (done < TOTAL) problems.push(`only ${done} of ${TOTAL} requests within --max-seconds ${MAX_SECONDS}`);
  if (errors > 0) problems.push(`${errors} wrong responses`);
  if (after.fds > before.fds + 8) problems.push(`file descriptors grew from ${before.fds} to ${after.fds}`);
  if (code !== 0) problems.push(`exit code ${code} after SIGTERM`);
  if (/uncaught|unhandled/i.test(stderr)) problems.push('uncaught errors in the bridge');
  problems.push(...faults.problems);
  console.log(problems.length ? `\nFAIL: ${problems.join('; ')}` : '\nOK');
  return problems.length ? 1 : 0;
}

main()
  .then((code) => {
    rmSync(root, { recursive: true, force: true });
    process.exit(code);
  })
  .catch((err: unknown) => {
    console.error(err);
    rmSync(root, { recursive: true, force: true });
    process.exit(1);
  });
