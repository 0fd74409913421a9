import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from '../http/error-response.ts';
import type { Logger } from '../log/logger.ts';
import type { NodeListener } from './app-module.ts';

/**
 * Calls the app and makes its failures the bridge's problem, not the process's: a synchronous throw or
 * a rejected promise becomes a 500 for that request (logged with its stack) and the server goes on.
 *
 * With `timeoutMs`, an app that has not started its answer within that time gets a 504 sent in its
 * place, and one that goes quiet for that long mid-response has its connection cut (like nginx's
 * proxy_read_timeout, which also runs between two reads, so a long stream that keeps writing lives).
 * A write after end (Node reports it as an 'error' on the response, which would otherwise crash the
 * process) is logged and goes nowhere.
 */
export function runApp(app: NodeListener, req: IncomingMessage, res: ServerResponse, logger: Logger, timeoutMs = 0): void {
  const fail = (err: unknown) => {
    logger.error(`the app failed on ${req.method} ${req.url}`, err);
    sendError(res, 500, 'The application failed to answer this request.');
  };
  res.on('error', (err) => logger.error(`the app misused the response to ${req.method} ${req.url}`, err));
  if (timeoutMs > 0) watchApp(req, res, logger, timeoutMs);
  try {
    const result = app(req, res);
    if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).then(undefined, fail);
  } catch (err) {
    fail(err);
  }
}

function watchApp(req: IncomingMessage, res: ServerResponse, logger: Logger, timeoutMs: number): void {
  const socket = req.socket;
  let written = socket.bytesWritten;
  const timer = setTimeout(function check() {
    if (res.writableEnded || res.destroyed) return;
    if (!res.headersSent) {
      logger.error(`the app did not answer ${req.method} ${req.url} within ${timeoutMs} ms (--app-timeout)`);
      sendError(res, 504, 'The application did not answer in time.', { connection: 'close' });
      silence(res);
      return;
    }
    if (socket.bytesWritten !== written) {
      written = socket.bytesWritten;
      timer.refresh();
      return;
    }
    logger.error(`the app wrote nothing to ${req.method} ${req.url} for ${timeoutMs} ms (--app-timeout): connection cut`);
    res.destroy();
  }, timeoutMs);
  const stop = () => clearTimeout(timer);
  res.once('finish', stop);
  res.once('close', stop);
}

/** After the bridge answered in the app's place, the app's late calls go nowhere instead of throwing. */
function silence(res: ServerResponse): void {
  const self = () => res;
  res.writeHead = self as unknown as ServerResponse['writeHead'];
  res.setHeader = self as unknown as ServerResponse['setHeader'];
  res.appendHeader = self as unknown as ServerResponse['appendHeader'];
  res.removeHeader = () => {};
  res.flushHeaders = () => {};
  res.write = (() => true) as unknown as ServerResponse['write'];
  res.end = self as unknown as ServerResponse['end'];
}
