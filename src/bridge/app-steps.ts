import { replayRequest } from '../app/replay-request.ts';
import { runApp } from '../app/run-app.ts';
import { sendError } from '../http/error-response.ts';
import { ownMethods } from '../http/response-methods.ts';
import { BodyTooLargeError, declaredTooLarge, hasBody } from '../http/request-body.ts';
import type { ServedBy } from '../log/logger.ts';
import { sendHeld } from '../php/php-request.ts';
import { finished, readBodyOrAnswer } from './read-body.ts';
import type { BridgeParts, RequestContext, Step } from './step.ts';

/**
 * The app after PHP (php-first order): it gets what PHP held back as a 404 (the same request, body
 * replayed; its own 404 gives back PHP's), and every path the docroot has nothing for. Without an
 * app, or once the app declined earlier in the order, such a path is a plain 404.
 */
export function appFallbackStep(parts: BridgeParts): Step {
  const { app, logger, watchdog, sendTimeoutMs } = parts;
  return async (ctx: RequestContext): Promise<ServedBy | null> => {
    const { req, res, held } = ctx;
    if (held && app) {
      let servedBy: ServedBy = 'php→app';
      runApp(app, replayRequest(req, ctx.body!), res, logger, watchdog, (node) => {
        servedBy = 'php→app→php';
        ctx.appDeclined = true;
        const warning = sendHeld(res, held, node, sendTimeoutMs);
        if (warning) logger.warn(`${req.method} ${req.url}: ${warning}`);
      });
      await finished(res);
      return servedBy;
    }
    if (ctx.route?.kind !== 'none') return null;
    if (!app || ctx.appDeclined) {
      sendError(res, 404);
      return 'bridge';
    }
    return serveApp(parts, ctx);
  };
}

/** Hands the request to the app, its body read first when it has one. */
export async function serveApp(parts: BridgeParts, ctx: RequestContext): Promise<ServedBy> {
  const { app, logger, watchdog, bodyLimits } = parts;
  const { req, res } = ctx;
  if (declaredTooLarge(req, bodyLimits.maxBody)) {
    sendError(res, 413, new BodyTooLargeError(bodyLimits.maxBody).message, { connection: 'close' });
    return 'bridge';
  }
  if (!hasBody(req)) {
    runApp(app!, req, res, logger, watchdog);
    return 'app';
  }
  // Read first, so the app never sees more than --max-body (a chunked body declares no length)
  // and a stalled body times out here; the app reads a replay of it.
  const body = ctx.body ?? (ctx.body = await readBodyOrAnswer(req, res, bodyLimits, logger));
  if (!body) return 'bridge';
  runApp(app!, replayRequest(req, body), res, logger, watchdog);
  await finished(res);
  return 'app';
}

/**
 * The app before the docroot and PHP, for the requests `wants` picks (a claimed route, or every
 * request in app-first order). When the docroot has nothing for the path, or the claim is strict,
 * the app's answer stands whatever it is. Otherwise its 404 declines the request: nothing of it
 * reaches the client and the steps after this one (static, PHP) answer, with the body replayed —
 * the hold-and-replay of php-first pointed the other way.
 */
export function appFirstStep(parts: BridgeParts, wants: (ctx: RequestContext) => 'fallback' | 'strict' | null): Step {
  const { app, logger, watchdog, bodyLimits } = parts;
  return async (ctx: RequestContext): Promise<ServedBy | null> => {
    const how = wants(ctx);
    if (how === null || !app) return null;
    if (how === 'strict' || ctx.route?.kind === 'none') return serveApp(parts, ctx);
    const { req, res } = ctx;
    if (declaredTooLarge(req, bodyLimits.maxBody)) {
      sendError(res, 413, new BodyTooLargeError(bodyLimits.maxBody).message, { connection: 'close' });
      return 'bridge';
    }
    let appReq = req;
    if (hasBody(req)) {
      const body = (ctx.body = await readBodyOrAnswer(req, res, bodyLimits, logger));
      if (!body) return 'bridge';
      appReq = replayRequest(req, body);
    }
    // Node's own methods, under the app's framing guard: the docroot and PHP answer through these.
    const node = ownMethods(res);
    const nodeFlush = res.flushHeaders;
    const declined = await new Promise<boolean>((resolve) => {
      runApp(
        app,
        appReq,
        res,
        logger,
        watchdog,
        () => {},
        () => {
          Object.assign(res, node, { flushHeaders: nodeFlush });
          watchdog?.forget(res);
          resolve(true);
        },
      );
      void finished(res).then(() => resolve(false));
    });
    if (!declined) return 'app';
    ctx.appDeclined = true;
    return null;
  };
}
