// The published package, as a user gets it: `npm pack`, `npm install` of the tarball into an empty
// project, then the installed command serves a PHP page and a TypeScript app's route against a real
// php-fpm, and createBridge is imported from .mjs, .cjs and a type-checked .ts file. This is the
// test of the built dist/ (the rest of the suite runs src/): scripts/test builds it first.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = join(REPO, 'php/fixtures');
const run = promisify(execFile);
// npm, npx and the command's `node` run on the Node that runs this suite (scripts/test runs it on 20, 22, 24).
const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, NO_COLOR: '1', npm_config_update_notifier: 'false' };

/** The newest modification time under `dir`. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

let work: string;
let project: string;
let tarball: string;
let packed: string[];
let fpm: PhpFpm;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  const built = statSync(join(REPO, 'dist/index.js'), { throwIfNoEntry: false });
  if (!built) throw new Error('dist/ is missing: run `npm run build` (scripts/test does)');
  if (newest(join(REPO, 'src')) > built.mtimeMs) throw new Error('dist/ is older than src/: run `npm run build` (scripts/test does)');
  work = mkdtempSync(join(tmpdir(), 'fpm-bridge-package-'));
  // dist/ is fresh: no need for prepack to build it once more.
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: REPO, env });
  const [info] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  tarball = join(work, info.filename);
  packed = info.files.map((f) => f.path);
  project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'uses-fpm-bridge', private: true, type: 'module' }));
  // From the local tarball; its dependencies from npm's cache, the registry only for what it lacks.
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: project, env });
  fpm = await startPhpFpm();
}, 240_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await fpm?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The installed command on the test's php-fpm and fixtures, once its banner names the URL it serves. */
async function startInstalled(args: string[], extraEnv: Record<string, string> = {}) {
  const child = spawn(join(project, 'node_modules/.bin/fpm-bridge'), ['--fpm', fpm.socket, '--root', FIXTURES, '--listen', '127.0.0.1:0', ...args], {
    cwd: project,
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 45_000;
  while (!/http:\/\/\S+/.test(stderr)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no banner from the installed command:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const url = /(http:\/\/\S+?)\/?\s/.exec(stderr)![1]!;
  return { child, url, exited };
}

describe('the npm package', () => {
  it('holds dist/ (JavaScript, types, source maps), the command and the docs; no tests, fixtures, benchmarks or sources', () => {
    for (const f of ['package.json', 'README.md', 'LICENSE', 'SECURITY.md', 'ARCHITECTURE.md', 'scripts/fpm-bridge', 'dist/index.js', 'dist/index.d.ts', 'dist/index.js.map', 'dist/bin/main.js', 'dist/bin/main.js.map', 'dist/app/reload-hooks.mjs']) {
      expect(packed).toContain(f);
    }
    const stray = packed.filter((f) => !/^(dist\/|scripts\/fpm-bridge$|package\.json$|README\.md$|LICENSE$|SECURITY\.md$|ARCHITECTURE\.md$)/.test(f));
    expect(stray).toEqual([]);
  });

  it('npx fpm-bridge --version', async () => {
    const { stdout } = await run('npx', ['--no-install', 'fpm-bridge', '--version'], { cwd: project, env });
    const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(stdout).toBe(`fpm-bridge ${version}\n`);
  }, 60_000);

  it('the installed command serves a PHP page and a TypeScript app (compiled command, tsx loaded for the app only)', async () => {
    writeFileSync(
      join(project, 'app.ts'),
      `import type { IncomingMessage, ServerResponse } from 'node:http';
enum Greeting { Hello = 'hello from the app' }
export default (req: IncomingMessage, res: ServerResponse): void => {
  res.setHeader('content-type', 'text/plain');
  res.end(\`\${Greeting.Hello} \${req.url}\`);
};
`,
    );
    const { child, url, exited } = await startInstalled(['--app', 'app.ts']);
    expect(await (await fetch(`${url}/hello.php`)).text()).toBe('Hello from PHP');
    expect(await (await fetch(`${url}/new/route`)).text()).toBe('hello from the app /new/route');
    // It runs dist/bin/ (the command's bundle), not our TypeScript through tsx.
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline).toContain('--max-semi-space-size=2');
    // glibc keeps up to 32 MiB of freed heap instead of faulting it in again on the next responses.
    expect(readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0')).toContain('MALLOC_TRIM_THRESHOLD_=33554432');
    expect(cmdline.find((a) => a.endsWith('main.js'))).toMatch(/node_modules\/fpm-bridge\/dist\/bin\/main\.js$/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 90_000);

  it('a JavaScript app starts lean: no tsx, and nothing only some requests or flags need until they come', async () => {
    writeFileSync(join(project, 'app.mjs'), `export default (req, res) => res.end('js app ' + req.url);\n`);
    // What the process has loaded: packages through require (those imported from ESM are there too)
    // and Node's own modules, written by a preload as it changes.
    const listing = join(work, 'loaded.json');
    // Each listing carries the time it was taken; it is written to a side file and renamed, so the
    // test never reads half of one.
    writeFileSync(
      join(work, 'list-loaded.cjs'),
      `const fs = require('node:fs');\n` +
        `setInterval(() => { fs.writeFileSync(${JSON.stringify(listing + '.new')}, JSON.stringify({ at: Date.now(), names: [...Object.keys(require.cache), ...process.moduleLoadList] })); fs.renameSync(${JSON.stringify(listing + '.new')}, ${JSON.stringify(listing)}); }, 20).unref();\n`,
    );
    /** What was loaded by now: waits for a listing taken after this call (a loaded machine delays the timer). */
    const loaded = async () => {
      const since = Date.now();
      let names: string[] | undefined;
      for (let i = 0; i < 500 && names === undefined; i++) {
        await new Promise((r) => setTimeout(r, 20));
        try {
          const seen = JSON.parse(readFileSync(listing, 'utf8')) as { at: number; names: string[] };
          if (seen.at > since) names = seen.names;
        } catch {
          // Not written yet.
        }
      }
      if (names === undefined) throw new Error('the preload wrote no listing in 10 s');
      const packages = new Set(names.map((f) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1]).filter((p) => p !== undefined));
      const builtins = new Set(names.filter((n) => n.startsWith('NativeModule ')).map((n) => n.slice('NativeModule '.length)));
      return { packages, builtins };
    };
    const { child, url, exited } = await startInstalled(['--app', 'app.mjs'], { NODE_OPTIONS: `--require ${join(work, 'list-loaded.cjs')}` });
    expect(await (await fetch(`${url}/x`)).text()).toBe('js app /x');
    expect(await (await fetch(`${url}/hello.php`)).text()).toBe('Hello from PHP');
    // Measured on Node 20: tsx's loader +30 MiB idle RSS (a TypeScript app pays it), dotenv +6 MiB;
    // mime-types ~15 ms of start-up, node:http2 and node:tls ~10 ms.
    const before = await loaded();
    for (const lazy of ['tsx', 'dotenv', 'prom-client', 'node-fastcgi', 'mime-types']) expect(before.packages).not.toContain(lazy);
    // The small CommonJS packages it needs at once are in its bundle (scripts/build): none comes from
    // node_modules. (That the listing sees packages is shown by mime-types below.)
    for (const bundled of ['proxy-addr', 'etag', 'fresh', 'range-parser', 'mri', 'picocolors']) expect(before.packages).not.toContain(bundled);
    expect(before.builtins).toContain('http');
    // node:http2 only for HTTPS, unless Node itself loads it with node:http (22 and 24 do, for an ESM import).
    const { stdout: withHttp } = await run(process.execPath, ['--input-type=module', '-e', "import 'node:http'; console.log(process.moduleLoadList.includes('NativeModule http2'))"]);
    if (withHttp.trim() === 'false') expect(before.builtins).not.toContain('http2');
    // The first static file loads mime-types.
    const file = await fetch(`${url}/info.txt`);
    expect(file.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect((await loaded()).packages).toContain('mime-types');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 90_000);

  /** A script in the project that serves through createBridge and prints what a PHP page and an app route answered. */
  const embed = (load: string) => `${load}
const app = (req, res) => res.end('app: ' + req.url);
const bridge = createBridge({ fpm: process.argv[2], root: process.argv[3], app });
const server = http.createServer(bridge.handle).listen(0, '127.0.0.1', async () => {
  const base = 'http://127.0.0.1:' + server.address().port;
  const php = await (await fetch(base + '/hello.php')).text();
  const fromApp = await (await fetch(base + '/somewhere')).text();
  console.log(JSON.stringify({ php, fromApp }));
  server.close();
  await bridge.close();
});
`;

  it('import { createBridge } from a .mjs file', async () => {
    writeFileSync(join(project, 'embed.mjs'), embed(`import { createBridge } from 'fpm-bridge';\nimport http from 'node:http';`));
    const { stdout } = await run(process.execPath, ['embed.mjs', fpm.socket, FIXTURES], { cwd: project, env, timeout: 30_000 });
    expect(JSON.parse(stdout)).toEqual({ php: 'Hello from PHP', fromApp: 'app: /somewhere' });
  }, 40_000);

  it('require("fpm-bridge") from a .cjs file (require of ESM: Node 20.19+, 22.12+)', async () => {
    writeFileSync(join(project, 'embed.cjs'), embed(`const { createBridge } = require('fpm-bridge');\nconst http = require('node:http');`));
    const { stdout } = await run(process.execPath, ['embed.cjs', fpm.socket, FIXTURES], { cwd: project, env, timeout: 30_000 });
    expect(JSON.parse(stdout)).toEqual({ php: 'Hello from PHP', fromApp: 'app: /somewhere' });
  }, 40_000);

  it.each(['node16', 'bundler'])('a .ts file using createBridge type-checks with moduleResolution %s', async (resolution) => {
    writeFileSync(
      join(project, 'embed.ts'),
      `import http from 'node:http';
import { createBridge, listen, type Bridge, type BridgeOptions, type NodeListener } from 'fpm-bridge';
const app: NodeListener = (_req, res) => void res.end('app');
const options: BridgeOptions = { fpm: '/run/php/php-fpm.sock', root: 'public', app };
const bridge: Bridge = createBridge(options);
http.createServer(bridge.handle).listen(8080);
void listen({ ...options, listen: '127.0.0.1:8081' }).then((l) => l.close());
// @ts-expect-error root must be a string
createBridge({ fpm: '/run/php/php-fpm.sock', root: 42 });
`,
    );
    const module = resolution === 'node16' ? 'node16' : 'esnext';
    const tsconfig = join(project, `tsconfig.${resolution}.json`);
    writeFileSync(
      tsconfig,
      JSON.stringify({
        compilerOptions: {
          module,
          moduleResolution: resolution,
          target: 'es2022',
          strict: true,
          noEmit: true,
          // As most projects have it (and quicker); a type that failed to resolve would be any, and
          // the @ts-expect-error above would then have no error to expect.
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [relative(project, join(REPO, 'node_modules/@types'))],
        },
        files: ['embed.ts'],
      }),
    );
    const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', tsconfig], { cwd: project, env }).catch((err: { stdout: string }) => ({ stdout: err.stdout, failed: true }));
    expect(result.stdout).toBe('');
    expect('failed' in result).toBe(false);
  }, 120_000);
});
