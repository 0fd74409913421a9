import { resolve } from 'node:path';
import type { AppExport } from '../app/app-module.ts';
import type { CompressOptions } from '../http/compress-response.ts';
import type { ServerLimits } from '../http/listen.ts';
import type { Logger } from '../log/logger.ts';
import type { ShadowOptions } from '../shadow/shadow-config.ts';

/** Everything a bridge can be told; the CLI flags map onto these one to one (the shadow's: shadow/shadow-config.ts). */
export interface BridgeOptions extends ServerLimits, ShadowOptions {
  /**
   * php-fpm's address: a unix socket path, `host:port` or a port. Several (`['a.sock', '10.0.0.2:9000
   * weight=2']`): balanced by least outstanding requests, a pool that cannot be reached is skipped
   * for a while and its requests go to the others (fastcgi/pool-set.ts).
   */
  fpm: string | readonly string[];
  /** Document root (nginx `root`, `php -S -t`). */
  root: string;
  /** The new backend. Without it the bridge is a plain front for PHP, like nginx. */
  app?: AppExport | undefined;
  /** Front controller run for any path that is no file (`--index index.php`). */
  frontController?: string | undefined;
  /** PATH_INFO front controller mode: every path that is no script runs the front controller as PATH_INFO. */
  pathInfo?: boolean;
  /** In PATH_INFO mode, existing static files are served first. */
  pathInfoStatic?: boolean;
  /** nginx-style rewrites, `REGEX TARGET [last|break|redirect|permanent]`, applied in order. */
  rewrites?: readonly string[];
  /** How long docroot lookups and small static files (up to 64 KiB) are remembered, in ms (0: not at all). */
  statCacheMs?: number;
  /**
   * Serve and run files reached through symlinks that lead out of the document root (nginx's default,
   * `--follow-symlinks`). Off by default: such a path is treated as absent (SECURITY.md).
   */
  followSymlinks?: boolean;
  /** Index files for a directory request. */
  indexFiles?: readonly string[];
  /** Largest request body accepted, in bytes (413 beyond). */
  maxBody?: number;
  /** Bodies larger than this are spooled to a file in `spoolDir` instead of memory. */
  bodyMemoryLimit?: number;
  /**
   * Most bytes of request bodies held in memory at once, across all connections; past it bodies are
   * spooled to disk (issue 9: 300 slow 1 MiB uploads no longer cost 300 MiB that stay allocated).
   */
  bodyMemoryBudget?: number;
  /**
   * Where the bridge makes its private spool directory (`fpm-bridge-spool-<pid>-XXXXXX`, 0700) for
   * bodies past the memory limits; default: the OS temp dir. Files in it are 0600, randomly named and
   * removed when their response ends; the directory is removed on close, and a later bridge removes
   * one left by a killed process.
   */
  spoolDir?: string;
  /** Extra FastCGI params (`--param NAME=VALUE`), sent after the built-in ones. */
  params?: ReadonlyArray<readonly [string, string]>;
  serverName?: string | undefined;
  fpmConnections?: number;
  fpmQueue?: number;
  /** Longest a request waits for a free php-fpm connection; then 503 + Retry-After (0: no limit). */
  fpmQueueTimeoutMs?: number;
  /**
   * A client that takes no byte of a response for this long is cut (nginx send_timeout, 60 s). The
   * php-fpm worker is free long before: past a window its answer is spooled (SECURITY.md).
   */
  sendTimeoutMs?: number;
  connectTimeoutMs?: number;
  responseTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** A request body that sends nothing for this long is answered 408 (nginx client_body_timeout). */
  bodyTimeoutMs?: number;
  /** The app must finish its response within this; else 504 (or a cut connection once it started). */
  appTimeoutMs?: number;
  /**
   * Proxies whose X-Forwarded-For/-Proto/-Host are believed (`--trust-proxy`): addresses or CIDR
   * ranges, or `loopback`, `linklocal`, `uniquelocal`. From any other peer those headers are only
   * passed on as HTTP_X_FORWARDED_*, never as REMOTE_ADDR, HTTPS or HTTP_HOST.
   */
  trustProxy?: readonly string[];
  /**
   * Routes the app owns (`--claim`): `[!][METHODS ]/path` patterns (route/claim-pattern.ts). A claimed
   * request goes to the app first; its 404 gives the request to PHP (body replayed), unless `!` strict.
   */
  claims?: readonly string[];
  /** `php-first` (default): PHP, then the app on PHP's 404. `app-first`: the app, then PHP on the app's 404. */
  order?: 'php-first' | 'app-first';
  /**
   * Response compression (brotli, zstd where Node has it, gzip) of PHP, static and app responses by
   * Accept-Encoding (http/compress-response.ts). On by default (`--no-compress`, `false`: off); an
   * object sets the codings and levels.
   */
  compress?: boolean | CompressOptions;
  /**
   * `--sendfile-root PREFIX=DIR` (repeatable): PHP may answer `X-Accel-Redirect: PREFIX/file` or
   * `X-Sendfile: DIR/file` and the bridge sends that file (nginx's internal location). Off when empty.
   */
  sendfileRoots?: readonly string[];
  logger?: Logger;
  /** True while a spawned php-fpm is being restarted: failures then answer 503 + Retry-After, not 502. */
  fpmRestarting?: () => boolean;
}

