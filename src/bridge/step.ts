import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NodeListener } from '../app/app-module.ts';
import type { AppWatchdog } from '../app/app-watchdog.ts';
import type { FcgiBackend } from '../fastcgi/pool-set.ts';
import type { BodyLimits, BufferedBody } from '../http/request-body.ts';
import type { Logger, ServedBy } from '../log/logger.ts';
import type { ServerParams } from '../php/cgi-params.ts';
import type { HeldResponse, ResponseTap } from '../php/php-request.ts';
import type { FileLookup } from '../route/file-lookup.ts';
import type { RoutePattern } from '../route/claim-pattern.ts';
import type { RequestTarget } from '../route/request-target.ts';
import type { Route, RouteConfig } from '../route/resolve.ts';
import type { Precompressed } from '../static/precompressed.ts';
import type { SendfileRoots } from '../static/sendfile.ts';
import type { SmallFileCache } from '../static/small-file-cache.ts';

export type ParsedTarget = RequestTarget & { ok: true };

/** One request on its way through the steps: what each step found out, for the steps after it. */
export interface RequestContext {
  readonly id: number;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The target the bridge routes on (after rewrites). */
  readonly target: ParsedTarget;
  /** The claim this request matched (route/claim-pattern.ts), or null. */
  readonly claim: RoutePattern | null;
  /** The docroot's decision, once the resolve step ran. */
  route: Route | null;
  /** The request body, once a step read it (disposed when the request ends). */
  body: BufferedBody | null;
  /** PHP's 404, held back for the app (php-first order). */
  held: HeldResponse | null;
  /** The app answered 404 first (claims, app-first): from here PHP's answer stands, even a 404. */
  appDeclined: boolean;
  /** Gets a copy of PHP's answer as it goes out (a --shadow route: bridge/shadow-step.ts), or null. */
  tap: ResponseTap | null;
}

/**
 * A step either serves the request (says who did) or passes it on (null) to the next step in the
 * order. The order of sides is a list of steps built once from the options (see order.ts).
 */
export type StepResult = ServedBy | null;
export type Step = (ctx: RequestContext) => StepResult | Promise<StepResult>;

/** What the steps share, built once by createBridge from the options. */
export interface BridgeParts {
  logger: Logger;
  app: NodeListener | null;
  client: FcgiBackend;
  bodyLimits: BodyLimits;
  watchdog: AppWatchdog | null;
  trustProxy: ((addr: string, i: number) => boolean) | undefined;
  server: ServerParams;
  routeConfig: RouteConfig;
  lookup: FileLookup;
  fileCache: SmallFileCache | null;
  /** Precompressed copies of static files (`x.css.br`), when compression is on. */
  precompressed: Precompressed | null;
  /** `--sendfile-root`: files PHP may hand over with X-Accel-Redirect / X-Sendfile; null: off. */
  sendfile: SendfileRoots | null;
  root: string;
  fpmRestarting: (() => boolean) | undefined;
  /** nginx send_timeout for PHP's answers (ms; 0: none). */
  sendTimeoutMs: number;
}
