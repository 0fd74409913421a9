import mri from 'mri';
import { DEFAULTS } from '../bridge/options.ts';
import { parseAddress } from '../fastcgi/address.ts';
import { parseListen, type ListenAddress } from '../http/listen.ts';
import { parseDuration, parseSize } from './units.ts';

/** A flag problem: the CLI prints it with the usage line and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface CliConfig {
  help: boolean;
  version: boolean;
  quiet: boolean;
  fpm: string;
  root: string;
  app: string | undefined;
  listen: ListenAddress;
  frontController: string | undefined;
  maxBody: number;
  params: Array<[string, string]>;
  serverName: string | undefined;
  fpmConnections: number;
  fpmQueue: number;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  idleTimeoutMs: number;
}

const STRING_FLAGS = [
  'fpm', 'root', 'app', 'listen', 'index', 'max-body', 'param', 'server-name',
  'fpm-connections', 'fpm-queue', 'connect-timeout', 'fpm-timeout', 'idle-timeout',
];
const BOOLEAN_FLAGS = ['help', 'version', 'quiet'];
const KNOWN = new Set([...STRING_FLAGS, ...BOOLEAN_FLAGS, 'h', 'v', '_']);

export function parseArgs(argv: readonly string[]): CliConfig {
  const a = mri(argv as string[], { string: STRING_FLAGS, boolean: BOOLEAN_FLAGS, alias: { h: 'help', v: 'version' } });
  for (const key of Object.keys(a)) if (!KNOWN.has(key)) throw new UsageError(`unknown flag --${key}`);
  if (a._.length > 0) throw new UsageError(`unexpected argument "${a._[0]}"`);
  const one = (name: string): string | undefined => {
    const v = a[name] as string | string[] | undefined;
    if (Array.isArray(v)) throw new UsageError(`--${name} given more than once`);
    if (v === '') throw new UsageError(`--${name} needs a value`);
    return v;
  };
  const parsed = <T>(name: string, parse: (s: string) => T, fallback: T): T => {
    const v = one(name);
    if (v === undefined) return fallback;
    try {
      return parse(v);
    } catch (err) {
      throw new UsageError(`--${name}: ${(err as Error).message}`);
    }
  };
  const count = (s: string): number => {
    if (!/^\d+$/.test(s) || Number(s) < 1) throw new Error(`not a positive whole number: "${s}"`);
    return Number(s);
  };
  const help = Boolean(a.help);
  const version = Boolean(a.version);
  const fpm = one('fpm');
  if (!fpm && !help && !version) throw new UsageError('--fpm is required (the php-fpm socket, e.g. --fpm /run/php/php8.2-fpm.sock)');
  if (fpm) parsed('fpm', parseAddress, null);
  const rawParams = a.param as string | string[] | undefined;
  const params = (rawParams === undefined ? [] : Array.isArray(rawParams) ? rawParams : [rawParams]).map((p): [string, string] => {
    const eq = p.indexOf('=');
    if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p.slice(0, eq))) throw new UsageError(`--param wants NAME=VALUE (got "${p}")`);
    return [p.slice(0, eq), p.slice(eq + 1)];
  });
  return {
    help,
    version,
    quiet: Boolean(a.quiet),
    fpm: fpm ?? '',
    root: one('root') ?? '.',
    app: one('app'),
    listen: parsed('listen', parseListen, { host: '127.0.0.1', port: 8080 }),
    frontController: one('index'),
    maxBody: parsed('max-body', parseSize, DEFAULTS.maxBody),
    params,
    serverName: one('server-name'),
    fpmConnections: parsed('fpm-connections', count, DEFAULTS.fpmConnections),
    fpmQueue: parsed('fpm-queue', (s) => (s === '0' ? 0 : count(s)), DEFAULTS.fpmQueue),
    connectTimeoutMs: parsed('connect-timeout', parseDuration, DEFAULTS.connectTimeoutMs),
    responseTimeoutMs: parsed('fpm-timeout', parseDuration, DEFAULTS.responseTimeoutMs),
    idleTimeoutMs: parsed('idle-timeout', parseDuration, DEFAULTS.idleTimeoutMs),
  };
}
