import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import mri from 'mri';
import proxyAddr from 'proxy-addr';
import { DEFAULTS } from '../bridge/options.ts';
import { parseAddress } from '../fastcgi/address.ts';
import { isIniKey } from '../fpm/pool-config.ts';
import { parseListen, SERVER_DEFAULTS, type ListenAddress } from '../http/listen.ts';
import { DEFAULT_LEDGER } from '../ledger/ledger-file.ts';
import { parsePattern } from '../route/claim-pattern.ts';
import { parseRewrite } from '../route/rewrite.ts';
import { parsePoolSpec } from '../fastcgi/pool-set.ts';
import { SendfileRoots } from '../static/sendfile.ts';
import { parseRate, shadowConfig, ShadowOptionError } from '../shadow/shadow-config.ts';
import { flagsOnCommandLine, readConfigFile, type ConfigValues } from './config-file.ts';
import { closest } from './suggest.ts';
import { parseDuration, parseSize } from './units.ts';

/** A flag problem: the CLI prints it with the usage line and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface CliConfig {
  help: boolean;
  version: boolean;
  quiet: boolean;
  /** `--fastcgi-listen`: also serve the app over FastCGI there (a socket path or [host:]port), for nginx. */
  fastcgiListen: string | undefined;
  /** `--watch`: reload the app when a file under its directory changes. */
  watch: boolean;
  /** `--open`: open the URL in a browser once listening. */
  open: boolean;
  /** `--log-format text|json`. */
  logFormat: 'text' | 'json';
  /** A php-fpm to use (the first --fpm); undefined: fpm-bridge spawns its own. */
  fpm: string | undefined;
  /** Every --fpm, in order (`ADDRESS` or `ADDRESS weight=N`): several are balanced (fastcgi/pool-set.ts). */
  fpmPools: string[];
  /** For the spawned php-fpm: `--php-fpm-bin`, `--php-ini K=V`, `--php-fpm-conf FILE`. */
  phpFpmBin: string | undefined;
  phpIni: Array<[string, string]>;
  phpFpmConf: string | undefined;
  root: string;
  app: string | undefined;
  /** The first of `listens` (what the banner and listen errors name). */
  listen: ListenAddress;
  /** Every `--listen` (repeatable); `tls` for an HTTPS one. */
  listens: ListenSpec[];
  /** `--https`: bare --listen addresses serve HTTPS, with the local CA unless --cert is given. */
  https: boolean;
  /** `--cert FILE --key FILE`: a certificate of your own instead of the local CA's. */
  cert: string | undefined;
  key: string | undefined;
  /** `--host NAME` (repeatable): more names for the local CA's certificate. */
  hosts: string[];
  /** `--redirect-https`: the plain HTTP listeners answer 308 to the HTTPS one. */
  redirectHttps: boolean;
  frontController: string | undefined;
  maxBody: number;
  /** `--body-memory`: memory for request bodies in flight, all connections together. */
  bodyMemoryBudget: number;
  params: Array<[string, string]>;
  serverName: string | undefined;
  /** Undefined: as many as the spawned pool has workers, or DEFAULTS.fpmConnections with --fpm. */
  fpmConnections: number | undefined;
  fpmQueue: number;
  fpmQueueTimeoutMs: number;
  sendTimeoutMs: number;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  idleTimeoutMs: number;
  /** `--rewrite 'REGEX TARGET [flag]'`, in order. */
  rewrites: string[];
  pathInfo: boolean;
  pathInfoStatic: boolean;
  /** `--follow-symlinks`: serve and run what symlinks in the root lead to, even outside it. */
  followSymlinks: boolean;
  /** `--no-compress` turns response compression off (on by default). */
  compress: boolean;
  /** `--sendfile-root PREFIX=DIR`, repeatable: files PHP may hand over (X-Accel-Redirect, X-Sendfile). */
  sendfileRoots: string[];
  /** Hardening limits and timeouts (see SECURITY.md). */
  maxHeaderSize: number;
  maxHeaders: number;
  headerTimeoutMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
  appTimeoutMs: number;
  /** `--trust-proxy 10.0.0.0/8,loopback`, repeatable. */
  trustProxy: string[];
  /** How long in-flight requests get to finish on SIGTERM. */
  shutdownTimeoutMs: number;
  /** `--workers N|auto`: processes sharing the port (1: this process serves, no cluster). */
  workers: number;
  /** `--admin-listen [host:]port`: /healthz, /readyz, /metrics there (off by default). */
  adminListen: ListenAddress | undefined;
  /** php-fpm's ping.path and pm.status_path, when its pool sets them. */
  fpmPingPath: string | undefined;
  fpmStatusPath: string | undefined;
  /** `--claim PATTERN`, repeatable: routes the app serves first (route/claim-pattern.ts). */
  claims: string[];
  /** `--order php-first|app-first`. */
  order: 'php-first' | 'app-first';
  /** `--root`/`-t` given (on the command line or in --config): no project detection then. */
  rootGiven: boolean;
  /** `--env-file FILE`, repeatable, in order (a later file wins over an earlier one). */
  envFiles: string[];
  /** `--php-env NAME[=VALUE]`: variables for the spawned pool; no value: the bridge's own. */
  phpEnv: Array<[string, string | undefined]>;
  /**
   * Development mode: error pages in the browser, PHP errors displayed. On with --watch or a
   * spawned php-fpm, off with --fpm; `--dev` / `--no-dev` decide.
   */
  dev: boolean;
  /** `--xdebug`: load Xdebug into the spawned pool (step debugging). */
  xdebug: boolean;
  /** The spelling the user typed for each flag (`-p`, `--port`), for error messages. */
  typed: ReadonlyMap<string, string>;
  /** The --config file read, or ./fpm-bridge.json found in the working directory. */
  configFile: string | undefined;
  /** `--ledger FILE` (default DEFAULT_LEDGER under the working directory), null with `--no-ledger`. */
  ledger: string | null;
  /** `--shadow PATTERN[@RATE]`, repeatable, and its companions (shadow/shadow-config.ts). */
  shadow: string[];
  shadowRate: number | undefined;
  shadowUnsafe: boolean;
  shadowHeaders: string[] | undefined;
  shadowIgnoreJson: string[];
  shadowIgnoreText: string[];
  shadowConcurrency: number | undefined;
  shadowNoise: boolean;
}

