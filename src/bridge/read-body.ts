import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from '../http/error-response.ts';
import { type BodyLimits, BodyTimeoutError, BodyTooLargeError, readBody, type BufferedBody } from '../http/request-body.ts';

/** The whole body (413 past --max-body, 408 when it stalls), or null once the bridge answered. */
export async function readBodyOrAnswer(req: IncomingMessage, res: ServerResponse, limits: BodyLimits): Promise<BufferedBody | null> {
  try {
    return await readBody(req, limits);
  } catch (err) {
    if (err instanceof BodyTooLargeError) sendError(res, 413, err.message, { connection: 'close' });
    else if (err instanceof BodyTimeoutError) sendError(res, 408, err.message, { connection: 'close' });
    // The client went away mid-body: nothing to answer.
    else res.destroy();
    return null;
  }
}

/** Resolves when the response is done with: ended, or its connection closed. */
export function finished(res: ServerResponse): Promise<void> {
  if (res.writableFinished || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => res.once('close', () => resolve()));
}
