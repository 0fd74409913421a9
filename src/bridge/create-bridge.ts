import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import proxyAddr from 'proxy-addr';
import { interceptNotFound } from '../app/fallback-response.ts';
import { toNodeListener, type NodeListener } from '../app/app-module.ts';
import { replayRequest } from '../app/replay-request.ts';
import { AppWatchdog } from '../app/app-watchdog.ts';
import { runApp } from '../app/run-app.ts';
import { parseAddress } from '../fastcgi/address.ts';
import { FcgiClient } from '../fastcgi/client.ts';
import { encodeParams, type Param } from '../fastcgi/name-value.ts';
import { sendError } from '../http/error-response.ts';
import { type BodyLimits, BodyTimeoutError, BodyTooLargeError, declaredTooLarge, hasBody, readBody, type BufferedBody } from '../http/request-body.ts';
import { silentLogger, type ServedBy } from '../log/logger.ts';
import { buildCgiParams, type ServerParams } from '../php/cgi-params.ts';
import { runPhp, sendHeld } from '../php/php-request.ts';
import { cachedLookup } from '../route/cached-lookup.ts';
import { fsLookup } from '../route/file-lookup.ts';
import { normalizePath, parseRequestTarget, type RequestTarget } from '../route/request-target.ts';
import { applyRewrites, MAX_REWRITES, parseRewrite } from '../route/rewrite.ts';
import { resolveRoute, type Route, type RouteConfig } from '../route/resolve.ts';
import { serveStatic } from '../static/serve-static.ts';
import { SmallFileCache } from '../static/small-file-cache.ts';
import { SERVER_SOFTWARE } from '../version.ts';
import { DEFAULTS, normalizeRoot, normalizeScript, toByteString, type BridgeOptions } from './options.ts';

export interface Bridge {
  /** The request listener: hand it to http.createServer, or call it from your own server. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Closes the php-fpm connections (busy ones once their request ends). */
  close(): Promise<void>;
  readonly client: FcgiClient;
}

/** RFC 9110 9.2.2: requests that may be sent twice without harm. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);

type ParsedTarget = RequestTarget & { ok: true };

/** The statuses with which PHP declines a request so the app gets it. */
const FALLBACK_STATUSES: ReadonlySet<number> = new Set([404]);
const NO_STATUSES: ReadonlySet<number> = new Set();
/** A PHP 404 body larger than this is not held for the app: PHP's answer stands. */
const HOLD_LIMIT = 1024 * 1024;

