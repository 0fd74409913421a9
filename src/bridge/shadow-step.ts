import type { IncomingMessage } from 'node:http';
import { hasBody } from '../http/request-body.ts';
import type { ShadowRequest } from '../shadow/app-replay.ts';
import { shadowConfig, ShadowOptionError } from '../shadow/shadow-config.ts';
import { ShadowEvents } from '../shadow/shadow-event.ts';
import { Shadow } from '../shadow/shadow.ts';
import { DEFAULTS, OptionsError, type BridgeOptions } from './options.ts';
import { readBodyOrAnswer } from './read-body.ts';
import type { BridgeParts, RequestContext, Step } from './step.ts';

/** The shadow as the bridge sees it: a step before PHP (none without --shadow), and its results. */
export interface BridgeShadow {
  step: Step | null;
  events: ShadowEvents;
}

/**
 * Builds the shadow from the options, once (a bad pattern, rate or regex fails here, at start-up).
 * Its step marks the requests PHP is about to answer on a --shadow route: PHP's answer gets a tap
 * (ctx.tap, a copy on the side) and, once the client's response is over, the app gets its replay.
 */
export function bridgeShadow(options: BridgeOptions, parts: BridgeParts): BridgeShadow {
  let config;
  try {
    config = shadowConfig(options);
  } catch (err) {
    if (!(err instanceof ShadowOptionError)) throw err;
    throw new OptionsError(`${err.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())}: ${err.message}`);
  }
  if (!config) return { step: null, events: new ShadowEvents() };
  if (!parts.app) throw new OptionsError('shadow: a shadow runs the app beside PHP; there is no app');
  // An app that never finishes is cut by --app-timeout; with none (0), by the default one.
  const shadow = new Shadow(config, parts.app, parts.logger, options.appTimeoutMs || DEFAULTS.appTimeoutMs);
  return { step: shadowStep(parts, shadow), events: shadow.events };
}

function shadowStep(parts: BridgeParts, shadow: Shadow): Step {
  const { bodyLimits, logger } = parts;
  return async (ctx: RequestContext) => {
    // Only what PHP is about to answer: not a request the app already had (a declined claim).
    if (ctx.route?.kind !== 'php' || ctx.appDeclined) return null;
    const { req, res } = ctx;
    const method = req.method ?? '';
    const route = shadow.pick(method, ctx.target.path);
    if (!route) return null;
    let request: ShadowRequest | null = snapshot(req, null);
    if (hasBody(req)) {
      // Read here as PHP would (its step reuses it); a spooled body (past 1 MiB) is not kept for the app.
      const read = ctx.body ?? (ctx.body = await readBodyOrAnswer(req, res, bodyLimits, logger));
      if (!read) return 'bridge';
      request = read.chunks ? snapshot(req, read.chunks) : null;
    }
    const run = shadow.start(ctx.id, method, ctx.target.path, route, request);
    ctx.tap = run.tap;
    res.once('close', () => run.done(res.writableFinished));
    return null;
  };
}

/** What the app's replay needs of the request, copied now (the connection may serve another after). */
function snapshot(req: IncomingMessage, body: readonly Buffer[] | null): ShadowRequest {
  const socket = req.socket;
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    httpVersion: req.httpVersion,
    rawHeaders: req.rawHeaders,
    body,
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    encrypted: 'encrypted' in socket && Boolean(socket.encrypted),
  };
}
