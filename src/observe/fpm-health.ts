import { Gauge, type Registry } from 'prom-client';
import { fpmAnswers, fpmGet } from './fpm-probe.ts';

/** A php-fpm pool as the admin side checks it. */
export interface FpmTarget {
  address: string;
  /** php-fpm's ping.path: readiness asks a worker ("pong") instead of only connecting. */
  pingPath?: string | undefined;
  /** php-fpm's pm.status_path: scraped into the metrics. */
  statusPath?: string | undefined;
}

export interface PoolReadiness {
  pool: string;
  up: boolean;
  /** Why not, when down. */
  reason: string | null;
}

/** The fields of php-fpm's status page (?json) that become gauges, and their metric names. */
const STATUS_FIELDS: ReadonlyArray<readonly [field: string, metric: string, help: string]> = [
  ['active processes', 'active_processes', 'php-fpm workers running a request'],
  ['idle processes', 'idle_processes', 'php-fpm workers waiting for one'],
  ['total processes', 'total_processes', 'php-fpm workers'],
  ['listen queue', 'listen_queue', 'connections waiting in php-fpm\'s listen backlog'],
  ['max listen queue', 'max_listen_queue', 'most connections ever waiting in the backlog'],
  ['max children reached', 'max_children_reached', 'times php-fpm wanted more workers than pm.max_children'],
  ['accepted conn', 'accepted_connections', 'connections php-fpm accepted since it started'],
  ['slow requests', 'slow_requests', 'requests past request_slowlog_timeout'],
];

/**
 * Readiness and php-fpm's own numbers, for the admin listener: probes are cached for `cacheMs` so a
 * load balancer polling /readyz every 100 ms costs php-fpm one probe a second.
 */
export class FpmHealth {
  private cached: { at: number; result: Promise<PoolReadiness[]> } | null = null;

  constructor(
    readonly targets: readonly FpmTarget[],
    private readonly cacheMs = 1_000,
  ) {}

  readiness(): Promise<PoolReadiness[]> {
    const now = performance.now();
    if (this.cached && now - this.cached.at < this.cacheMs) return this.cached.result;
    const result = Promise.all(
      this.targets.map(async (t): Promise<PoolReadiness> => {
        const reason = await fpmAnswers(t.address, t.pingPath);
        return { pool: t.address, up: reason === null, reason };
      }),
    );
    this.cached = { at: now, result };
    return result;
  }

  /** Adds fpm_bridge_pool_up and, for pools with a status path, php-fpm's status gauges. */
  register(registry: Registry): void {
    const health = this;
    new Gauge({
      name: 'fpm_bridge_pool_up',
      help: 'Whether the php-fpm pool answers (1) or not (0): a ping request with ping.path, else a connection',
      labelNames: ['pool'],
      registers: [registry],
      async collect() {
        for (const r of await health.readiness()) this.set({ pool: r.pool }, r.up ? 1 : 0);
      },
    });
    const withStatus = this.targets.filter((t) => t.statusPath);
    if (withStatus.length === 0) return;
    // One scrape of each status page feeds all the gauges (a registry collects them all at once).
    let last: { at: number; done: Promise<void> } | null = null;
    const shared = () => {
      if (!last || performance.now() - last.at > 500) last = { at: performance.now(), done: scrape() };
      return last.done;
    };
    const scrape = async () => {
      await Promise.all(
        withStatus.map(async (t) => {
          for (const { gauge } of gauges) gauge.remove({ pool: t.address });
          try {
            const r = await fpmGet(t.address, t.statusPath!, 'json');
            const status = JSON.parse(r.body) as Record<string, unknown>;
            for (const { field, gauge } of gauges) if (typeof status[field] === 'number') gauge.set({ pool: t.address }, status[field]);
          } catch {
            // Unreachable or not a status page: the gauges are absent for this pool, fpm_bridge_pool_up says why.
          }
        }),
      );
    };
    const gauges = STATUS_FIELDS.map(([field, metric, help]) => ({
      field,
      gauge: new Gauge({ name: `fpm_bridge_php_fpm_${metric}`, help: `${help} (php-fpm's status page)`, labelNames: ['pool'], registers: [registry], collect: shared }),
    }));
  }
}
