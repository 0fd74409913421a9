import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import proxyAddr from 'proxy-addr';
import { toNodeListener } from '../app/app-module.ts';
import { AppWatchdog } from '../app/app-watchdog.ts';
import { parseAddress } from '../fastcgi/address.ts';
import { FcgiClient } from '../fastcgi/client.ts';
import { FcgiPools, parsePoolSpec, type FcgiBackend } from '../fastcgi/pool-set.ts';
import type { Param } from '../fastcgi/name-value.ts';
import { compressResponse } from '../http/compress-response.ts';
import { sendError } from '../http/error-response.ts';
import { MemoryBudget } from '../http/request-body.ts';
import { SpoolDir } from '../http/spool.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { cachedLookup } from '../route/cached-lookup.ts';
import { confinedLookup, fsLookup } from '../route/file-lookup.ts';
import { PatternList } from '../route/claim-pattern.ts';
import { parseRewrite } from '../route/rewrite.ts';
import type { ShadowEvents } from '../shadow/shadow-event.ts';
import { Precompressed } from '../static/precompressed.ts';
import { SendfileRoots } from '../static/sendfile.ts';
import { SmallFileCache } from '../static/small-file-cache.ts';
import { SERVER_SOFTWARE } from '../version.ts';
import { checkOptions, DEFAULTS, normalizeRoot, normalizeScript, toByteString, type BridgeOptions } from './options.ts';
import { buildSteps } from './order.ts';
import { RequestEvents } from './request-event.ts';
import { RequestRecord } from './request-record.ts';
import { runSteps } from './run-steps.ts';
import { bridgeShadow } from './shadow-step.ts';
import type { BridgeParts, RequestContext, StepResult } from './step.ts';
import { routingTarget } from './target.ts';

export interface Bridge {
  /** The request listener: hand it to http.createServer, or call it from your own server. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Closes the php-fpm connections (busy ones once their request ends). */
  close(): Promise<void>;
  readonly client: FcgiBackend;
  /** One event per finished request (see request-event.ts): subscribe for logs, the ledger, metrics. */
  readonly events: RequestEvents;
  /** One event per shadowed request (--shadow; see shadow/shadow-event.ts), after its RequestEvent. */
  readonly shadowEvents: ShadowEvents;
}

/**
 * Builds the parts once from the options, the order of sides as a list of steps (order.ts), and the
 * request listener that walks a request through them and publishes one event when it is done.
 */