/** Read without --config when it is in the working directory (what `fpm-bridge init` writes). */
export const DEFAULT_CONFIG_FILE = 'fpm-bridge.json';

/** Default grace for in-flight requests on a stop signal. */
export const SHUTDOWN_TIMEOUT_MS = 30_000;

const STRING_FLAGS = [
  'fpm', 'root', 'app', 'listen', 'index', 'max-body', 'body-memory', 'param', 'server-name',
  'fpm-connections', 'fpm-queue', 'fpm-queue-timeout', 'connect-timeout', 'fpm-timeout', 'idle-timeout', 'send-timeout',
  'php-fpm-bin', 'php-ini', 'php-fpm-conf', 'rewrite', 'config',
  'max-header-size', 'max-headers', 'header-timeout', 'body-timeout', 'keepalive-timeout', 'app-timeout',
  'trust-proxy', 'shutdown-timeout', 'fastcgi-listen',
  'log-format', 'workers', 'admin-listen', 'fpm-ping-path', 'fpm-status-path', 'cert', 'key', 'host',
  // Migration (issue 10)
  'claim', 'order', 'ledger', 'shadow', 'shadow-rate', 'shadow-headers', 'shadow-ignore-json', 'shadow-ignore-text', 'shadow-concurrency',
  // The first hour (issue 14)
  'env-file', 'php-env',
  // Local server (issue 13)
  'sendfile-root',
];
/** Flags with a value that `--no-` also turns off (`--ledger FILE`, `--no-ledger`). */
const NEGATABLE: ReadonlySet<string> = new Set(['ledger']);
/** Flags that configure the php-fpm fpm-bridge spawns: meaningless with --fpm. */
const SPAWN_FLAGS = ['php-fpm-bin', 'php-ini', 'php-fpm-conf', 'php-env', 'xdebug'];
const BOOLEAN_FLAGS = [
  'help', 'version', 'quiet', 'path-info', 'path-info-static', 'follow-symlinks', 'watch', 'open', 'https', 'redirect-https',
  'dev', 'xdebug', 'compress', 'shadow-unsafe', 'shadow-noise',
];
/** The long flag names (also the keys of a --config file). */
export const LONG_FLAGS: ReadonlySet<string> = new Set([...STRING_FLAGS, ...BOOLEAN_FLAGS]);
/**
 * Other spellings people type, and the flag each stands for: `-p 8000` and `--port 8000` as in most
 * dev servers, `-t public` as in `php -S -t public`.
 */