export function createBridge(options: BridgeOptions): Bridge {
  const logger = options.logger ?? silentLogger;
  const app: NodeListener | null = options.app ? toNodeListener(options.app) : null;
  const maxBody = options.maxBody ?? DEFAULTS.maxBody;
  const bodyLimits: BodyLimits = {
    maxBody,
    memoryLimit: options.bodyMemoryLimit ?? DEFAULTS.bodyMemoryLimit,
    spoolDir: options.spoolDir ?? tmpdir(),
    idleTimeoutMs: options.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs,
  };
  const appTimeoutMs = options.appTimeoutMs ?? DEFAULTS.appTimeoutMs;
  const watchdog = appTimeoutMs > 0 ? new AppWatchdog(appTimeoutMs, logger) : null;
  const trustProxy = options.trustProxy?.length ? proxyAddr.compile([...options.trustProxy]) : undefined;
  const root = toByteString(normalizeRoot(options.root));
  const routeConfig: RouteConfig = {
    root,
    indexFiles: options.indexFiles ?? DEFAULTS.indexFiles,
    frontController: options.frontController ? toByteString(normalizeScript(options.frontController)) : undefined,
    pathInfo: options.pathInfo ?? false,
    pathInfoStatic: options.pathInfoStatic ?? false,
  };
  const statCacheMs = options.statCacheMs ?? DEFAULTS.statCacheMs;
  const lookup = cachedLookup(fsLookup, statCacheMs);
  const fileCache = statCacheMs > 0 ? new SmallFileCache({ maxFileSize: 64 * 1024, maxTotalSize: 32 * 1024 * 1024, ttlMs: statCacheMs }) : null;
  // Parsed once here, so a bad regex fails at start-up (RewriteError), never on a request.
  const rewrites = (options.rewrites ?? []).map((r) => parseRewrite(toByteString(r)));
  const server: ServerParams = {
    documentRoot: root,
    serverSoftware: SERVER_SOFTWARE,
    serverName: options.serverName,
    extra: (options.params ?? []).map(([k, v]): Param => [toByteString(k), toByteString(v)]),
  };
  const client = new FcgiClient({
    address: parseAddress(options.fpm),
    maxConnections: options.fpmConnections ?? DEFAULTS.fpmConnections,
    maxQueue: options.fpmQueue ?? DEFAULTS.fpmQueue,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    responseTimeoutMs: options.responseTimeoutMs ?? DEFAULTS.responseTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
    pipeline: options.fpmPipeline ?? true,
  });

  /** The whole body (413 past --max-body, 408 when it stalls), or null once the bridge answered. */
  async function readBodyOrAnswer(req: IncomingMessage, res: ServerResponse): Promise<BufferedBody | null> {
    try {
      return await readBody(req, bodyLimits);
    } catch (err) {
      if (err instanceof BodyTooLargeError) sendError(res, 413, err.message, { connection: 'close' });
      else if (err instanceof BodyTimeoutError) sendError(res, 408, err.message, { connection: 'close' });
      // The client went away mid-body: nothing to answer.
      else res.destroy();
      return null;
    }
  }

  async function servePhp(req: IncomingMessage, res: ServerResponse, route: Route & { kind: 'php' }, target: ParsedTarget): Promise<ServedBy> {
    const body = await readBodyOrAnswer(req, res);
    if (!body) return 'bridge';
    const socket = req.socket;
    const params = encodeParams(
      buildCgiParams(
        {
          method: req.method ?? 'GET',
          rawUrl: target.originForm,
          rawHeaders: req.rawHeaders,
          authority: target.authority,
          httpVersion: req.httpVersion,
          tls: 'encrypted' in socket && Boolean(socket.encrypted),
          remoteAddress: socket.remoteAddress ?? '',
          remotePort: socket.remotePort ?? 0,
          localAddress: socket.localAddress ?? '',
          localPort: socket.localPort ?? 0,
          contentLength: hasBody(req) ? body.size : null,
          trustProxy,
        },
        { scriptName: route.scriptName, pathInfo: route.pathInfo, scriptFilename: route.file, queryString: target.query },
        server,
      ),
    );
    const outcome = await runPhp(client, res, {
      params,
      body: body.size === 0 ? null : (body.chunks ?? { [Symbol.asyncIterator]: () => body.stream()[Symbol.asyncIterator]() }),
      holdStatuses: app ? FALLBACK_STATUSES : NO_STATUSES,
      holdLimit: HOLD_LIMIT,
      onStderr: (line) => logger.phpStderr(req.method ?? '', req.url ?? '', line),
      idempotent: IDEMPOTENT.has(req.method ?? ''),
    });
    if (outcome.kind !== 'held') void body.dispose();
    switch (outcome.kind) {
      case 'aborted':
        if (outcome.reason) logger.error(`${req.method} ${req.url}: ${outcome.reason}`);
        return 'php';
      case 'sent':
        return 'php';
      case 'failed': {
        logger.error(`${req.method} ${req.url}: ${outcome.reason}`);
        const status = outcome.status === 502 && options.fpmRestarting?.() ? 503 : outcome.status;
        sendError(res, status, undefined, status === 503 ? { 'retry-after': '1' } : undefined);
        return 'bridge';
      }
      case 'held': {
        // PHP said 404: the app gets the same request, body included. If it says 404 too, PHP's stands.
        let servedBy: ServedBy = 'php→app';
        interceptNotFound(res, (real) => {
          servedBy = 'php';
          sendHeld(res, outcome.response, real);
        });
        runApp(app!, replayRequest(req, body), res, logger, watchdog);
        await finished(res);
        void body.dispose();
        return servedBy;
      }
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<ServedBy> {
    const parsed = parseRequestTarget(req.url ?? '/');
    if (!parsed.ok) {
      sendError(res, 400, parsed.reason);
      return 'bridge';
    }
    let target: ParsedTarget = parsed;
    if (rewrites.length > 0) {
      const rewritten = applyRewrites(rewrites, target.path, target.query);
      if (rewritten === 'loop') {
        logger.error(`${req.method} ${req.url}: rewrite cycle (more than ${MAX_REWRITES} rules applied)`);
        sendError(res, 500);
        return 'bridge';
      }
      if (rewritten?.kind === 'redirect') {
        res.writeHead(rewritten.status, { location: rewritten.location, 'content-length': 0 });
        res.end();
        return 'bridge';
      }
      if (rewritten) {
        // An internal rewrite routes on the new path and query; REQUEST_URI stays what the client sent.
        const path = normalizePath(rewritten.path.startsWith('/') ? rewritten.path : '/' + rewritten.path);
        if (path === null) {
          sendError(res, 400, 'rewritten path climbs above the document root');
          return 'bridge';
        }
        target = { ...target, path, query: rewritten.query };
      }
    }
    const route = await resolveRoute(target.path, target.query, routeConfig, lookup);
    switch (route.kind) {
      case 'php':
        return servePhp(req, res, route, target);
      case 'static':
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          sendError(res, 405, undefined, { allow: 'GET, HEAD' });
          return 'bridge';
        }
        serveStatic(req, res, root, route.path, route.file, fileCache, (status, err) => {
          if (status >= 500) logger.error(`static ${route.file}`, err);
          sendError(res, status);
        });
        return 'static';
      case 'redirect':
        res.writeHead(301, { location: route.location, 'content-length': 0 });
        res.end();
        return 'bridge';
      case 'none':
        if (!app) {
          sendError(res, 404);
          return 'bridge';
        }
        if (declaredTooLarge(req, maxBody)) {
          sendError(res, 413, new BodyTooLargeError(maxBody).message, { connection: 'close' });
          return 'bridge';
        }
        if (!hasBody(req)) {
          runApp(app, req, res, logger, watchdog);
          return 'app';
        }
        {
          // Read first, so the app never sees more than --max-body (a chunked body declares no
          // length) and a stalled body times out here; the app reads a replay of it.
          const body = await readBodyOrAnswer(req, res);
          if (!body) return 'bridge';
          runApp(app, replayRequest(req, body), res, logger, watchdog);
          await finished(res);
          void body.dispose();
          return 'app';
        }
    }
  }

  /** With --quiet the access log is off: no per-request bookkeeping for it at all. */
  const logAccess = logger.access !== silentLogger.access;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = logAccess ? performance.now() : 0;
    const socket = req.socket;
    const bytesBefore = logAccess ? socket.bytesWritten : 0;
    route(req, res).then(
      (servedBy) => {
        if (!logAccess) return;
        const log = () =>
          logger.access({
            method: req.method ?? '',
            url: req.url ?? '',
            // nginx logs 499 for a client that closed the connection before the response ended.
            status: res.writableFinished ? res.statusCode : 499,
            bytes: socket.bytesWritten - bytesBefore,
            durationMs: performance.now() - started,
            servedBy,
            remoteAddress: socket.remoteAddress ?? '',
          });
        if (res.writableFinished || res.destroyed) log();
        else res.once('close', log);
      },
      (err: unknown) => {
        logger.error(`${req.method} ${req.url}: internal error`, err);
        sendError(res, 500);
      },
    );
  }

  return { handle, close: () => client.close(), client };
}

function finished(res: ServerResponse): Promise<void> {
  if (res.writableFinished || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => res.once('close', () => resolve()));
}
