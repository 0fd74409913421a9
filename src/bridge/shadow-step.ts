import type { IncomingMessage } from 'node:http';
import { hasBody } from '../http/request-body.ts';
import { runPhp } from '../php/php-request.ts';
import { sinkResponse, type ShadowRequest } from '../shadow/app-replay.ts';
import { ResponseCapture } from '../shadow/capture.ts';
import type { CapturedResponse } from '../shadow/compare.ts';
import { SAFE_METHODS, shadowConfig, ShadowOptionError } from '../shadow/shadow-config.ts';
import { ShadowEvents } from '../shadow/shadow-event.ts';
import { Shadow, type PhpAgain } from '../shadow/shadow.ts';
import { phpParams } from './php-step.ts';
import { DEFAULTS, OptionsError, type BridgeOptions } from './options.ts';
import { readBodyOrAnswer } from './read-body.ts';
import type { BridgeParts, RequestContext, Step } from './step.ts';

/** The shadow as the bridge sees it: a step before PHP (none without --shadow), and its results. */
export interface BridgeShadow {
  step: Step | null;
  events: ShadowEvents;
  /** Resolves once no shadow runs: closing waits for them, so their events reach the ledger. */
  idle(): Promise<void>;
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
  if (!config) return { step: null, events: new ShadowEvents(), idle: () => Promise.resolve() };
  if (!parts.app) throw new OptionsError('shadow: a shadow runs the app beside PHP; there is no app');
  // An app that never finishes is cut by --app-timeout; with none (0), by the default one.
  const shadow = new Shadow(config, parts.app, parts.logger, options.appTimeoutMs || DEFAULTS.appTimeoutMs);
  return { step: shadowStep(parts, shadow, config.noise, config.maxBody), events: shadow.events, idle: () => shadow.idle() };
}

function shadowStep(parts: BridgeParts, shadow: Shadow, noise: boolean, maxBody: number): Step {
  const { bodyLimits, logger } = parts;
  return async (ctx: RequestContext) => {
    // Only what PHP is about to answer: not a request the app already had (a declined claim).
    if (ctx.route?.kind !== 'php' || ctx.appDeclined) return null;
    const { req, res } = ctx;
    const method = req.method ?? '';
    const route = shadow.pick(method, ctx.target.path);
    if (!route) return null;
    let request: ShadowRequest | null = snapshot(req, null);
    let again: PhpAgain | null = null;
    if (hasBody(req)) {
      // Read here as PHP would (its step reuses it); a spooled body (past 1 MiB) is not kept for the app.
      const read = ctx.body ?? (ctx.body = await readBodyOrAnswer(req, res, bodyLimits, logger));
      if (!read) return 'bridge';
      request = read.chunks ? snapshot(req, read.chunks) : null;
    } else if (noise && SAFE_METHODS.has(method)) {
      // Only a request without a body, and only a safe method, is ever sent to PHP twice.
      const params = phpParams(parts, ctx, 0);
      const copy = request;
      again = () => phpAgain(parts, params, copy, maxBody);
    }
    const run = shadow.start(ctx.id, method, ctx.target.path, route, request, again);
    ctx.tap = run.tap;
    res.once('close', () => run.done(res.writableFinished));
    return null;
  };
}

/** PHP's answer to the same request once more, taken by a tap from a response that goes nowhere. */
async function phpAgain(parts: BridgeParts, params: Buffer, request: ShadowRequest, maxBody: number): Promise<CapturedResponse | null> {
  const tap = new ResponseCapture(maxBody);
  const outcome = await runPhp(parts.client, sinkResponse(request), {
    params,
    body: null,
    holdStatuses: new Set(),
    holdLimit: 0,
    onStderr: () => {},
    idempotent: true,
    spoolDir: null,
    sendTimeoutMs: 0,
    tap,
  });
  return outcome.kind === 'sent' && tap.ended && !tap.overLimit ? tap.response() : null;
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
