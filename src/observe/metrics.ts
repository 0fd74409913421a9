import { monitorEventLoopDelay } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestEvent, RequestEvents } from '../bridge/request-event.ts';

/** What the metrics read from a bridge's php-fpm client, at scrape time. */
export interface PoolStats {
  /** The pool's address, the `pool` label. */
  name: string;
  stats(): { open: number; idle: number; queued: number };
}

/** Methods that get their own label value; anything else counts as `other` (a label per method a client invents would be unbounded). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * A serving process's metrics (one process, or each --workers worker): requests by who served them,
 * status class and method, durations, fallbacks, the php-fpm client's connections and queue, the
 * bridge's own failures to reach php-fpm, event-loop delay, and prom-client's process defaults. Fed
 * by the bridge's finished-request events: nothing is added to the request path.
 */
export function bridgeMetrics(events: RequestEvents, pools: readonly PoolStats[], worker: string): { registry: Registry; close(): void } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'fpm_bridge_requests_total',
    help: 'Finished requests, by who served them (php, static, app, php→app, php→app→php, app→php, bridge), status class and method',
    labelNames: ['served_by', 'status_class', 'method'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'fpm_bridge_request_duration_seconds',
    help: 'From the arrival of a request to the end of its response, by who served it',
    labelNames: ['served_by'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const fallbacks = new Counter({
    name: 'fpm_bridge_fallbacks_total',
    help: 'Requests one side declined with 404 and the other served: php→app (PHP first), app→php (the app first)',
    labelNames: ['direction'],
    registers: [registry],
  });
  const failures = new Counter({
    name: 'fpm_bridge_fpm_failures_total',
    help: 'Requests the bridge answered itself because php-fpm could not (502 unreachable or broken, 503 queue full or restarting, 504 timeout)',
    labelNames: ['pool', 'status'],
    registers: [registry],
  });
  for (const direction of ['php→app', 'app→php']) fallbacks.inc({ direction }, 0);
  const poolGauge = (name: string, help: string, read: (s: ReturnType<PoolStats['stats']>) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['pool'],
      registers: [registry],
      collect() {
        for (const p of pools) this.set({ pool: p.name }, read(p.stats()));
      },
    });
  poolGauge('fpm_bridge_pool_connections', 'Open connections to the php-fpm pool (each holds a php-fpm worker)', (s) => s.open);
  poolGauge('fpm_bridge_pool_in_flight', 'Connections running a request', (s) => s.open - s.idle);
  poolGauge('fpm_bridge_pool_queued', 'Requests waiting for a connection to the pool', (s) => s.queued);

  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  new Gauge({
    name: 'fpm_bridge_event_loop_delay_seconds',
    help: 'Event-loop delay of each serving process since the last scrape (quantile 0.5, 0.99, 1 = max)',
    labelNames: ['worker', 'quantile'],
    registers: [registry],
    collect() {
      const s = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
      this.set({ worker, quantile: '0.5' }, s(loop.percentile(50)));
      this.set({ worker, quantile: '0.99' }, s(loop.percentile(99)));
      this.set({ worker, quantile: '1' }, s(loop.max));
      loop.reset();
    },
  });

  const pool = pools[0]?.name ?? '';
  const unsubscribe = events.subscribe((e: RequestEvent) => {
    const method = METHODS.has(e.method) ? e.method : 'other';
    requests.inc({ served_by: e.servedBy, status_class: `${Math.floor(e.status / 100)}xx`, method });
    duration.observe({ served_by: e.servedBy }, e.durationMs / 1000);
    if (e.servedBy === 'php→app' || e.servedBy === 'app→php') fallbacks.inc({ direction: e.servedBy });
    if (e.servedBy === 'bridge' && (e.status === 502 || e.status === 503 || e.status === 504)) failures.inc({ pool, status: String(e.status) });
  });
  return {
    registry,
    close() {
      unsubscribe();
      loop.disable();
    },
  };
}
