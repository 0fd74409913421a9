import { sendError } from '../http/error-response.ts';
import { resolveRouteNow, type Route } from '../route/resolve.ts';
import type { Variant } from '../static/precompressed.ts';
import { serveStatic, type StaticError } from '../static/serve-static.ts';
import type { BridgeParts, Step } from './step.ts';

/**
 * Asks the docroot who serves the path (see route/resolve.ts); serves nothing itself. With the
 * stat cache warm it answers in the same turn.
 */
export function resolveStep(parts: BridgeParts): Step {
  const { routeConfig, lookup } = parts;
  return (ctx) => {
    const route = resolveRouteNow(ctx.target.path, ctx.target.query, routeConfig, lookup);
    if (!(route instanceof Promise)) {
      ctx.route = route;
      return null;
    }
    return route.then((r: Route) => {
      ctx.route = r;
      return null;
    });
  };
}

/** A file of the docroot that is no PHP script. */
export function staticStep(parts: BridgeParts): Step {
  const { fileCache, logger, precompressed } = parts;
  return ({ req, res, route }) => {
    if (route?.kind !== 'static') return null;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, undefined, { allow: 'GET, HEAD' });
      return 'bridge';
    }
    const file = route.file;
    const onError: StaticError = (status, err, headers) => {
      if (status >= 500) logger.error(`static ${file}`, err);
      sendError(res, status, undefined, headers);
    };
    const send = (v: Variant | null) => (v ? serveStatic(req, res, v.file, fileCache, onError, v) : serveStatic(req, res, file, fileCache, onError));
    const variant = precompressed ? precompressed.pick(req, file) : null;
    if (variant instanceof Promise) variant.then(send, (err: Error) => onError(500, err));
    else send(variant);
    return 'static';
  };
}

/** `/dir` whose index exists: 301 to `/dir/`, as nginx. */
export const redirectStep: Step = ({ res, route }) => {
  if (route?.kind !== 'redirect') return null;
  res.writeHead(301, { location: route.location, 'content-length': 0 });
  res.end();
  return 'bridge';
};
