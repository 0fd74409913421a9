import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from '../http/error-response.ts';
import { type BodyLimits, BodyTimeoutError, BodyTooLargeError, readBody, type BufferedBody } from '../http/request-body.ts';
import { SpoolError } from '../http/spool.ts';
import type { Logger } from '../log/logger.ts';

/**
 * The whole body (413 past --max-body, 408 when it stalls, 507/503 when it cannot be spooled), or
 * null once the bridge answered.
 */
export async function readBodyOrAnswer(req: IncomingMessage, res: ServerResponse, limits: BodyLimits, logger: Logger): Promise<BufferedBody | null> {
  try {
    return await readBody(req, limits);
  } catch (err) {
    if (err instanceof BodyTooLargeError) sendError(res, 413, err.message, { connection: 'close' });
    else if (err instanceof BodyTimeoutError) sendError(res, 408, err.message, { connection: 'close' });
    else if (err instanceof SpoolError) {
      // The operator's problem, not the client's: the log says why, the client gets an answer. It
      // waits (a few seconds at most) for the rest of the body, read and dropped, so a client still
      // sending reads it instead of a reset.
      logger.error(`${req.method} ${req.url}: ${err.message}`);
      await drained(req, 5_000);
      sendError(res, err.status, undefined, { connection: 'close', ...(err.status === 503 ? { 'retry-after': '10' } : {}) });
    }
    // The client went away mid-body: nothing to answer.
    else res.destroy();
    return null;
  }
}

/** Resolves once the request body has been read to its end (or the client left), or after `ms`. */
function drained(req: IncomingMessage, ms: number): Promise<void> {
  if (req.complete || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    req.once('end', done);
    req.once('close', done);
    req.resume();
  });
}

/** Resolves when the response is done with: ended, or its connection closed. */
export function finished(res: ServerResponse): Promise<void> {
  if (res.writableFinished || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => res.once('close', () => resolve()));
}
