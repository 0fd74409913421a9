import { DEFAULTS } from '../bridge/options.ts';
import { formatAddress, parseAddress } from '../fastcgi/address.ts';
import { spawnFpm } from '../fpm/spawn-fpm.ts';
import type { Logger } from '../log/logger.ts';
import type { CliConfig } from './args.ts';
import { probeFpm } from '../fastcgi/probe.ts';
import { parsePoolSpec } from '../fastcgi/pool-set.ts';

/** The php-fpm the bridge talks to, spawned or the user's, as the rest of the CLI needs it. */
export interface PhpBackend {
  /** For the bridge's `fpm` option: one address, or several pools (`--fpm` repeated). */
  address: string | readonly string[];
  /** The banner's php line. */
  describe: string;
  /** The bridge's `fpmConnections`. */
  connections: number;
  stop(): Promise<void>;
  /** Synchronous, for process 'exit'. */
  killNow(): void;
  /** True while a spawned php-fpm waits out its restart backoff (requests then get 503, not 502). */
  restarting(): boolean;
}

/**
 * Without --fpm, spawns php-fpm (throws FpmStartError when it cannot); with --fpm, checks once
 * that it answers and warns when not (it may come up later: requests get 502 until then).
 */
export async function startPhpBackend(config: CliConfig, maxBody: number, logger: Logger, env: Record<string, string | undefined> = {}): Promise<PhpBackend> {
  if (config.fpmPools.length > 1) return givenPools(config, logger);
  if (config.fpm !== undefined) {
    const probe = await probeFpm(config.fpm);
    const at = formatAddress(parseAddress(config.fpm));
    if (probe) logger.warn(`php-fpm at ${at} is not reachable (${probe}); PHP requests get 502 until it is. Is php-fpm running, and is this its listen address?`);
    return {
      address: config.fpm,
      describe: `php-fpm at ${at} (--fpm)${probe ? `  NOT REACHABLE: ${probe}` : ''}`,
      connections: config.fpmConnections ?? DEFAULTS.fpmConnections,
      stop: () => Promise.resolve(),
      killNow: () => {},
      restarting: () => false,
    };
  }
  const fpm = await spawnFpm({
    bin: config.phpFpmBin,
    maxBodyBytes: maxBody,
    ini: config.phpIni,
    extraConfFile: config.phpFpmConf,
    logger,
    env,
    dev: config.dev,
    xdebug: config.xdebug,
  });
  const { connections, warning } = poolConnections(config.fpmConnections, fpm.workers);
  if (warning) logger.warn(warning);
  return {
    address: fpm.socket,
    describe: `php-fpm ${fpm.version}, spawned: ${fpm.workers} workers, pid ${fpm.pid} (${fpm.bin}; config ${fpm.conf})`,
    connections,
    stop: () => fpm.stop(),
    killNow: () => fpm.killNow(),
    // No pid: the spawned php-fpm died and is waiting out its restart backoff.
    restarting: () => fpm.pid === undefined,
  };
}

/**
 * Connections to the spawned pool: one per worker by default, never more. An idle kept-alive
 * connection holds its worker, so one more connection than workers waits for a worker that is
 * never freed.
 */
export function poolConnections(requested: number | undefined, workers: number): { connections: number; warning?: string } {
  if (requested === undefined) return { connections: workers };
  if (requested <= workers) return { connections: requested };
  return {
    connections: workers,
    warning: `--fpm-connections ${requested} is more than the spawned php-fpm's ${workers} workers; using ${workers} (more would wait on workers held by idle connections). For more workers, add pm.max_children = N with --php-fpm-conf.`,
  };
}

/**
 * Several `--fpm` pools: each is probed once; one that does not answer is a warning (the balancer
 * skips it until it does), none answering is a warning too (requests get 502 until one is up).
 */
async function givenPools(config: CliConfig, logger: Logger): Promise<PhpBackend> {
  const specs = config.fpmPools.map(parsePoolSpec);
  const probes = await Promise.all(specs.map((s) => probeFpm(s.address)));
  const lines = specs.map((s, i) => {
    const at = formatAddress(parseAddress(s.address));
    if (probes[i]) logger.warn(`php-fpm pool ${at} is not reachable (${probes[i]}); its share goes to the other pools until it answers.`);
    return `${at}${s.weight !== 1 ? ` weight=${s.weight}` : ''}${probes[i] ? ' (NOT REACHABLE)' : ''}`;
  });
  if (probes.every((p) => p)) logger.warn('no php-fpm pool is reachable: PHP requests get 502 until one is.');
  return {
    address: config.fpmPools,
    describe: `${specs.length} php-fpm pools (--fpm), least outstanding requests: ${lines.join(', ')}`,
    connections: config.fpmConnections ?? DEFAULTS.fpmConnections,
    stop: () => Promise.resolve(),
    killNow: () => {},
    restarting: () => false,
  };
}
