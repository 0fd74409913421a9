// The soak test (see scripts/soak): the real CLI with its own spawned php-fpm and an app, 100k mixed
// requests at concurrency 32 on 127.0.0.1, every response checked, while four clients that never
// read hold 13 MB PHP answers, uploads over 1 MiB go to an app route that answers without reading
// them, and a static file is truncated and rewritten (as `cp` over a live file does) under the load.
// Then 300 slow 1 MiB uploads (the bridge's RSS after them must be within 30 MiB of before), and the
// faults: POSTs that count their runs while php-fpm workers are killed at random (0 duplicate runs
// required, and no 200 without its run). At the end the bridge's open file descriptors and its spool
// (files, open spool fds, bytes) must be back where they were after the warm-up. Prints each figure;
// exits 1 on any wrong response, a duplicate run, a leak, or when the time bound runs out.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
  console.log('usage: bash scripts/soak [--requests 100000] [--concurrency 32] [--max-seconds 900] [--fault-requests 2000] [--never-reading 4] [--slow-uploads 300]');
  process.exit(0);
}
const TOTAL = flag('requests', 100_000);
const CONCURRENCY = flag('concurrency', 32);
const MAX_SECONDS = flag('max-seconds', 900);
/** POSTs sent while workers are killed (0: skip the fault phase). */
const FAULT_REQUESTS = flag('fault-requests', 2_000);
/** Clients that request a 13 MB PHP page and never read, open during the main run. */
const NEVER_READING = flag('never-reading', 4);
/** Slow 1 MiB uploads at once after the main run (0: skip); RSS after them within 30 MiB of before. */
const SLOW_UPLOADS = flag('slow-uploads', 300);
/** Sizes of the two versions of the static file rewritten under load: above the 64 KiB kept in memory, so it streams from disk. */
const REWRITTEN = [256 * 1024, 192 * 1024];
/** How often the rewritten file is truncated and written again. */
const REWRITE_EVERY_MS = 50;

type Category = 'php' | 'static' | 'app' | 'php404→app' | 'post-php' | 'post-app' | 'abort' | 'upload-unread' | 'static-rewritten';
// Out of 200: 1% uploads over 1 MiB the app never reads, 2% downloads of the file being rewritten.
const WEIGHTS: Array<[Category, number]> = [
  ['php', 58],
  ['static', 30],
  ['app', 30],
  ['php404→app', 20],
  ['post-php', 20],
  ['post-app', 16],
  ['abort', 20],
  ['upload-unread', 2],
  ['static-rewritten', 4],
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
  if (req.url === '/api/unread') {
    // The everyday "401 before reading the upload": the body is never read.
    res.statusCode = 401;
    res.setHeader('content-type', 'text/plain');
    res.end('no');
    return;
  }
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
const rewrittenFile = join(root, 'static/rewritten.bin');
writeFileSync(rewrittenFile, Buffer.alloc(REWRITTEN[0]!, 0x61));
/** The bridge's TMPDIR: its spool directories are made here, so what they hold can be counted. */
const spoolBase = mkdtempSync(join(tmpdir(), 'fpm-bridge-soak-tmp-'));
/** How downloads of the file being rewritten ended (none of these is an error; a broken framing is). */
const rewrittenOutcomes = { whole: 0, 'caught mid-rewrite': 0, 'cut (shrank while sent)': 0 };

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

/** What the bridge holds in its spool directories under `base`: files and their bytes, and its open spool fds (deleted files too) and theirs. */
function spoolStats(pid: number, base: string): { files: number; fileBytes: number; spoolFds: number; spoolFdBytes: number } {
  let files = 0;
  let fileBytes = 0;
  for (const dir of readdirSync(base).filter((d) => d.startsWith('fpm-bridge-spool-'))) {
    for (const f of readdirSync(join(base, dir))) {
      try {
        fileBytes += statSync(join(base, dir, f)).size;
        files++;
      } catch {
        // gone meanwhile
      }
    }
  }
  let spoolFds = 0;
  let spoolFdBytes = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (!readlinkSync(`/proc/${pid}/fd/${fd}`).includes('fpm-bridge-spool-')) continue;
      spoolFds++;
      spoolFdBytes += statSync(`/proc/${pid}/fd/${fd}`).size;
    } catch {
      // closed meanwhile
    }
  }
  return { files, fileBytes, spoolFds, spoolFdBytes };
}

