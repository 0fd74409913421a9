import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from '../http/error-response.ts';
import type { Logger } from '../log/logger.ts';
import type { NodeListener } from './app-module.ts';

/**
 * Calls the app and makes its failures the bridge's problem, not the process's: a synchronous throw or
 * a rejected promise becomes a 500 for that request (logged with its stack) and the server goes on.
 */
export function runApp(app: NodeListener, req: IncomingMessage, res: ServerResponse, logger: Logger): void {
  const fail = (err: unknown) => {
    logger.error(`the app failed on ${req.method} ${req.url}`, err);
    sendError(res, 500, 'The application failed to answer this request.');
  };
  try {
    const result = app(req, res);
    if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).then(undefined, fail);
  } catch (err) {
    fail(err);
  }
}
