// Test harness: private php-fpm and nginx instances, each in its own temp dir.
// Missing binaries make tests FAIL (never skip) with an install hint.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { findPhpFpm as findProductPhpFpm, isExecutableFile } from '../../src/fpm/find-binary.ts';
import { cutLifeline, killGroup, spawnWithLifeline } from '../../src/fpm/lifeline.ts';
import { canConnect } from '../../src/fpm/wait-socket.ts';

export interface PhpFpmOptions {
  maxRequests?: number;
  workers?: number;
  ini?: Record<string, string>;
  /** More pool directives, as written (`ping.path = /ping`). */
  pool?: string[];
}

export interface PhpFpm {
  socket: string;
  dir: string;
  pid: number;
  stop(): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  restart(): Promise<void>;
}

export interface NginxOptions {
  root: string;
  fpmSocket: string;
  extraServer?: string;
  /**
   * Replaces the default locations (`location /` with try_files and `location ~ \.php$`): for a
   * deployment routed differently (aurweb's PATH_INFO rewrite). Inserted as written; `extraServer`
   * still follows it.
   */
  locations?: string;
  /** Inserted in the http block, before the server (an upstream with keepalive). */
  extraHttp?: string;
}

export interface Nginx {
  port: number;
  dir: string;
  stop(): Promise<void>;
}

const isRoot = process.getuid?.() === 0;

// ---------------------------------------------------------------- binaries

function searchDirs(): string[] {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const d of ['/usr/sbin', '/usr/local/sbin']) if (!dirs.includes(d)) dirs.push(d);
  return dirs;
}

function findBinary(name: string, dirs: string[]): string | undefined {
  for (const dir of dirs) {
    const p = join(dir, name);
    if (isExecutableFile(p)) return p;
  }
  return undefined;
}

/** The product's own lookup (src/fpm/find-binary.ts); missing php-fpm fails the test with the fix. */
export function findPhpFpm(): string {
  try {
    return findProductPhpFpm();
  } catch {
    throw new Error(
      'php-fpm is missing: no php-fpm / php-fpm8.x binary on PATH or in /usr/sbin. ' +
        'Install it with: bash scripts/install-php-fpm',
    );
  }
}

export function findNginx(): string {
  const bin = findBinary('nginx', searchDirs());
  if (!bin) {
    throw new Error(
      'nginx is missing: no nginx binary on PATH or in /usr/sbin. ' +
        'Install it with: bash scripts/install-php-fpm --with-nginx',
    );
  }
  return bin;
}

// ---------------------------------------------------------------- utilities

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('freePort: unexpected address'));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '(no log)';
  }
}