export const ALIASES: Readonly<Record<string, string>> = { '-p': 'listen', '--port': 'listen', '-t': 'root', '-h': 'help', '-v': 'version' };
const SHORT_WITH_VALUE = new Set(['-p', '-t']);

/**
 * Checks every flag against the known ones (naming it as typed, with a did-you-mean) and rewrites
 * the other spellings to the long name mri is told about: `-p 8000` → `--listen 8000`.
 */
function normalize(argv: readonly string[]): { argv: string[]; typed: Map<string, string> } {
  const out: string[] = [];
  const typed = new Map<string, string>();
  const note = (name: string, as: string) => {
    if (!typed.has(name)) typed.set(name, as);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) {
      out.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) {
      // -p 8000, -p8000, -p=8000, -t public, -h, -v
      const short = arg.slice(0, 2);
      const name = ALIASES[short];
      if (name && (arg.length === 2 || SHORT_WITH_VALUE.has(short))) {
        note(name, short);
        const rest = arg.slice(2).replace(/^=/, '');
        out.push(`--${name}`, ...(rest ? [rest] : []));
        continue;
      }
      const word = arg.slice(1).split('=')[0]!;
      if (LONG_FLAGS.has(word) || `--${word}` in ALIASES) throw new UsageError(`unknown flag ${arg}: long flags take two dashes (--${word})`);
      throw new UsageError(`unknown flag ${arg.split('=')[0]}${didYouMean(word)}`);
    }
    const m = /^--(no-)?([^=]*)(=[\s\S]*)?$/.exec(arg)!;
    const [, no, word, value] = m as unknown as [string, string | undefined, string, string | undefined];
    const aliased = ALIASES[`--${word}`];
    const name = aliased ?? word;
    if (!LONG_FLAGS.has(name) || (no && !BOOLEAN_FLAGS.includes(name) && !NEGATABLE.has(name))) {
      if (no && LONG_FLAGS.has(word)) throw new UsageError(`--no-${word}: only on/off flags take no- (--${word} takes a value)`);
      throw new UsageError(`unknown flag ${arg.split('=')[0]}${didYouMean(no ? `no-${word}` : word)}`);
    }
    note(name, `--${no ?? ''}${word}`);
    out.push(`--${no ?? ''}${name}${value ?? ''}`);
  }
  return { argv: out, typed };
}

/** ` (did you mean --port, the same as --listen?)` or nothing. */
export function didYouMean(word: string, dashes = '--'): string {
  const names = [...LONG_FLAGS, ...Object.keys(ALIASES).filter((k) => k.startsWith('--')).map((k) => k.slice(2))];
  const near = closest(word, names);
  if (near.length === 0) return '';
  const say = (n: string) => {
    const to = ALIASES[`--${n}`];
    return to ? `${dashes}${n} (the same as ${dashes}${to})` : `${dashes}${n}`;
  };
  return ` (did you mean ${near.slice(0, 3).map(say).join(' or ')}?)`;
}