/** POSTs `bytes` on a raw socket in `piece`-byte writes every `everyMs` (a slow uploader); resolves with the status and body. */
function slowUpload(port: number, path: string, bytes: number, piece: number, everyMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let text = '';
    sock.setEncoding('latin1');
    sock.on('data', (c: string) => (text += c));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearInterval(timer);
      const end = text.indexOf('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: end < 0 ? '' : text.slice(end + 4) });
    });
    sock.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nConnection: close\r\nContent-Length: ${bytes}\r\n\r\n`);
    const data = Buffer.alloc(piece, 0x61);
    let sent = 0;
    const timer = setInterval(() => {
      if (sock.destroyed) return clearInterval(timer);
      const n = Math.min(piece, bytes - sent);
      sock.write(n === piece ? data : data.subarray(0, n));
      sent += n;
      if (sent >= bytes) clearInterval(timer);
    }, everyMs);
  });
}

/**
 * SLOW_UPLOADS slow 1 MiB uploads at once to PHP (issue 9 defect 6: RSS went from 85 to 390 MB and
 * stayed), after a warm-up of a tenth of them; the bridge's RSS must come back within 30 MiB.
 */
async function slowUploadPhase(port: number, pid: number): Promise<string[]> {
  const MiB = 1024 * 1024;
  const ok = (r: { status: number; body: string }) => r.status === 200 && r.body.includes(`"length":${MiB},`);
  const warm = await Promise.all(Array.from({ length: Math.ceil(SLOW_UPLOADS / 10) }, () => slowUpload(port, '/echo.php', MiB, 4 * 1024, 5)));
  await sleep(1_000);
  const before = procStats(pid);
  let peak = before.rssMiB;
  const sampler = setInterval(() => (peak = Math.max(peak, procStats(pid).rssMiB)), 100);
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: SLOW_UPLOADS }, () => slowUpload(port, '/echo.php', MiB, 4 * 1024, 40)));
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  // The bridge has no reason to keep any of it: give its heap a while to shrink.
  let after = procStats(pid);
  for (let i = 0; i < 50 && after.rssMiB - before.rssMiB >= 30; i++) {
    await sleep(200);
    after = procStats(pid);
  }
  const bad = results.filter((r) => !ok(r)).length + warm.filter((r) => !ok(r)).length;
  console.log(`\nslow uploads: ${SLOW_UPLOADS} at once, 1 MiB each in 4 KiB writes every 40 ms, to PHP, in ${seconds.toFixed(1)} s (after ${warm.length} to warm up)`);
  console.log(`\n| bridge RSS MiB | before | peak | after | after - before |\n|---|---:|---:|---:|---:|\n| | ${before.rssMiB} | ${peak} | ${after.rssMiB} | ${(after.rssMiB - before.rssMiB).toFixed(1)} |`);
  console.log(`wrong answers: ${bad}`);
  const problems: string[] = [];
  if (bad > 0) problems.push(`${bad} slow uploads not answered 200 with their 1 MiB`);
  if (after.rssMiB - before.rssMiB >= 30) problems.push(`RSS after the slow uploads ${after.rssMiB} MiB, not within 30 MiB of ${before.rssMiB} MiB`);
  return problems;
}

/** Truncates and rewrites `file` every REWRITE_EVERY_MS (as `cp` over a live file does), alternating two versions; stop() ends it. */
function rewriteLoop(file: string): { stop(): Promise<number> } {
  const versions = REWRITTEN.map((size, v) => Buffer.alloc(size, v === 0 ? 0x61 : 0x62));
  let going = true;
  let rewrites = 0;
  const loop = (async () => {
    while (going) {
      await sleep(REWRITE_EVERY_MS);
      writeFileSync(file, versions[rewrites % versions.length]!);
      rewrites++;
    }
  })();
  return {
    async stop() {
      going = false;
      await loop;
      return rewrites;
    },
  };
}

/**
 * POSTs to runs.php (which logs "<pid> POST <id>" before it answers) while a php-fpm worker is
 * SIGKILLed every 50 ms. A POST may fail (502) but never run twice, and a 200 must have its run.
 */
async function faultPhase(port: number, pid: number): Promise<{ lines: string[]; problems: string[] }> {
  const logName = `fpm-bridge-soak-runs-${process.pid}.log`;
  // runs.php writes to PHP's temp dir: the bridge's TMPDIR (spoolBase), which php-fpm inherits.
  const logPaths = [join(spoolBase, logName), join(tmpdir(), logName)];
  for (const p of logPaths) rmSync(p, { force: true });
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
  for (const p of logPaths) {
    try {
      lines.push(...readFileSync(p, 'utf8').split('\n').filter(Boolean));
    } catch {
      // not this one, or no run at all
    }
    rmSync(p, { force: true });
  }
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
    env: { ...process.env, TMPDIR: spoolBase },
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
        case 'upload-unread':
          // Over 1 MiB (spooled), to an app route that answers 401 without reading it.
          method = 'POST';
          path = '/api/unread';
          body = Buffer.alloc(1024 * 1024 + 1 + (i % 32) * 1024, 0x75);
          check = (status, text) => (status === 401 && text === 'no' ? null : `${status} ${text.slice(0, 80)}`);
          break;
        case 'static-rewritten':
          path = '/static/rewritten.bin';
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
        if (cat === 'static-rewritten') {
          // The file shrank while it was sent: the bridge cuts the connection (nginx: "file has been
          // truncated"). Whole, or caught between truncate and write: a complete, well-framed answer.
          res.on('error', () => {
            rewrittenOutcomes['cut (shrank while sent)']++;
            resolve(null);
          });
          res.on('end', () => {
            tallies[cat].ms.push(performance.now() - started);
            const data = Buffer.concat(chunks);
            const declared = Number(res.headers['content-length']);
            if (res.statusCode !== 200 || data.length !== declared) return resolve(`${res.statusCode} ${data.length} bytes of ${declared}`);
            const whole = REWRITTEN.some((size, v) => data.length === size && data.every((b) => b === (v === 0 ? 0x61 : 0x62)));
            rewrittenOutcomes[whole ? 'whole' : 'caught mid-rewrite']++;
            resolve(null);
          });
          return;
        }
        res.on('error', (err) => resolve(`response error ${err.message}`));
        res.on('end', () => {
          tallies[cat].ms.push(performance.now() - started);
          resolve(check(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
        });
      });
      req.on('error', (err) => {
        if (cat === 'static-rewritten' && /aborted|ECONNRESET|socket hang up/.test(err.message)) {
          rewrittenOutcomes['cut (shrank while sent)']++;
          return resolve(null);
        }
        resolve(cat === 'abort' ? null : `request error ${err.message}`);
      });
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
  await sleep(1_000);
  // Where the bridge's resources must be back to at the very end.
  const start = { ...procStats(pid), ...spoolStats(pid, spoolBase) };
  for (const k of Object.keys(rewrittenOutcomes) as Array<keyof typeof rewrittenOutcomes>) rewrittenOutcomes[k] = 0;
  const rewriter = rewriteLoop(rewrittenFile);
  // Clients that never read, holding 13 MB PHP answers for the whole run: PHP must still be served.
  const idleReaders = Array.from({ length: NEVER_READING }, (_, i) => neverReads(port, i));
  await sleep(1_500);
  const before = procStats(pid);
  const timer = setTimeout(() => (stop = true), MAX_SECONDS * 1000);
  const started = performance.now();
  await run(TOTAL);
  const seconds = (performance.now() - started) / 1000;
  clearTimeout(timer);
  const rewrites = await rewriter.stop();
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
  console.log(`\nstatic-rewritten: the file was truncated and rewritten ${rewrites} times (every ${REWRITE_EVERY_MS} ms, ${REWRITTEN.map((b) => b / 1024).join(' / ')} KiB)`);
  console.log('\n| download of the rewritten file | count |\n|---|---:|');
  for (const [k, n] of Object.entries(rewrittenOutcomes)) console.log(`| ${k} | ${n} |`);
  const slow = SLOW_UPLOADS > 0 ? await slowUploadPhase(port, pid) : [];
  const faults = FAULT_REQUESTS > 0 ? await faultPhase(port, pid) : { lines: [], problems: [] };

  // Every client is gone: the bridge's fds and spool must be back where they were after the warm-up.
  await sleep(2_000);
  const end = { ...procStats(pid), ...spoolStats(pid, spoolBase) };
  console.log('\n| bridge resources | after the warm-up | at the end |\n|---|---:|---:|');
  console.log(`| open fds | ${start.fds} | ${end.fds} |`);
  console.log(`| spool files in its directory | ${start.files} | ${end.files} |`);
  console.log(`| bytes in those files | ${start.fileBytes} | ${end.fileBytes} |`);
  console.log(`| open spool fds (deleted files too) | ${start.spoolFds} | ${end.spoolFds} |`);
  console.log(`| bytes held by those fds | ${start.spoolFdBytes} | ${end.spoolFdBytes} |`);

  cli.kill('SIGTERM');
  const code = await exited;
  console.log(`\nSIGTERM: exit ${code}`);
  if (/uncaught|unhandled/i.test(stderr)) console.log(`stderr:\n${stderr}`);

  const problems: string[] = [];
  if (done < TOTAL) problems.push(`only ${done} of ${TOTAL} requests within --max-seconds ${MAX_SECONDS}`);
  if (errors > 0) problems.push(`${errors} wrong responses`);
  if (after.fds > before.fds + 8) problems.push(`file descriptors grew from ${before.fds} to ${after.fds}`);
  // The php-fpm connections the pool keeps (at most its workers) may differ by a few.
  if (end.fds > start.fds + 8) problems.push(`file descriptors at the end ${end.fds}, ${start.fds} after the warm-up`);
  if (end.files > start.files || end.fileBytes > start.fileBytes) problems.push(`spool files left: ${end.files} (${end.fileBytes} bytes)`);
  if (end.spoolFds > start.spoolFds || end.spoolFdBytes > start.spoolFdBytes) problems.push(`spool fds left open: ${end.spoolFds} (${end.spoolFdBytes} bytes)`);
  problems.push(...slow);
  if (code !== 0) problems.push(`exit code ${code} after SIGTERM`);
  if (/uncaught|unhandled/i.test(stderr)) problems.push('uncaught errors in the bridge');
  problems.push(...faults.problems);
  console.log(problems.length ? `\nFAIL: ${problems.join('; ')}` : '\nOK');
  return problems.length ? 1 : 0;
}

main()
  .then((code) => {
    rmSync(root, { recursive: true, force: true });
    rmSync(spoolBase, { recursive: true, force: true });
    process.exit(code);
  })
  .catch((err: unknown) => {
    console.error(err);
    rmSync(root, { recursive: true, force: true });
    rmSync(spoolBase, { recursive: true, force: true });
    process.exit(1);
  });
