// nginx-style rewrites (`--rewrite 'REGEX TARGET [flag]'`) against a real php-fpm: MediaWiki short
// URLs, legacy redirects, an API prefix to a script with the query dropped, and the same rules from a
// `--config` file through the real CLI.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { rawRequest, request, sleep, startBridge, type Running } from './support.ts';

const CLI = fileURLToPath(new URL('../../scripts/fpm-bridge.mjs', import.meta.url));

/** MediaWiki's index.php, reduced to what routing decides. */
const INDEX_PHP = `<?php
header('Content-Type: application/json');
echo json_encode([
    'script' => 'index',
    'title' => $_GET['title'] ?? null,
    'get' => $_GET,
    'REQUEST_URI' => $_SERVER['REQUEST_URI'],
    'QUERY_STRING' => $_SERVER['QUERY_STRING'],
    'SCRIPT_NAME' => $_SERVER['SCRIPT_NAME'],
    'SERVER_NAME' => $_SERVER['SERVER_NAME'],
], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
`;

const API_PHP = `<?php
header('Content-Type: application/json');
echo json_encode(['script' => 'api', 'route' => $_GET['route'] ?? null, 'get' => $_GET, 'QUERY_STRING' => $_SERVER['QUERY_STRING']], JSON_UNESCAPED_SLASHES);
`;

const REWRITES = [
  // MediaWiki short URLs ($wgArticlePath = "/wiki/$1"), as its nginx guide writes them.
  '^/wiki/(.*)$ /index.php?title=$1 last',
  // Legacy URLs: moved for good, and moved for now.
  '^/old-wiki/(.*)$ /wiki/$1 permanent',
  '^/preview/(.*)$ /wiki/$1 redirect',
  // An API prefix to a script; the trailing ? drops the client's query.
  '^/api/(.*)$ /api.php?route=$1?',
];

type Page = { script: string; title: string | null; get: Record<string, string>; REQUEST_URI: string; QUERY_STRING: string; SCRIPT_NAME: string; SERVER_NAME: string };