export function createBridge(options: BridgeOptions): Bridge {
  checkOptions(options);
  const logger = options.logger ?? silentLogger;
  const statCacheMs = options.statCacheMs ?? DEFAULTS.statCacheMs;
  const appTimeoutMs = options.appTimeoutMs ?? DEFAULTS.appTimeoutMs;
  const root = toByteString(normalizeRoot(options.root));
  // One link on every response, before anything writes it; off with `compress: false`.
  const compress = options.compress === false ? null : options.compress === true || options.compress === undefined ? {} : options.compress;
  // Checked once here, so a bad root fails at start-up (SendfileRootError), never on a request.
  const sendfile = options.sendfileRoots?.length ? new SendfileRoots(options.sendfileRoots) : null;
  const parts: BridgeParts = {
    logger,
    app: options.app ? toNodeListener(options.app) : null,
    bodyLimits: {
      maxBody: options.maxBody ?? DEFAULTS.maxBody,
      memoryLimit: options.bodyMemoryLimit ?? DEFAULTS.bodyMemoryLimit,
      budget: new MemoryBudget(options.bodyMemoryBudget ?? DEFAULTS.bodyMemoryBudget),
      spool: new SpoolDir(options.spoolDir ?? tmpdir()),
      idleTimeoutMs: options.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs,
    },
    watchdog: appTimeoutMs > 0 ? new AppWatchdog(appTimeoutMs, logger) : null,
    trustProxy: options.trustProxy?.length ? proxyAddr.compile([...options.trustProxy]) : undefined,
    root,
    routeConfig: {
      root,
      indexFiles: options.indexFiles ?? DEFAULTS.indexFiles,
      frontController: options.frontController ? toByteString(normalizeScript(options.frontController)) : undefined,
      pathInfo: options.pathInfo ?? false,
      pathInfoStatic: options.pathInfoStatic ?? false,
    },
    lookup: cachedLookup(options.followSymlinks ? fsLookup : confinedLookup(root), statCacheMs),
    sendfile,
    precompressed: compress ? new Precompressed(statCacheMs, options.followSymlinks ?? false) : null,
    fileCache: statCacheMs > 0 ? new SmallFileCache({ maxFileSize: 64 * 1024, maxTotalSize: 32 * 1024 * 1024, ttlMs: statCacheMs }) : null,
    server: {
      documentRoot: root,
      serverSoftware: SERVER_SOFTWARE,
      serverName: options.serverName,
      extra: [...(sendfile ? sendfile.params() : []), ...(options.params ?? [])].map(([k, v]): Param => [toByteString(k), toByteString(v)]),
    },
    client: fpmBackend(options, logger),
    fpmRestarting: options.fpmRestarting,
    sendTimeoutMs: options.sendTimeoutMs ?? DEFAULTS.sendTimeoutMs,
  };
  // Parsed once here, so a bad regex fails at start-up (RewriteError), never on a request.
  const rewrites = (options.rewrites ?? []).map((r) => parseRewrite(toByteString(r)));
  // Checked once here, so a bad pattern fails at start-up (PatternError), never on a request.
  const claims = options.claims?.length ? new PatternList(options.claims) : null;
  // Checked once here too (a bad --shadow pattern or regex fails at start-up); a step before PHP.
  const shadow = bridgeShadow(options, parts);
  const steps = buildSteps(parts, options.order ?? 'php-first', claims, shadow.step);
  const events = new RequestEvents();
  // With --quiet the access log is off: it does not subscribe, and nothing is measured for it.
  if (logger.access !== silentLogger.access) {
    events.subscribe((e) =>
      logger.access({ id: e.id, method: e.method, url: e.url, status: e.status, bytes: e.bytes, durationMs: e.durationMs, servedBy: e.servedBy, remoteAddress: e.remoteAddress }),
    );
  }
  const eventError = (err: unknown) => logger.error('a request-event subscriber failed', err);

  /** Runs the request through the steps; a step's error is thrown, or rejects what is returned. */
  function serve(id: number, req: IncomingMessage, res: ServerResponse, record: RequestRecord | null): void | Promise<void> {
    const target = routingTarget(req, res, rewrites, logger);
    if (!target) return record?.done(null, 'bridge');
    const claim = claims ? claims.match(req.method ?? '', target.path) : null;
    const ctx: RequestContext = { id, req, res, target, claim, route: null, body: null, held: null, appDeclined: false, tap: null };
    let r: StepResult | Promise<StepResult>;
    try {
      r = runSteps(steps, ctx);
    } catch (err) {
      dispose(ctx);
      throw err;
    }
    if (!(r instanceof Promise)) return served(ctx, r, record);
    return r.then(
      (servedBy) => served(ctx, servedBy, record),
      (err: unknown) => {
        dispose(ctx);
        throw err;
      },
    );
  }

  /** Nothing served it: the bridge's 404. Then the body goes, and the request is done. */
  function served(ctx: RequestContext, servedBy: StepResult, record: RequestRecord | null): void {
    if (servedBy === null) {
      sendError(ctx.res, 404);
      servedBy = 'bridge';
    }
    dispose(ctx);
    record?.done(ctx, servedBy);
  }

  const failed = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
    logger.error(`${req.method} ${req.url}: internal error`, err);
    sendError(res, 500);
  };

  let lastId = 0;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const id = ++lastId;
    const record = events.active ? new RequestRecord(id, req, res, events, eventError) : null;
    if (compress) compressResponse(req, res, compress);
    let pending: void | Promise<void>;
    try {
      pending = serve(id, req, res, record);
    } catch (err) {
      return failed(req, res, err);
    }
    if (pending) pending.catch((err: unknown) => failed(req, res, err));
  }

  const close = async () => {
    // Shadows still running finish first (bounded by the app timeout): they may ask PHP once more,
    // and their events must reach the ledger before it closes.
    await shadow.idle();
    await parts.client.close();
    parts.bodyLimits.spool.close();
  };
  return { handle, close, client: parts.client, events, shadowEvents: shadow.events };
}

/** The request's body, if a step read one, is let go (its memory, or its spool file). */
function dispose(ctx: RequestContext): void {
  if (ctx.body) void ctx.body.dispose();
}

/** One php-fpm pool (`fpm: 'addr'`), or several balanced with passive health (`fpm: ['a', 'b weight=2']`). */
function fpmBackend(options: BridgeOptions, logger: Logger): FcgiBackend {
  const specs = typeof options.fpm === 'string' ? [options.fpm] : [...options.fpm];
  const clientFor = (address: string) =>
    new FcgiClient({
      address: parseAddress(address),
      maxConnections: options.fpmConnections ?? DEFAULTS.fpmConnections,
      maxQueue: options.fpmQueue ?? DEFAULTS.fpmQueue,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      responseTimeoutMs: options.responseTimeoutMs ?? DEFAULTS.responseTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      queueTimeoutMs: options.fpmQueueTimeoutMs ?? DEFAULTS.fpmQueueTimeoutMs,
    });
  if (specs.length === 1 && !/\s/.test(specs[0]!.trim())) return clientFor(specs[0]!.trim());
  const members = specs.map((spec) => {
    const { address, weight } = parsePoolSpec(spec);
    return { client: clientFor(address), weight };
  });
  return new FcgiPools(members, (pool, state, why) => (state === 'down' ? logger.warn(`php-fpm pool ${pool} is down: ${why}`) : logger.info(`php-fpm pool ${pool} is up: ${why}`)));
}