export function parseArgs(argv: readonly string[]): CliConfig {
  const normalized = normalize(argv);
  const typed = normalized.typed;
  const flag = (name: string) => typed.get(name) ?? `--${name}`;
  const a = mri(normalized.argv, { string: STRING_FLAGS, boolean: BOOLEAN_FLAGS });
  if (a._.length > 0) throw new UsageError(`unexpected argument "${a._[0]}"${a._[0] === 'init' ? ' (fpm-bridge init comes first: fpm-bridge init [flags])' : ''}`);
  let configFile = a.config as string | string[] | undefined;
  if (Array.isArray(configFile)) throw new UsageError('--config given more than once');
  if (configFile === undefined && existsSync(DEFAULT_CONFIG_FILE)) configFile = DEFAULT_CONFIG_FILE;
  const given = flagsOnCommandLine(normalized.argv);
  const fromConfig = new Set<string>();
  if (configFile !== undefined) {
    // Flags win over the file: only what the command line leaves unset is taken from it.
    let values: ConfigValues;
    try {
      values = readConfigFile(configFile, LONG_FLAGS, ALIASES);
    } catch (err) {
      throw new UsageError(`--config: ${(err as Error).message}`);
    }
    for (const [key, value] of Object.entries(values)) {
      if (given.has(key)) continue;
      a[key] = value;
      fromConfig.add(key);
    }
  }
  const one = (name: string): string | undefined => {
    const v = a[name] as string | string[] | undefined;
    if (Array.isArray(v)) throw new UsageError(`${flag(name)} given more than once`);
    if (v === '') throw new UsageError(`${flag(name)} needs a value`);
    return v;
  };
  const parsed = <T>(name: string, parse: (s: string) => T, fallback: T): T => {
    const v = one(name);
    if (v === undefined) return fallback;
    try {
      return parse(v);
    } catch (err) {
      throw new UsageError(`${flag(name)}: ${(err as Error).message}`);
    }
  };
  const count = (s: string): number => {
    if (!/^\d+$/.test(s) || Number(s) < 1) throw new Error(`not a positive whole number: "${s}"`);
    return Number(s);
  };
  const help = Boolean(a.help);
  const version = Boolean(a.version);
  const many = (name: string): string[] => {
    const v = a[name] as string | string[] | undefined;
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  };
  const fpmPools = many('fpm').map((spec) => {
    try {
      parseAddress(parsePoolSpec(spec).address);
    } catch (err) {
      throw new UsageError(`${flag('fpm')} ${spec}: ${(err as Error).message}`);
    }
    return spec.trim();
  });
  const fpm = fpmPools.length > 0 ? parsePoolSpec(fpmPools[0]!).address : undefined;
  if (fpm) {
    const clash = SPAWN_FLAGS.find((f) => a[f] !== undefined && a[f] !== false);
    if (clash) throw new UsageError(`${flag(clash)} configures the php-fpm fpm-bridge starts; with --fpm you run php-fpm yourself (drop one of them)`);
  }
  const params = many('param').map((p): [string, string] => {
    const eq = p.indexOf('=');
    if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p.slice(0, eq))) throw new UsageError(`--param wants NAME=VALUE (got "${p}")`);
    return [p.slice(0, eq), p.slice(eq + 1)];
  });
  const phpIni = many('php-ini').map((p): [string, string] => {
    const eq = p.indexOf('=');
    if (eq <= 0 || !isIniKey(p.slice(0, eq))) throw new UsageError(`--php-ini wants KEY=VALUE, a php.ini setting (got "${p}")`);
    if (/[\r\n\0]/.test(p)) throw new UsageError(`--php-ini ${p.slice(0, eq)}: a value cannot hold a line break`);
    return [p.slice(0, eq), p.slice(eq + 1)];
  });
  const cert = one('cert');
  const key = one('key');
  if ((cert === undefined) !== (key === undefined)) throw new UsageError(cert ? '--cert needs --key (the private key of that certificate)' : '--key needs --cert (the certificate of that key)');
  const https = Boolean(a.https) || cert !== undefined;
  const listens = parseListens(many('listen'), https, flag('listen'));
  const redirectHttps = Boolean(a['redirect-https']);
  if (redirectHttps && !(listens.some((l) => l.tls) && listens.some((l) => !l.tls))) {
    throw new UsageError('--redirect-https sends plain HTTP to HTTPS: it needs an HTTP and an HTTPS --listen (e.g. --https --listen 8443 --listen http://8080)');
  }
  const phpEnv = many('php-env').map((p): [string, string | undefined] => {
    const eq = p.indexOf('=');
    const name = eq < 0 ? p : p.slice(0, eq);
    if (!ENV_NAME.test(name)) throw new UsageError(`${flag('php-env')} wants NAME or NAME=VALUE (got "${p}")`);
    return [name, eq < 0 ? undefined : p.slice(eq + 1)];
  });
  const watch = requireApp(Boolean(a.watch), one('app'));
  return {
    help,
    version,
    rootGiven: one('root') !== undefined,
    envFiles: many('env-file'),
    phpEnv,
    // mri sets every absent switch to false: --dev/--no-dev decide only when given.
    dev: given.has('dev') || fromConfig.has('dev') ? Boolean(a.dev) : watch || !fpm,
    xdebug: Boolean(a.xdebug),
    typed,
    configFile,
    quiet: Boolean(a.quiet),
    watch,
    fastcgiListen: requireAppFor('--fastcgi-listen', one('fastcgi-listen'), one('app')),
    open: Boolean(a.open),
    logFormat: parsed('log-format', parseLogFormat, 'text'),
    fpm,
    fpmPools,
    phpFpmBin: one('php-fpm-bin'),
    phpIni,
    phpFpmConf: one('php-fpm-conf'),
    root: one('root') ?? '.',
    app: one('app'),
    listen: listens[0]!,
    listens,
    https: https || listens.some((l) => l.tls),
    cert,
    key,
    hosts: many('host').map(parseHostName),
    redirectHttps,
    frontController: one('index'),
    maxBody: parsed('max-body', parseSize, DEFAULTS.maxBody),
    bodyMemoryBudget: parsed('body-memory', parseSize, DEFAULTS.bodyMemoryBudget),
    params,
    serverName: one('server-name'),
    fpmConnections: parsed('fpm-connections', count, undefined),
    fpmQueue: parsed('fpm-queue', (s) => (s === '0' ? 0 : count(s)), DEFAULTS.fpmQueue),
    fpmQueueTimeoutMs: parsed('fpm-queue-timeout', parseDuration, DEFAULTS.fpmQueueTimeoutMs),
    sendTimeoutMs: parsed('send-timeout', parseDuration, DEFAULTS.sendTimeoutMs),
    connectTimeoutMs: parsed('connect-timeout', parseDuration, DEFAULTS.connectTimeoutMs),
    responseTimeoutMs: parsed('fpm-timeout', parseDuration, DEFAULTS.responseTimeoutMs),
    idleTimeoutMs: parsed('idle-timeout', parseDuration, DEFAULTS.idleTimeoutMs),
    rewrites: many('rewrite').map((r) => {
      try {
        parseRewrite(r);
      } catch (err) {
        throw new UsageError(`--rewrite: ${(err as Error).message}`);
      }
      return r;
    }),
    pathInfo: requirePathInfoIndex(Boolean(a['path-info']), one('index')),
    pathInfoStatic: Boolean(a['path-info-static']),
    followSymlinks: Boolean(a['follow-symlinks']),
    // mri sets every absent switch to false: on unless --no-compress (or "compress": false) says so.
    compress: given.has('compress') || fromConfig.has('compress') ? Boolean(a.compress) : true,
    sendfileRoots: sendfileRoots(many('sendfile-root'), flag('sendfile-root')),
    maxHeaderSize: parsed('max-header-size', parseSize, SERVER_DEFAULTS.maxHeaderSize),
    maxHeaders: parsed('max-headers', count, SERVER_DEFAULTS.maxHeaders),
    headerTimeoutMs: parsed('header-timeout', parseDuration, SERVER_DEFAULTS.headerTimeoutMs),
    bodyTimeoutMs: parsed('body-timeout', parseDuration, DEFAULTS.bodyTimeoutMs),
    keepAliveTimeoutMs: parsed('keepalive-timeout', parseDuration, SERVER_DEFAULTS.keepAliveTimeoutMs),
    appTimeoutMs: parsed('app-timeout', parseDuration, DEFAULTS.appTimeoutMs),
    trustProxy: parseTrustProxy(many('trust-proxy')),
    shutdownTimeoutMs: parsed('shutdown-timeout', parseDuration, SHUTDOWN_TIMEOUT_MS),
    workers: noWatchWith(parsed('workers', parseWorkers, 1), Boolean(a.watch)),
    adminListen: parsed('admin-listen', parseListen, undefined),
    fpmPingPath: parsed('fpm-ping-path', fpmPath, undefined),
    fpmStatusPath: parsed('fpm-status-path', fpmPath, undefined),
    claims: needsApp('--claim', patterns('--claim', many('claim')), one('app')),
    order: parsed('order', parseOrder, 'php-first'),
    ledger: ledgerFile(a.ledger),
    ...shadowFlags(many, parsed, count, Boolean(a['shadow-unsafe']), Boolean(a['shadow-noise']), one('app')),
  };
}

