import { sendError } from '../http/error-response.ts';
import type { Logger } from '../log/logger.ts';
import type { CgiHead } from '../php/cgi-response.ts';
import { serveStatic } from '../static/serve-static.ts';
import { KEPT_FROM_PHP, type SendfileRoots } from '../static/sendfile.ts';
import type { RequestContext } from './step.ts';

/**
 * PHP answered with X-Accel-Redirect or X-Sendfile: its body is dropped and the file it names is sent
 * as a static file (Range, HEAD, conditional requests), with the headers of PHP's answer nginx keeps.
 * A file outside the roots, or missing, is a 404 and a warning naming what PHP asked for.
 */
export async function sendFileForPhp(roots: SendfileRoots, ctx: RequestContext, head: CgiHead, logger: Logger): Promise<void> {
  const { req, res } = ctx;
  const target = await roots.target(head.headers);
  if ('refused' in target) {
    logger.warn(`${req.method} ${req.url}: PHP's file not sent: ${target.refused}`);
    sendError(res, 404);
    return;
  }
  const keep: string[] = [];
  for (const [name, value] of head.headers) if (KEPT_FROM_PHP.has(name.toLowerCase())) keep.push(name, value);
  const onError = (status: number, err: Error, headers?: Record<string, string>) => {
    if (status >= 500) logger.error(`${req.method} ${req.url}: sending ${target.file} for PHP`, err);
    else if (status === 404 || status === 403) logger.warn(`${req.method} ${req.url}: PHP's file not sent: ${err.message}`);
    sendError(res, status, undefined, headers);
  };
  serveStatic(req, res, target.file, null, onError, undefined, keep);
}
