// The servers scripts/bench compares, each as a config written into the bench's temp dir.
//
// Backends (php-fpm, the bare Node server, `php -S`) run for the whole bench. The fronts are started
// and stopped around their own measurements, every round: a front that keeps FastCGI connections open
// (fpm-bridge, nginx with fastcgi_keep_conn) holds a php-fpm worker per idle connection, so two such
// fronts alive at once could starve each other of the 4 workers they share.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { benchTmp, findBinary, freePort, requireBinary, startServer, type Proc } from './bench-procs.ts';

const isRoot = process.getuid?.() === 0;

export interface Paths {
  /** Repo root (absolute). */
  repo: string;
  /** The bench docroot, php/bench/docroot. */
  docroot: string;
  /** The bench app as the fronts load it: php/bench/app.ts compiled to JavaScript in the bench's temp dir. */
  app: string;
  /** Its TypeScript source, php/bench/app.ts (the start-up check also loads it through tsx). */
  appTs: string;
}

export interface Backends {
  fpmSocket: string;
  fpmWorkers: number;
  nodePort: number;
  /** `php -S`, when php-cli exists. */
  phpSPort: number | null;
  procs: Proc[];
}

/** A running front: where to send requests, and its process (for RSS). */
export interface Running {
  port: number;
  proc: Proc;
}

export interface Front {
  id: string;
  /** Long-lived backends are measured as fronts too, but never stopped between rounds. */
  persistent: boolean;
  start(): Promise<Running>;
}

// ---------------------------------------------------------------- backends

export async function startPhpFpm(workers: number): Promise<{ socket: string; proc: Proc }> {
  const bin = requireBinary('php-fpm', 'php-fpm', 'php-fpm8.4', 'php-fpm8.3', 'php-fpm8.2', 'php-fpm8.1', 'php-fpm82', 'php-fpm83');
  const dir = join(benchTmp(), 'php-fpm');
  mkdirSync(dir);
  const socket = join(dir, 'php-fpm.sock');
  const conf = join(dir, 'php-fpm.conf');
  writeFileSync(
    conf,
    [
      '[global]',
      `pid = ${join(dir, 'php-fpm.pid')}`,
      `error_log = ${join(dir, 'php-fpm-error.log')}`,
      'daemonize = no',
      '[bench]',
      // No user/group: as root, -R keeps the workers root (the docroot may be 0700 in a private clone).
      `listen = ${socket}`,
      'listen.mode = 0666',
      'pm = static',
      `pm.max_children = ${workers}`,
      'pm.max_requests = 0',
      'clear_env = no',
      '',
    ].join('\n'),
  );
  // opcache.enable as a pool php_admin_value warns on every request; on the command line it does not.
  const args = ['-F', '-y', conf, '-d', 'opcache.enable=1', ...(isRoot ? ['-R'] : [])];
  const proc = await startServer('php-fpm', bin, args, { path: socket });
  return { socket, proc };
}

/** The bare Node `http` server running the bench app: the ceiling, and the Node backend of the nginx setups. */
export async function startNodeHello(paths: Paths): Promise<{ port: number; proc: Proc }> {
  const port = await freePort();
  const script = join(paths.repo, 'scripts', 'bench-node-hello.ts');
  const proc = await startServer('node-hello', process.execPath, ['--import', 'tsx', script, String(port), paths.app], { host: '127.0.0.1', port });
  return { port, proc };
}

/** `php -S`, one worker (its default), quiet (-q: no request log, like the other fronts here). */
export async function startPhpS(paths: Paths): Promise<{ port: number; proc: Proc } | null> {
  const php = findBinary('php', 'php8.2');
  if (!php) return null;
  const port = await freePort();
  const args = ['-d', 'opcache.enable=1', '-d', 'opcache.enable_cli=1', '-q', '-S', `127.0.0.1:${port}`, '-t', paths.docroot];
  const proc = await startServer('php-S', php, args, { host: '127.0.0.1', port });
  return { port, proc };
}

// ---------------------------------------------------------------- nginx

/** The nginx variants, all on Debian's snippets/fastcgi-php.conf. Each gets its own nginx instance. */
export type NginxVariant = 'plain' | 'keepalive' | 'error-page' | 'seed' | 'gzip' | 'ssl';

