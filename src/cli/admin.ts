// The operators' endpoints on --admin-listen: /healthz, /readyz, /metrics. One process: its own
// metrics. --workers: each worker keeps its metrics and the primary, which holds the admin listener,
// sums them on each scrape (prom-client's AggregatorRegistry asks every worker over the cluster
// channel), adding what only it knows: whether php-fpm answers, php-fpm's status page.
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';
import type { Bridge } from '../bridge/create-bridge.ts';
import { formatAddress, parseAddress } from '../fastcgi/address.ts';
import { FcgiPools, parsePoolSpec } from '../fastcgi/pool-set.ts';
import { listenAdmin, type AdminHandler, type AdminServer } from '../http/admin-server.ts';
import type { ListenAddress } from '../http/listen.ts';
import type { Logger } from '../log/logger.ts';
import { FpmHealth, type FpmTarget } from '../observe/fpm-health.ts';
import { bridgeMetrics } from '../observe/metrics.ts';
import type { CliConfig } from './args.ts';

export interface Admin {
  readonly url: string;
  close(): Promise<void>;
}

/** The php-fpm pools as the admin side checks them. */
export function fpmTargets(config: CliConfig, address: string | readonly string[]): FpmTarget[] {
  const specs = typeof address === 'string' ? [address] : address;
  return specs.map((spec) => ({ address: formatAddress(parseAddress(parsePoolSpec(spec).address)), pingPath: config.fpmPingPath, statusPath: config.fpmStatusPath }));
}

/**
 * Starts the admin listener in the process that holds it (the only process, or the primary).
 * `local`: this process's own serving metrics; `cluster`: add the workers' metrics, summed.
 * `pages`: more pages by path (the ledger's).
 */
export async function startAdmin(
  at: ListenAddress,
  targets: FpmTarget[],
  local: Registry | null,
  cluster: boolean,
  logger: Logger,
  pages: Record<string, AdminHandler> = {},
): Promise<Admin> {
  const health = new FpmHealth(targets);
  const own = new Registry();
  health.register(own);
  const aggregator = cluster ? new AggregatorRegistry() : null;
  let stopping = false;
  const server: AdminServer = await listenAdmin(at, (path, err) => logger.error(`admin ${path}`, err));
  const send = (res: import('node:http').ServerResponse, status: number, type: string, text: string) => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(res.req.method === 'HEAD' ? undefined : text);
  };
  server.route('/healthz', (_req, res) => send(res, 200, 'text/plain; charset=utf-8', 'ok\n'));
  server.route('/readyz', async (_req, res) => {
    if (stopping) return send(res, 503, 'text/plain; charset=utf-8', 'stopping\n');
    const pools = await health.readiness();
    const up = pools.filter((p) => p.up).length;
    const lines = pools.map((p) => `${p.pool} ${p.up ? 'up' : `down: ${p.reason}`}`);
    // Ready while at least one pool answers; several pools with some down is "degraded", still ready.
    const state = up === 0 ? 'not ready: no php-fpm pool answers' : up < pools.length ? 'ready (degraded)' : 'ready';
    send(res, up > 0 ? 200 : 503, 'text/plain; charset=utf-8', [state, ...lines].join('\n') + '\n');
  });
  server.route('/metrics', async (_req, res) => {
    const parts = [await own.metrics()];
    if (local) parts.push(await local.metrics());
    if (aggregator) parts.push(await aggregator.clusterMetrics());
    send(res, 200, own.contentType, parts.filter((p) => p.trim() !== '').join('\n'));
  });
  for (const [path, handler] of Object.entries(pages)) server.route(path, handler);
  return {
    url: server.url,
    close: () => {
      stopping = true;
      return server.close();
    },
  };
}

/**
 * In a serving process (one process, or a worker) with --admin-listen: the bridge's metrics. A worker
 * hands them to the primary's scrapes; one process serves them itself.
 */
export function serveMetricsFrom(bridge: Bridge, address: string | readonly string[], worker: string | null): { registry: Registry; close(): void } {
  // Several pools: each with its own connections and queue; one: the bridge's client.
  const pools =
    bridge.client instanceof FcgiPools
      ? bridge.client.pools.map((p) => ({ name: p.name, stats: () => p.client.stats }))
      : [{ name: formatAddress(parseAddress(typeof address === 'string' ? address : parsePoolSpec(address[0]!).address)), stats: () => bridge.client.stats }];
  const metrics = bridgeMetrics(bridge.events, pools, worker ?? '0');
  if (worker !== null) {
    AggregatorRegistry.setRegistries([metrics.registry]);
    // Constructing one installs the worker's answer to the primary's requests.
    new AggregatorRegistry();
  }
  return metrics;
}

/**
 * The ledger's failures, read at scrape time: batches that could not be written and the requests
 * in them (a healthy ledger shows 0). Summed over workers like the other metrics.
 */
export function ledgerMetrics(registry: Registry, health: () => { failedBatches: number; droppedEvents: number }): void {
  new Gauge({
    name: 'fpm_bridge_ledger_failed_batches',
    help: 'Batches of the ledger that could not be written since start-up (the log says why)',
    registers: [registry],
    collect() {
      this.set(health().failedBatches);
    },
  });
  new Gauge({
    name: 'fpm_bridge_ledger_dropped_requests',
    help: 'Requests the ledger missed because their batch could not be written, since start-up',
    registers: [registry],
    collect() {
      this.set(health().droppedEvents);
    },
  });
}

/** In a worker, from its start: answer the primary's scrapes (with nothing until the bridge is up). */
export function answerScrapes(): void {
  AggregatorRegistry.setRegistries([]);
  new AggregatorRegistry();
}