/** The --shadow flags, checked as createBridge will (shadow/shadow-config.ts): a bad one exits 2 naming it. */
function shadowFlags(
  many: (name: string) => string[],
  parsed: <T>(name: string, parse: (s: string) => T, fallback: T) => T,
  count: (s: string) => number,
  unsafe: boolean,
  noise: boolean,
  app: string | undefined,
): Pick<CliConfig, 'shadow' | 'shadowRate' | 'shadowUnsafe' | 'shadowHeaders' | 'shadowIgnoreJson' | 'shadowIgnoreText' | 'shadowConcurrency' | 'shadowNoise'> {
  const headers = many('shadow-headers');
  const shadow = many('shadow');
  if (shadow.length > 0 && !app) throw new UsageError('--shadow runs the app beside PHP: it needs --app <module>');
  const flags = {
    shadow,
    shadowRate: parsed('shadow-rate', parseRate, undefined),
    shadowUnsafe: unsafe,
    shadowHeaders: headers.length > 0 ? headers : undefined,
    shadowIgnoreJson: many('shadow-ignore-json'),
    shadowIgnoreText: many('shadow-ignore-text'),
    shadowConcurrency: parsed('shadow-concurrency', count, undefined),
    shadowNoise: noise,
  };
  try {
    shadowConfig(flags);
  } catch (err) {
    if (err instanceof ShadowOptionError) throw new UsageError(`--${err.flag}: ${err.message}`);
    throw err;
  }
  return flags;
}