function nginxServerBody(variant: NginxVariant, b: Backends, keepalive: number): { upstream: string; locations: string } {
  const php = (extra: string) => `location ~ \\.php$ {
      include snippets/fastcgi-php.conf;
      ${extra}
    }`;
  switch (variant) {
    case 'plain':
      // What a stock Debian site does: a new FastCGI connection per request.
      return { upstream: '', locations: `location / { try_files $uri $uri/ =404; }\n    ${php(`fastcgi_pass unix:${b.fpmSocket};`)}` };
    case 'keepalive':
      // Kept-alive FastCGI connections: the best nginx can do with php-fpm.
      return {
        upstream: `upstream php { server unix:${b.fpmSocket}; keepalive ${keepalive}; }`,
        locations: `location / { try_files $uri $uri/ =404; }\n    ${php('fastcgi_keep_conn on;\n      fastcgi_pass php;')}`,
      };
    case 'gzip':
      // Debian's site with gzip on, at fpm-bridge's gzip level (5), for the compression case.
      return {
        upstream: 'gzip on; gzip_comp_level 5; gzip_vary on; gzip_types text/html text/css application/json application/javascript;',
        locations: `location / { try_files $uri $uri/ =404; }\n    ${php(`fastcgi_pass unix:${b.fpmSocket};`)}`,
      };
    case 'ssl':
      // The plain site on HTTPS with HTTP/2 offered (wrk speaks HTTP/1.1 over TLS to both fronts).
      return { upstream: '', locations: `location / { try_files $uri $uri/ =404; }\n    ${php(`fastcgi_pass unix:${b.fpmSocket};`)}` };
    case 'error-page':
      // The nginx way to hand PHP's 404 to Node: intercept it and re-run the request in a named location.
      return {
        upstream: '',
        locations: `location / { try_files $uri $uri/ =404; }
    ${php(`fastcgi_pass unix:${b.fpmSocket};\n      fastcgi_intercept_errors on;\n      error_page 404 = @node;`)}
    location @node { proxy_pass http://127.0.0.1:${b.nodePort}; }`,
      };
    case 'seed':
      // The seed's setup, verbatim but for the addresses: PHP (`php -S`) over HTTP, Node as the backup
      // that gets the request again when PHP answers 404.
      return {
        upstream: `upstream seed {
    server 127.0.0.1:${b.phpSPort} max_fails=0;
    server 127.0.0.1:${b.nodePort} backup max_fails=0;
  }`,
        locations: `location / {
      proxy_pass http://seed;
      proxy_next_upstream http_404 non_idempotent;
    }`,
      };
  }
}

function writeNginxConf(dir: string, port: number, variant: NginxVariant, b: Backends, paths: Paths, workers: string): string {
  // Relative includes resolve against nginx.conf's directory: copy Debian's snippet and fastcgi.conf there.
  mkdirSync(join(dir, 'snippets'));
  for (const f of ['snippets/fastcgi-php.conf', 'fastcgi.conf']) {
    const src = join('/etc/nginx', f);
    if (!existsSync(src)) throw new Error(`${src} is missing (it comes with Debian's nginx-common); run: bash scripts/install-php-fpm --with-bench`);
    copyFileSync(src, join(dir, f));
  }
  // keepalive 1 (as measured in issue 5): every idle kept connection holds a php-fpm worker, while
  // the connections nginx opens beyond the cache wait in php-fpm's backlog for one; with 2+ per nginx
  // worker, p99 went to 400-750 ms here. BENCH_NGINX_KEEPALIVE overrides, to try other values.
  const keepalive = Number(process.env.BENCH_NGINX_KEEPALIVE) || 1;
  const { upstream, locations } = nginxServerBody(variant, b, keepalive);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((n) => `${n}_temp_path ${join(dir, n)};`).join(' ');
  const conf = join(dir, 'nginx.conf');
  // Debian's nginx.conf defaults where they matter (worker_processes auto, sendfile, tcp_nopush);
  // access_log off because every other front here runs without a request log too.
  writeFileSync(
    conf,
    `${isRoot ? 'user root;' : ''}
worker_processes ${workers};
error_log ${join(dir, 'error.log')} warn;
pid ${join(dir, 'nginx.pid')};
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  access_log off;
  client_max_body_size 8m;
  ${temp}
  ${upstream}
  server {
    listen 127.0.0.1:${port}${variant === 'ssl' ? ` ssl http2;\n    ssl_certificate ${benchCert().cert};\n    ssl_certificate_key ${benchCert().key};\n    keepalive_requests 1000000` : ''};
    server_name localhost;
    root ${paths.docroot};
    index index.php index.html;
    ${locations}
  }
}
`,
  );
  return conf;
}

