import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from '../http/error-response.ts';
import { ownMethods, type ResponseMethods } from '../http/response-methods.ts';
import type { Logger } from '../log/logger.ts';
import type { NodeListener } from './app-module.ts';
import type { AppWatchdog } from './app-watchdog.ts';
import { interceptNotFound } from './fallback-response.ts';
import { guardFraming } from './response-framing.ts';

/**
 * Calls the app and makes its failures the bridge's problem, not the process's: a synchronous throw or
 * a rejected promise becomes a 500 for that request (logged with its stack) and the server goes on.
 * A write after end (Node reports it as an 'error' on the response, which would otherwise crash the
 * process) is logged and goes nowhere. The response's framing is the bridge's (response-framing.ts).
 * `watchdog` enforces --app-timeout. With `onDecline`, an app's 404 is not sent: onDecline gets Node's
 * own methods to answer in its place (fallback-response.ts); with `onDeclinedEnd` too, the declined
 * app's end hands the response back for the bridge to answer on (claims, app-first).
 */
export function runApp(
  app: NodeListener,
  req: IncomingMessage,
  res: ServerResponse,
  logger: Logger,
  watchdog: AppWatchdog | null,
  onDecline?: (node: ResponseMethods) => void,
  onDeclinedEnd?: () => void,
): void {
  res.on('error', (err) => logger.error(`the app misused the response to ${req.method} ${req.url}`, err));
  noticeFailure(req, res, logger);
  const node = onDecline ? ownMethods(res) : null;
  guardFraming(req, res, { report: (message) => logger.error(`${req.method} ${req.url}: ${message}`) });
  // Under the framing guard's methods, so the app's answer, once it stands, is still guarded.
  if (onDecline) interceptNotFound(res, () => onDecline(node!), onDeclinedEnd);
  watchdog?.watch(req, res);
  try {
    const result = app(req, res);
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      (result as Promise<unknown>).then(undefined, (err: unknown) => appFailed(req, res, logger, err));
    }
  } catch (err) {
    appFailed(req, res, logger, err);
  }
}

function appFailed(req: IncomingMessage, res: ServerResponse, logger: Logger, err: unknown): void {
  logger.error(`the app failed on ${req.method} ${req.url}`, err);
  sendError(res, 500, 'The application failed to answer this request.');
}

/**
 * A response the app destroys with an error (a fetch-style app whose body stream failed: Hono's
 * adapter then destroys it) is cut where it stands: logged with its request, and recorded as a 500
 * for the access log (sendError), not as the 200 its head said.
 */
function noticeFailure(req: IncomingMessage, res: ServerResponse, logger: Logger): void {
  // The same function on every response, its state under a symbol: a fresh closure per request
  // assigned over Node's method costs the app path (see response-framing.ts).
  (res as Noticed)[NOTICE] = { destroy: res.destroy, req, logger };
  res.destroy = noticedDestroy as ServerResponse['destroy'];
}

const NOTICE = Symbol('fpm-bridge.notice-failure');
type Noticed = ServerResponse & { [NOTICE]?: { destroy: ServerResponse['destroy']; req: IncomingMessage; logger: Logger } };

function noticedDestroy(this: ServerResponse, err?: Error): ServerResponse {
  const res = this as Noticed;
  const { destroy, req, logger } = res[NOTICE]!;
  res.destroy = destroy;
  if (err && res.headersSent && !res.writableFinished) {
    logger.error(`${req.method} ${req.url}: the app's response failed after its head went out; connection cut`, err);
    sendError(res, 500);
    return res;
  }
  if (err && !res.headersSent) {
    logger.error(`${req.method} ${req.url}: the app's response failed before it started`, err);
  }
  return destroy.call(res, err);
}
