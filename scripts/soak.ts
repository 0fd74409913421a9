// The soak test (see scripts/soak): the real CLI with its own spawned php-fpm and an app, 100k mixed
// requests at concurrency 32 on 127.0.0.1, every response checked. Prints the bridge's open file
// descriptors and RSS before and after, and the errors per category; exits 1 on any wrong response,
// on a file descriptor leak, or when the time bound runs out.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
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
  console.log('usage: bash scripts/soak [--requests 100000] [--concurrency 32] [--max-seconds 900]');
  process.exit(0);
}
const TOTAL = flag('requests', 100_000);
const CONCURRENCY = flag('concurrency', 32);
const MAX_SECONDS = flag('max-seconds', 900);

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
  await sleep(1_500);
  const before = procStats(pid);
  const timer = setTimeout(() => (stop = true), MAX_SECONDS * 1000);
  const started = performance.now();
  await run(TOTAL);
  const seconds = (performance.now() - started) / 1000;
  clearTimeout(timer);
  agent.destroy();
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