/** Route patterns, each checked here so a bad one stops start-up naming its flag (exit 2). */
function patterns(flag: string, values: string[]): string[] {
  for (const v of values) {
    try {
      parsePattern(v);
    } catch (err) {
      throw new UsageError(`${flag}: ${(err as Error).message}`);
    }
  }
  return values;
}

function needsApp(flag: string, values: string[], app: string | undefined): string[] {
  if (values.length > 0 && !app) throw new UsageError(`${flag} gives routes to the app: it needs --app <module>`);
  return values;
}

/** `--ledger FILE`, `--no-ledger` (false), `"ledger": true|false|"FILE"` in the config file. */
function ledgerFile(v: unknown): string | null {
  if (v === false || v === 'false') return null;
  if (v === undefined || v === true) return DEFAULT_LEDGER;
  if (Array.isArray(v)) throw new UsageError('--ledger given more than once');
  if (v === '') throw new UsageError('--ledger needs a file (or --no-ledger)');
  return String(v);
}

function parseOrder(s: string): 'php-first' | 'app-first' {
  if (s !== 'php-first' && s !== 'app-first') throw new Error(`"${s}" is not an order (php-first or app-first)`);
  return s;
}

export interface ListenSpec extends ListenAddress {
  tls: boolean;
}

/**
 * `--listen [http://|https://][host:]port`, repeatable; a bare address is HTTPS under --https (or
 * --cert), else HTTP. None: 127.0.0.1:8080.
 */