/** Poll until `target` accepts a connection; fail early if the process died. */
async function waitForListen(
  what: string,
  child: ChildProcess,
  target: { path: string } | { port: number; host: string },
  logs: () => string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (code ${child.exitCode}, signal ${child.signalCode}) before listening.\n${logs()}`);
    }
    if (await canConnect(target)) return;
    await sleep(25);
  }
  throw new Error(`${what} did not accept connections within ${timeoutMs} ms.\n${logs()}`);
}

/** Direct children of `pid` (Linux /proc; empty elsewhere). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // fields after the ")" of the command name: state ppid ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      // process vanished
    }
  }
  return out;
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * SIGTERM, then SIGKILL (master and its workers) after `graceMs`; resolves on exit. Then the rest of
 * the instance's process group goes too (the lifeline's watchdog, a worker left behind), and the
 * lifeline is cut.
 */
async function terminate(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (!exited(child) && child.pid !== undefined) {
    const pid = child.pid;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const c of childPids(pid)) trySignal(c, 'SIGKILL');
      child.kill('SIGKILL');
    }, graceMs);
    await done;
    clearTimeout(timer);
  }
  killGroup(child, 'SIGKILL');
  cutLifeline(child);
}

/**
 * Starts a server under the product's lifeline (src/fpm/lifeline.ts): when this test process dies in
 * a way no hook of ours sees (a SIGTERM or SIGKILL to vitest), the watchdog stops the server's process
 * group and removes `dir`. The exit hook below only covers a normal exit.
 */
function spawnTracked(bin: string, args: readonly string[], dir: string): ChildProcess {
  const child = spawnWithLifeline(bin, args, dir);
  track(child, dir);
  return child;
}

// Kill everything still running if the test process exits without cleanup.
// Only synchronous work is possible here; SIGTERM lets the masters reap workers.
const live = new Map<ChildProcess, string>(); // child -> its temp dir
let exitHookInstalled = false;
function track(child: ChildProcess, dir: string): void {
  live.set(child, dir);
  child.once('exit', () => live.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [c, d] of live) {
      if (c.pid !== undefined) {
        const kids = childPids(c.pid);
        trySignal(c.pid, 'SIGTERM');
        for (const k of kids) trySignal(k, 'SIGTERM');
      }
      rmSync(d, { recursive: true, force: true });
    }
  });
}

// ---------------------------------------------------------------- php-fpm

export async function startPhpFpm(opts: PhpFpmOptions = {}): Promise<PhpFpm> {
  const bin = findPhpFpm();
  const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-php-'));
  const socket = join(dir, 'php-fpm.sock');
  const conf = join(dir, 'php-fpm.conf');
  const log = join(dir, 'php-fpm.log');

  const lines = [
    '[global]',
    `pid = ${join(dir, 'php-fpm.pid')}`,
    `error_log = ${log}`,
    'log_level = notice',
    'daemonize = no',
    '',
    '[test]',
    // No user/group: ignored (with a notice) when not root; when root, -R plus
    // no user keeps the workers running as root.
    `listen = ${socket}`,
    'listen.mode = 0666',
    'pm = static',
    `pm.max_children = ${opts.workers ?? 4}`,
    `pm.max_requests = ${opts.maxRequests ?? 0}`,
    'catch_workers_output = yes',
    'decorate_workers_output = no',
    'clear_env = no',
    'security.limit_extensions = .php',
    ...Object.entries(opts.ini ?? {}).map(([k, v]) => `php_admin_value[${k}] = ${v}`),
    ...(opts.pool ?? []),
    '',
  ];
  writeFileSync(conf, lines.join('\n'));

  // opcache.enable as php_admin_value makes PHP warn on every request
  // ("can't be temporary enabled"), so it goes on the command line instead.
  const args = ['-F', '-y', conf, '-d', 'opcache.enable=1', ...(isRoot ? ['-R'] : [])];
  let child: ChildProcess;

  const launch = async () => {
    child = spawnTracked(bin, args, dir);
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    try {
      await waitForListen('php-fpm', child, { path: socket }, () => `php-fpm log (${log}):\n${readLog(log)}\nstderr:\n${stderr}`);
    } catch (err) {
      await terminate(child);
      throw err;
    }
  };

  try {
    await launch();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    socket,
    dir,
    get pid() {
      return child.pid ?? -1;
    },
    kill(signal: NodeJS.Signals) {
      child.kill(signal);
    },
    async restart() {
      await terminate(child);
      await launch();
    },
    async stop() {
      await terminate(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- nginx

// Debian's /etc/nginx/snippets/fastcgi-php.conf and /etc/nginx/fastcgi.conf,
// used only where those files do not exist.
const FASTCGI_PHP_FALLBACK = `fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
try_files $fastcgi_script_name =404;
set $path_info $fastcgi_path_info;
fastcgi_param PATH_INFO $path_info;
fastcgi_index index.php;
include fastcgi.conf;
`;

const FASTCGI_CONF_FALLBACK = `fastcgi_param  SCRIPT_FILENAME    $document_root$fastcgi_script_name;
fastcgi_param  QUERY_STRING       $query_string;
fastcgi_param  REQUEST_METHOD     $request_method;
fastcgi_param  CONTENT_TYPE       $content_type;
fastcgi_param  CONTENT_LENGTH     $content_length;
fastcgi_param  SCRIPT_NAME        $fastcgi_script_name;
fastcgi_param  REQUEST_URI        $request_uri;
fastcgi_param  DOCUMENT_URI       $document_uri;
fastcgi_param  DOCUMENT_ROOT      $document_root;
fastcgi_param  SERVER_PROTOCOL    $server_protocol;
fastcgi_param  REQUEST_SCHEME     $scheme;
fastcgi_param  HTTPS              $https if_not_empty;
fastcgi_param  GATEWAY_INTERFACE  CGI/1.1;
fastcgi_param  SERVER_SOFTWARE    nginx/$nginx_version;
fastcgi_param  REMOTE_ADDR        $remote_addr;
fastcgi_param  REMOTE_PORT        $remote_port;
fastcgi_param  REMOTE_USER        $remote_user;
fastcgi_param  SERVER_ADDR        $server_addr;
fastcgi_param  SERVER_PORT        $server_port;
fastcgi_param  SERVER_NAME        $server_name;
fastcgi_param  REDIRECT_STATUS    200;
`;

function copyOrDefault(src: string, dest: string, fallback: string): void {
  writeFileSync(dest, existsSync(src) ? readFileSync(src) : fallback);
}

export async function startNginxFpm(opts: NginxOptions): Promise<Nginx> {
  const bin = findNginx();
  const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-nginx-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const errorLog = join(dir, 'error.log');

  // Relative includes resolve against the directory of nginx.conf (our dir),
  // so put copies of Debian's snippet and fastcgi.conf there.
  mkdirSync(join(dir, 'snippets'));
  copyOrDefault('/etc/nginx/snippets/fastcgi-php.conf', join(dir, 'snippets', 'fastcgi-php.conf'), FASTCGI_PHP_FALLBACK);
  copyOrDefault('/etc/nginx/fastcgi.conf', join(dir, 'fastcgi.conf'), FASTCGI_CONF_FALLBACK);
  const mime = existsSync('/etc/nginx/mime.types')
    ? 'include /etc/nginx/mime.types;'
    : 'types { text/html html; text/css css; application/javascript js; text/plain txt; }';

  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  writeFileSync(
    conf,
    `# generated by test/helpers/php-fpm.ts
${isRoot ? 'user root;' /* workers must traverse the 0700 temp dir */ : ''}
worker_processes 1;
error_log ${errorLog} notice;
pid ${join(dir, 'nginx.pid')};
events { worker_connections 1024; }
http {
  ${mime}
  default_type application/octet-stream;
  access_log ${join(dir, 'access.log')};
  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}
${opts.extraHttp ?? ''}
  server {
    listen 127.0.0.1:${port};
    server_name localhost;
    root ${opts.root};
    index index.php index.html;
${opts.locations ?? `    location / { try_files $uri $uri/ =404; }
    location ~ \\.php$ {
      include snippets/fastcgi-php.conf;
      fastcgi_pass unix:${opts.fpmSocket};
    }`}
${opts.extraServer ?? ''}
  }
}
`,
  );

  // -e (nginx >= 1.19.5) keeps nginx from opening /var/log/nginx/error.log
  // before it has read the config, which fails when not root.
  const child = spawnTracked(bin, ['-p', dir, '-c', conf, '-e', errorLog, '-g', 'daemon off;'], dir);
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });

  const stop = async () => {
    await terminate(child);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await waitForListen('nginx', child, { port, host: '127.0.0.1' }, () => `nginx error log:\n${readLog(errorLog)}\nstderr:\n${stderr}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, dir, stop };
}
