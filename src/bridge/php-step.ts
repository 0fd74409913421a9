import { encodeParams } from '../fastcgi/name-value.ts';
import { sendError } from '../http/error-response.ts';
import { hasBody } from '../http/request-body.ts';
import type { ServedBy } from '../log/logger.ts';
import { buildCgiParams } from '../php/cgi-params.ts';
import { runPhp } from '../php/php-request.ts';
import { SendfileRoots } from '../static/sendfile.ts';
import { readBodyOrAnswer } from './read-body.ts';
import { sendFileForPhp } from './sendfile-answer.ts';
import type { BridgeParts, RequestContext, Step } from './step.ts';

/** RFC 9110 9.2.2: requests that may be sent twice without harm. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);
/** The statuses with which PHP declines a request so the app gets it. */
const FALLBACK_STATUSES: ReadonlySet<number> = new Set([404]);
const NO_STATUSES: ReadonlySet<number> = new Set();
/** A PHP 404 body larger than this is not held for the app: PHP's answer stands. */
const HOLD_LIMIT = 1024 * 1024;

/**
 * Runs a PHP script of the docroot. With `holdForApp`, PHP's 404 is held back (ctx.held) and the
 * request passes on to the app; a request the app already declined gets PHP's answer as it is.
 */
export function phpStep(parts: BridgeParts, holdForApp: boolean): Step {
  const { client, logger, bodyLimits, fpmRestarting, sendTimeoutMs, sendfile } = parts;
  return async (ctx: RequestContext): Promise<ServedBy | null> => {
    const { req, res, route } = ctx;
    if (route?.kind !== 'php') return null;
    const body = ctx.body ?? (ctx.body = await readBodyOrAnswer(req, res, bodyLimits, logger));
    if (!body) return 'bridge';
    const params = phpParams(parts, ctx, body.size);
    const outcome = await runPhp(client, res, {
      params,
      body: body.size === 0 ? null : (body.chunks ?? { [Symbol.asyncIterator]: () => body.streamReused()[Symbol.asyncIterator]() }),
      holdStatuses: holdForApp && !ctx.appDeclined ? FALLBACK_STATUSES : NO_STATUSES,
      holdLimit: HOLD_LIMIT,
      holdHead: sendfile ? (head) => SendfileRoots.asks(head.headers) : undefined,
      onStderr: (line) => logger.phpStderr(req.method ?? '', req.url ?? '', line, ctx.id),
      idempotent: IDEMPOTENT.has(req.method ?? ''),
      spoolDir: () => bodyLimits.spool.prepare(),
      sendTimeoutMs,
      onWarning: (message) => logger.warn(`${req.method} ${req.url}: ${message}`),
      tap: ctx.tap,
    });
    switch (outcome.kind) {
      case 'aborted':
        if (outcome.reason) logger.error(`${req.method} ${req.url}: ${outcome.reason}`);
        return ctx.appDeclined ? 'app→php' : 'php';
      case 'sent':
        if (outcome.warning) logger.warn(`${req.method} ${req.url}: ${outcome.warning}`);
        return ctx.appDeclined ? 'app→php' : 'php';
      case 'failed': {
        logger.error(`${req.method} ${req.url}: ${outcome.reason}`);
        const status = outcome.status === 502 && fpmRestarting?.() ? 503 : outcome.status;
        sendError(res, status, undefined, status === 503 ? { 'retry-after': '1' } : undefined);
        return 'bridge';
      }
      case 'held':
        if (sendfile && SendfileRoots.asks(outcome.response.head.headers)) {
          await sendFileForPhp(sendfile, ctx, outcome.response.head, logger);
          return ctx.appDeclined ? 'app→php' : 'php';
        }
        // PHP said 404: the next step (the app) decides.
        ctx.held = outcome.response;
        return null;
    }
  };
}

/** The FastCGI params of a request the docroot routed to PHP, encoded: what nginx's fastcgi_params sends. */
export function phpParams(parts: BridgeParts, ctx: RequestContext, bodySize: number): Buffer {
  const { req, route, target } = ctx;
  if (route?.kind !== 'php') throw new Error('phpParams: not a PHP route');
  const socket = req.socket;
  return encodeParams(
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
        // A declared `Content-Length: 0` is "0" (nginx sends it; frameworks read it), no header is "".
        contentLength: hasBody(req) || req.headers['content-length'] !== undefined ? bodySize : null,
        trustProxy: parts.trustProxy,
      },
      { scriptName: route.scriptName, pathInfo: route.pathInfo, scriptFilename: route.file, queryString: target.query },
      parts.server,
    ),
  );
}