function parseListens(values: string[], https: boolean, flagName: string): ListenSpec[] {
  if (values.length === 0) return [{ host: '127.0.0.1', port: 8080, tls: https }];
  return values.map((v) => {
    const m = /^(https?):\/\/(.*)$/i.exec(v);
    try {
      return { ...parseListen(m ? m[2]! : v), tls: m ? m[1]!.toLowerCase() === 'https' : https };
    } catch (err) {
      throw new UsageError(`${flagName}: ${(err as Error).message.replace('[host:]port', '[http://|https://][host:]port')}`);
    }
  });
}

/** `--host app.test` / `*.app.test` / an IP address: a name the local certificate covers. */
function parseHostName(name: string): string {
  if (isIP(name) !== 0 || /^(\*\.)?(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(name)) return name.toLowerCase();
  throw new UsageError(`--host "${name}" is not a host name or IP address (e.g. app.test, *.app.test)`);
}
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Each `--sendfile-root` checked here, so a bad one stops start-up naming the flag (exit 2). */
function sendfileRoots(values: string[], flagName: string): string[] {
  try {
    new SendfileRoots(values);
  } catch (err) {
    throw new UsageError((err as Error).message.replace('--sendfile-root', flagName));
  }
  return values;
}

/** `10.0.0.0/8,::1` (repeatable): addresses, CIDR ranges, loopback/linklocal/uniquelocal; checked by proxy-addr. */
function parseTrustProxy(values: string[]): string[] {
  const list = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  try {
    proxyAddr.compile(list);
  } catch (err) {
    throw new UsageError(`--trust-proxy: ${(err as Error).message} (want addresses or CIDR ranges, e.g. 10.0.0.0/8,::1, or loopback)`);
  }
  return list;
}

/** `--workers 4` or `--workers auto` (the cores this process may run on). */
export function parseWorkers(s: string): number {
  if (s === 'auto') return availableParallelism();
  if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 1024) throw new Error(`want a number of processes from 1 to 1024, or auto (got "${s}")`);
  return Number(s);
}

/** php-fpm's ping.path / pm.status_path: an absolute path, as in its pool file. */
function fpmPath(s: string): string {
  if (!/^\/[\x21-\x7e]*$/.test(s)) throw new Error(`want the path as in php-fpm's pool file, starting with / (got "${s}")`);
  return s;
}

function noWatchWith(workers: number, watch: boolean): number {
  if (workers > 1 && watch) throw new UsageError('--watch reloads the app in one process: drop --workers (with --workers, SIGHUP reloads the app)');
  return workers;
}

function parseLogFormat(s: string): 'text' | 'json' {
  if (s !== 'text' && s !== 'json') throw new Error(`"${s}" is not a log format (text or json)`);
  return s;
}

function requireApp(watch: boolean, app: string | undefined): boolean {
  if (watch && !app) throw new UsageError('--watch reloads the app: it needs --app <module>');
  return watch;
}

function requirePathInfoIndex(pathInfo: boolean, index: string | undefined): boolean {
  if (pathInfo && !index) throw new UsageError('--path-info needs --index (the front controller that gets the path as PATH_INFO)');
  return pathInfo;
}

function requireAppFor(flag: string, value: string | undefined, app: string | undefined): string | undefined {
  if (value !== undefined && !app) throw new UsageError(`${flag} serves the app over FastCGI: it needs --app <module>`);
  return value;
}