describe('--rewrite: MediaWiki short URLs, redirects, API prefix', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  let dir: string;
  let root: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-rewrites-'));
    root = join(dir, 'public');
    mkdirSync(root);
    writeFileSync(join(root, 'index.php'), INDEX_PHP);
    writeFileSync(join(root, 'api.php'), API_PHP);
    fpm = await startPhpFpm({ workers: 2 });
    bridge = await startBridge({ fpm: fpm.socket, root, rewrites: REWRITES, fpmConnections: 1 });
  }, 20_000);

  afterAll(async () => {
    await bridge?.close();
    await fpm?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const get = async (port: number, target: string) => {
    const res = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: wiki.test`);
    return { status: res.status, head: res.head, page: res.status === 200 ? (JSON.parse(res.body.toString()) as Page) : null };
  };

  it.each([
    // [request target, $_GET['title'], QUERY_STRING]
    ['/wiki/Main_Page', 'Main_Page', 'title=Main_Page'],
    ['/wiki/Main%20Page', 'Main Page', 'title=Main%20Page'],
    ['/wiki/Tom%20%26%20Jerry', 'Tom & Jerry', 'title=Tom%20%26%20Jerry'],
    // A raw & in the path stays in the title. nginx copies a capture into the query unescaped when the
    // request had no % or + (r->quoted_uri), so behind it this is title=Tom_ plus a stray "_Jerry" key.
    ['/wiki/Tom_&_Jerry', 'Tom_&_Jerry', 'title=Tom_%26_Jerry'],
    // nginx leaves = unescaped (title=A%2BB=C): the same $_GET either way.
    ['/wiki/A+B=C', 'A+B=C', 'title=A%2BB%3DC'],
    ['/wiki/Caf%C3%A9_%E2%82%AC', 'Café_€', 'title=Caf%C3%A9_%E2%82%AC'],
    ['/wiki/Talk:Main_Page/Archive_1', 'Talk:Main_Page/Archive_1', 'title=Talk:Main_Page/Archive_1'],
    ['/wiki/100%25', '100%', 'title=100%25'],
    ['/wiki/', '', 'title='],
  ])('%s runs index.php with title %j', async (target, title, queryString) => {
    const { status, page } = await get(bridge.port, target);
    expect(status).toBe(200);
    expect(page).toMatchObject({ script: 'index', title, REQUEST_URI: target, QUERY_STRING: queryString, SCRIPT_NAME: '/index.php' });
    expect(page!.get).toEqual({ title });
  });

  it("the client's query is appended to the target's (nginx's rule without a trailing ?)", async () => {
    const { page } = await get(bridge.port, '/wiki/Tom%20%26%20Jerry?action=edit&section=2');
    expect(page).toMatchObject({
      title: 'Tom & Jerry',
      get: { title: 'Tom & Jerry', action: 'edit', section: '2' },
      REQUEST_URI: '/wiki/Tom%20%26%20Jerry?action=edit&section=2',
      QUERY_STRING: 'title=Tom%20%26%20Jerry&action=edit&section=2',
      SCRIPT_NAME: '/index.php',
    });
  });

  it('paths no rule matches are routed as usual: /index.php?title=X directly, and a plain 404', async () => {
    const { page } = await get(bridge.port, '/index.php?title=Direct');
    expect(page).toMatchObject({ title: 'Direct', QUERY_STRING: 'title=Direct', REQUEST_URI: '/index.php?title=Direct' });
    expect((await get(bridge.port, '/wikipedia')).status).toBe(404);
  });

  it('permanent: 301 with Location, the query kept', async () => {
    const res = await request(bridge.port, '/old-wiki/Some%20Page?oldid=7');
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe('/wiki/Some%20Page?oldid=7');
    // And the Location leads to the page.
    const { page } = await get(bridge.port, res.headers.location!);
    expect(page).toMatchObject({ title: 'Some Page', get: { title: 'Some Page', oldid: '7' } });
  });

  it('redirect: 302 with Location', async () => {
    const res = await request(bridge.port, '/preview/Caf%C3%A9');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/wiki/Caf%C3%A9');
  });

  it('^/api/(.*)$ /api.php?route=$1? : the trailing ? drops the client\'s query', async () => {
    const res = await request(bridge.port, '/api/users/5?token=secret&x=1');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ script: 'api', route: 'users/5', get: { route: 'users/5' }, QUERY_STRING: 'route=users/5' });
  });

  describe('from the CLI: node scripts/fpm-bridge.mjs --config fpm-bridge.json', () => {
    let child: ChildProcess | undefined;

    afterAll(async () => {
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child!.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    });

    /** Runs the CLI to its exit; for the start-up errors. */
    function runToExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
      return new Promise((resolve, reject) => {
        const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        c.on('error', reject);
        c.on('exit', (code) => resolve({ code, stderr }));
      });
    }

    it('takes the rewrites (and a root relative to the file) from the JSON; a flag on the command line wins', async () => {
      const config = join(dir, 'fpm-bridge.json');
      writeFileSync(config, JSON.stringify({ root: 'public', rewrite: REWRITES, 'server-name': 'from-config', quiet: true }, null, 2));
      const port = await freePort();
      let stderr = '';
      // --fpm: the test's pool, so no php-fpm is spawned; run from another directory to show root is the file's.
      child = spawn(process.execPath, [CLI, '--config', config, '--listen', `127.0.0.1:${port}`, '--fpm', fpm.socket, '--server-name', 'from-cli'], {
        cwd: tmpdir(),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      const deadline = Date.now() + 8000;
      let first: Awaited<ReturnType<typeof get>> | undefined;
      while (!first) {
        if (child.exitCode !== null) throw new Error(`fpm-bridge exited with ${child.exitCode}:\n${stderr}`);
        if (Date.now() > deadline) throw new Error(`fpm-bridge did not listen on ${port}:\n${stderr}`);
        first = await get(port, '/wiki/Main%20Page?action=edit').catch(() => undefined);
        if (!first) await sleep(50);
      }
      expect(first.status).toBe(200);
      expect(first.page).toMatchObject({
        title: 'Main Page',
        get: { title: 'Main Page', action: 'edit' },
        QUERY_STRING: 'title=Main%20Page&action=edit',
        SCRIPT_NAME: '/index.php',
        SERVER_NAME: 'from-cli',
      });
      const moved = await get(port, '/old-wiki/X');
      expect(moved.status).toBe(301);
      expect(moved.head).toMatch(/^location: \/wiki\/X$/im);
      const api = await request(port, '/api/v1/items?drop=me');
      expect(JSON.parse(api.body.toString())).toMatchObject({ route: 'v1/items', get: { route: 'v1/items' } });
    });

    it('a bad regex on the command line is a start-up error naming --rewrite, exit code 2', async () => {
      const { code, stderr } = await runToExit(['--fpm', fpm.socket, '--root', root, '--rewrite', '^/wiki/(.*$ /index.php?title=$1 last']);
      expect(code).toBe(2);
      expect(stderr).toMatch(/--rewrite: bad regex in '\^\/wiki\/\(\.\*\$ \/index\.php\?title=\$1 last'/);
    });

    it('a bad regex in the config file too', async () => {
      const config = join(dir, 'bad.json');
      writeFileSync(config, JSON.stringify({ root: 'public', rewrite: ['^/ok/(.*)$ /index.php', '^/[z-a]$ /x.php'] }));
      const { code, stderr } = await runToExit(['--config', config, '--fpm', fpm.socket]);
      expect(code).toBe(2);
      expect(stderr).toContain('--rewrite: bad regex');
      expect(stderr).toContain('^/[z-a]$');
    });
  });
});
