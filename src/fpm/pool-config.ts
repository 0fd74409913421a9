import { join } from 'node:path';

export interface PoolConfigInput {
  /** The private directory (mode 0700) that holds the socket, pid file, log and the config itself. */
  dir: string;
  /** pm.max_children of the static pool. */
  workers: number;
  /** `--max-body`: PHP's post_max_size and upload_max_filesize are set to it, so PHP never refuses less. */
  maxBodyBytes: number;
  /** A worker is replaced after this many requests (leaks in long-lived PHP code stay bounded). */
  maxRequests?: number;
  /** `--php-ini K=V`, in order. */
  ini?: ReadonlyArray<readonly [string, string]>;
  /** `--php-fpm-conf FILE`: appended inside the pool section. */
  extraConf?: { path: string; text: string } | undefined;
  /**
   * Names of the variables PHP sees (`env[NAME] = $NAME`: php-fpm copies the value from its own
   * environment, so no value is ever quoted into this file). Everything else is cleared.
   */
  env?: readonly string[];
  /** Development mode: PHP's errors shown in the page, as php.ini-development does; else hidden. */
  dev?: boolean;
  /** `--xdebug`: the -d settings that load Xdebug (from xdebugIni) go on the command line. */
  xdebugIni?: ReadonlyArray<readonly [string, string]>;
  /** Running as root: php-fpm then needs -R to keep root workers (no `user` is set, on purpose). */
  asRoot: boolean;
}

export interface PoolConfig {
  /** The php-fpm.conf text. */
  text: string;
  conf: string;
  socket: string;
  pidFile: string;
  logFile: string;
  /** php-fpm's arguments (without the binary). */
  args: string[];
  /** 1-based line of the config where the --php-fpm-conf text starts, to map php-fpm's error lines back. */
  extraConfLine: number | undefined;
}

export const POOL_NAME = 'fpm-bridge';
export const DEFAULT_MAX_REQUESTS = 500;

/** Two workers per CPU, at least 2 (one slow request must not block the page), at most 8 (a dev box). */
export function defaultWorkers(cpus: number): number {
  return Math.max(2, Math.min(8, cpus * 2));
}

/**
 * pm.max_children set by a --php-fpm-conf snippet. It comes after ours, and php-fpm keeps the last
 * value of a directive, so it is the real worker count (and the bridge's connection limit).
 */
export function maxChildrenIn(snippet: string): number | undefined {
  let found: number | undefined;
  for (const m of snippet.matchAll(/^[ \t]*pm\.max_children[ \t]*=[ \t]*"?(\d+)"?[ \t]*(?:;.*)?$/gm)) found = Number(m[1]);
  return found;
}

/**
 * Settings a running worker cannot take through php_value: opcache and extensions are set up when
 * PHP starts (opcache.enable as php_value even warns on every request), disable_* only work from
 * php.ini, xdebug reads its mode at start. These go on the command line as -d, which is php.ini.
 */
export function isStartupOnlyIni(key: string): boolean {
  return /^(opcache\.|xdebug\.|apc\.)/.test(key) || ['extension', 'zend_extension', 'disable_functions', 'disable_classes'].includes(key);
}

/** A php.ini key: what PHP itself accepts in a `php_value[...]` or `-d`. */
export function isIniKey(key: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key);
}

/**
 * The whole php-fpm configuration for one private, static pool. Pure: the caller writes the file.
 *
 * Values after `=` are php.ini syntax (`E_ALL & ~E_NOTICE` is an expression, quotes are yours), as in
 * php.ini and on php's -d; only a line break is refused, since it would start a directive of its own.
 */
export function poolConfig(input: PoolConfigInput): PoolConfig {
  const conf = join(input.dir, 'php-fpm.conf');
  const socket = join(input.dir, 'php-fpm.sock');
  const pidFile = join(input.dir, 'php-fpm.pid');
  const logFile = join(input.dir, 'php-fpm.log');
  const maxBody = String(Math.max(1, Math.floor(input.maxBodyBytes)));
  const ini = input.ini ?? [];
  for (const [key, value] of ini) {
    if (!isIniKey(key)) throw new Error(`not a php.ini key: "${key}"`);
    if (/[\r\n\0]/.test(value)) throw new Error(`php.ini value of ${key} has a line break`);
  }
  const poolIni = ini.filter(([key]) => !isStartupOnlyIni(key));
  // Xdebug's own settings first: a --php-ini xdebug.* given by the user comes later and wins.
  const startupIni = [...(input.xdebugIni ?? []), ...ini.filter(([key]) => isStartupOnlyIni(key))];
  const env = input.env ?? [];
  for (const name of env) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not an environment variable name: "${name}"`);

  const lines = [
    '; Written by fpm-bridge for the php-fpm it spawns; removed when it stops.',
    '[global]',
    `pid = ${pidFile}`,
    // A file, not stderr: node gives a child a socketpair, which php-fpm cannot reopen through
    // /proc/self/fd/2 (ENXIO). fpm-bridge tails this file.
    `error_log = ${logFile}`,
    'log_level = notice',
    'daemonize = no',
    // On SIGQUIT (our stop), workers get this long to finish the request in hand.
    'process_control_timeout = 2s',
    '',
    `[${POOL_NAME}]`,
    // No user/group: ignored when not root; when root, -R keeps the workers as root like the bridge,
    // which is what a developer running `sudo fpm-bridge` gets from `php -S` too.
    `listen = ${socket}`,
    // The socket lives in a 0700 directory and only our own user may connect.
    'listen.mode = 0600',
    // Static: every request finds a worker ready; the bridge's connection pool is sized to match.
    'pm = static',
    `pm.max_children = ${input.workers}`,
    `pm.max_requests = ${input.maxRequests ?? DEFAULT_MAX_REQUESTS}`,
    // What workers write to stderr shows in fpm-bridge's terminal, without php-fpm's prefix.
    'catch_workers_output = yes',
    'decorate_workers_output = no',
    // PHP does not see the bridge's environment (a secret meant for the app stays the app's), as
    // Debian's pools: only the variables named here (--env-file, --php-env, PATH), copied by php-fpm
    // from its own environment.
    'clear_env = yes',
    ...env.map((name) => `env[${name}] = $${name}`),
    `php_admin_value[post_max_size] = ${maxBody}`,
    `php_admin_value[upload_max_filesize] = ${maxBody}`,
    // Development mode shows PHP's errors in the page, as php.ini-development does; production mode
    // hides them. Logged either way (to stderr, which the bridge prints under the request). php_value:
    // --php-ini and ini_set() still decide.
    ...(input.dev
      ? ['php_value[display_errors] = On', 'php_value[display_startup_errors] = On', 'php_value[error_reporting] = E_ALL', 'php_value[html_errors] = On', 'php_value[zend.exception_ignore_args] = Off']
      : ['php_value[display_errors] = Off', 'php_value[display_startup_errors] = Off']),
    'php_value[log_errors] = On',
    ...poolIni.map(([key, value]) => `php_value[${key}] = ${value}`),
  ];
  let extraConfLine: number | undefined;
  if (input.extraConf) {
    lines.push('', `; --php-fpm-conf ${input.extraConf.path}`);
    extraConfLine = lines.length + 1;
    lines.push(...input.extraConf.text.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n'));
  }
  lines.push('');

  const args = ['-F', '-y', conf, ...startupIni.flatMap(([key, value]) => ['-d', `${key}=${value}`])];
  if (input.asRoot) args.push('-R');
  return { text: lines.join('\n'), conf, socket, pidFile, logFile, args, extraConfLine };
}
