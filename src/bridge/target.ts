import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from '../http/error-response.ts';
import type { Logger } from '../log/logger.ts';
import { normalizePath, parseRequestTarget } from '../route/request-target.ts';
import { applyRewrites, MAX_REWRITES, type RewriteRule } from '../route/rewrite.ts';
import type { ParsedTarget } from './step.ts';

/**
 * The path and query the bridge routes on: the request target parsed and normalised (400 when it
 * cannot be), then the rewrites applied (a redirect rule answers here). Null once the bridge answered.
 */
export function routingTarget(req: IncomingMessage, res: ServerResponse, rewrites: readonly RewriteRule[], logger: Logger): ParsedTarget | null {
  const parsed = parseRequestTarget(req.url ?? '/');
  if (!parsed.ok) {
    sendError(res, 400, parsed.reason);
    return null;
  }
  if (rewrites.length === 0) return parsed;
  const rewritten = applyRewrites(rewrites, parsed.path, parsed.query);
  if (rewritten === 'loop') {
    logger.error(`${req.method} ${req.url}: rewrite cycle (more than ${MAX_REWRITES} rules applied)`);
    sendError(res, 500);
    return null;
  }
  if (rewritten?.kind === 'redirect') {
    res.writeHead(rewritten.status, { location: rewritten.location, 'content-length': 0 });
    res.end();
    return null;
  }
  if (!rewritten) return parsed;
  // An internal rewrite routes on the new path and query; REQUEST_URI stays what the client sent.
  const path = normalizePath(rewritten.path.startsWith('/') ? rewritten.path : '/' + rewritten.path);
  if (path === null) {
    sendError(res, 400, 'rewritten path climbs above the document root');
    return null;
  }
  return { ...parsed, path, query: rewritten.query };
}