export function nginxFront(id: string, variant: NginxVariant, b: Backends, paths: Paths, workers: string): Front {
  const bin = requireBinary('nginx', 'nginx');
  let n = 0;
  return {
    id,
    persistent: false,
    async start() {
      const dir = join(benchTmp(), `${id}-${++n}`);
      mkdirSync(dir);
      const port = await freePort();
      const conf = writeNginxConf(dir, port, variant, b, paths, workers);
      // -e: nginx would open /var/log/nginx/error.log before reading the config otherwise.
      const args = ['-p', dir, '-c', conf, '-e', join(dir, 'error.log'), '-g', 'daemon off;'];
      const proc = await startServer(id, bin, args, { host: '127.0.0.1', port });
      return { port, proc };
    },
  };
}

// ---------------------------------------------------------------- the others

/** Caddy's `php_fastcgi` on the same pool; only when caddy is installed (it is optional). */
export function caddyFront(b: Backends, paths: Paths): Front | null {
  const bin = findBinary('caddy');
  if (!bin) return null;
  let n = 0;
  return {
    id: 'caddy',
    persistent: false,
    async start() {
      const dir = join(benchTmp(), `caddy-${++n}`);
      mkdirSync(dir);
      const port = await freePort();
      const conf = join(dir, 'Caddyfile');
      writeFileSync(
        conf,
        `{
  admin off
  auto_https off
  storage file_system ${dir}
}
http://127.0.0.1:${port} {
  root * ${paths.docroot}
  php_fastcgi unix/${b.fpmSocket}
  file_server
}
`,
      );
      // HOME/XDG point into the temp dir so caddy writes nothing under the real home.
      const env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
      const proc = await startServer('caddy', bin, ['run', '--config', conf, '--adapter', 'caddyfile'], { host: '127.0.0.1', port }, env);
      return { port, proc };
    },
  };
}

/** One self-signed certificate for 127.0.0.1, for both HTTPS fronts (made once per run with openssl). */
let cert: { cert: string; key: string } | undefined;
export function benchCert(): { cert: string; key: string } {
  if (cert) return cert;
  const dir = join(benchTmp(), 'tls');
  mkdirSync(dir, { recursive: true });
  const c = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  execFileSync(requireBinary('openssl', 'openssl'), ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', c.key, '-out', c.cert], { stdio: 'ignore' });
  cert = c;
  return c;
}

/** fpm-bridge on the same pool, with the bench app for the fallback paths, as a user would run it. */
export function bridgeFront(
  b: Backends,
  paths: Paths,
  workers = 1,
  extra: { ledger?: { on: boolean; nodeBin: string }; tls?: boolean; variant?: { id: string; args: string[] } } = {},
): Front {
  const { ledger, tls = false, variant } = extra;
  // `variant`: the same front with more flags (`bridge-shadow`: --shadow on the hello route).
  const id = variant?.id ?? (ledger ? `bridge-ledger-${ledger.on ? 'on' : 'off'}` : tls ? 'bridge-tls' : workers > 1 ? `bridge-w${workers}` : 'bridge');
  return {
    id,
    persistent: false,
    async start() {
      const port = await freePort();
      const args = [
        '--fpm', b.fpmSocket,
        '--root', paths.docroot,
        '--app', paths.app,
        '--listen', `127.0.0.1:${port}`,
        ...(tls ? ['--cert', benchCert().cert, '--key', benchCert().key] : []),
        '--fpm-connections', String(b.fpmWorkers),
        '--quiet',
        ...(workers > 1 ? ['--workers', String(workers)] : []),
        // The ledger is on by default (on a Node with node:sqlite): its file goes to the bench's temp dir.
        ...(ledger && !ledger.on ? ['--no-ledger'] : ['--ledger', join(benchTmp(), `ledger-${id}.sqlite`)]),
        ...(variant?.args ?? []),
      ];
      // The ledger A/B runs both sides on a Node that has node:sqlite (the bench's own, or Node 22's).
      const env = ledger ? { ...process.env, PATH: `${dirname(ledger.nodeBin)}:${process.env.PATH ?? ''}` } : undefined;
      // The fpm-bridge command itself (it execs node with its V8 settings), as a user runs it.
      const proc = await startServer('fpm-bridge', join(paths.repo, 'scripts', 'fpm-bridge'), args, { host: '127.0.0.1', port }, env);
      return { port, proc };
    },
  };
}

/** A backend that already runs, measured as a front of its own. */
export function persistentFront(id: string, port: number, proc: Proc): Front {
  return { id, persistent: true, start: async () => ({ port, proc }) };
}