export const DEFAULTS = {
  indexFiles: ['index.php', 'index.html'],
  maxBody: 64 * 1024 * 1024,
  bodyMemoryLimit: 1024 * 1024,
  /** 16 bodies of the 1 MiB limit; beyond, disk (nginx keeps 16 KiB per body, then a temp file). */
  bodyMemoryBudget: 16 * 1024 * 1024,
  /** Debian's www pool has pm.max_children = 5; an idle kept connection holds a worker, so stay under. */
  fpmConnections: 4,
  fpmQueue: 1024,
  /** nginx has no queue of its own: a request waits in php-fpm's backlog within fastcgi_read_timeout (60 s). */
  fpmQueueTimeoutMs: 30_000,
  /** nginx send_timeout. */
  sendTimeoutMs: 60_000,
  connectTimeoutMs: 5_000,
  /** nginx fastcgi_read_timeout. */
  responseTimeoutMs: 60_000,
  idleTimeoutMs: 30_000,
  statCacheMs: 1_000,
  /** nginx client_body_timeout is 60 s; tighter. */
  bodyTimeoutMs: 30_000,
  appTimeoutMs: 60_000,
} as const;

/** UTF-8 text (argv, config) to the byte strings FastCGI params and routing use. */
export function toByteString(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** `/srv/www/` → `/srv/www`, absolute. Not realpath'd: DOCUMENT_ROOT is the root as given, like nginx. */
export function normalizeRoot(root: string): string {
  const abs = resolve(root);
  return abs.length > 1 && abs.endsWith('/') ? abs.slice(0, -1) : abs;
}

/** `index.php` or `/index.php` → `/index.php`. */
export function normalizeScript(script: string): string {
  return script.startsWith('/') ? script : '/' + script;
}

/** A bridge option with a value it cannot take; the message names the option. */
export class OptionsError extends Error {
  override name = 'OptionsError';
}

/** Counts that must be whole numbers of at least 1 (0 would queue every request forever). */
const AT_LEAST_ONE = ['fpmConnections', 'maxHeaders'] as const;
/** Sizes and counts where 0 is meaningful (no queue, nothing in memory, no cache). */
const ZERO_OR_MORE = ['fpmQueue', 'maxBody', 'bodyMemoryLimit', 'bodyMemoryBudget', 'statCacheMs', 'maxHeaderSize'] as const;

/** The longest a Node timer waits: a longer one fires after 1 ms (TimeoutOverflowWarning), i.e. at once. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Checks the numeric options once, where they enter (the CLI and the config file come through here
 * as well as the library), with a message per key, as undici's constructors do. Timeouts (every key
 * ending in TimeoutMs) are 0, which is off for every one of them, up to MAX_TIMEOUT_MS (24.8 days).
 */
export function checkOptions(options: object): void {
  const o = options as Record<string, unknown>;
  const shown = (v: unknown) => (typeof v === 'number' ? String(v) : JSON.stringify(v));
  const bad = (key: string, want: string) => new OptionsError(`${key}: ${shown(o[key])} is not ${want}`);
  for (const key of AT_LEAST_ONE) {
    const v = o[key];
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 1)) throw bad(key, 'a whole number of at least 1');
  }
  for (const key of ZERO_OR_MORE) {
    const v = o[key];
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0)) throw bad(key, 'a whole number, 0 or more');
  }
  for (const key of Object.keys(o)) {
    if (!key.endsWith('TimeoutMs')) continue;
    const v = o[key];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= MAX_TIMEOUT_MS)) throw bad(key, `a number of milliseconds from 0 (off) to ${MAX_TIMEOUT_MS}`);
  }
}
