import { appFallbackStep, appFirstStep } from './app-steps.ts';
import { redirectStep, resolveStep, staticStep } from './docroot-steps.ts';
import { phpStep } from './php-step.ts';
import type { PatternList } from '../route/claim-pattern.ts';
import type { BridgeParts, RequestContext, Step } from './step.ts';

/** Who is asked first: PHP (the app gets its 404s) or the app (PHP gets its 404s). */
export type Order = 'php-first' | 'app-first';

/**
 * The order of sides, as data: the steps a request goes through until one serves it, built once from
 * the options. Every order ends in the docroot (static, redirect, PHP) and the app's fallback.
 *
 *   php-first (default): docroot → PHP (its 404 held) → app
 *   with claims:         docroot lookup → app for a claimed route (its 404 declines) → static → PHP → app
 *   app-first:           docroot lookup → app for every request (its 404 declines) → static → PHP
 *   with --shadow:       the shadow's step right before PHP (a copy of PHP's answer for the app's replay)
 *
 * The lookup runs first in every order only to know whether anything but the app could answer: a
 * path the docroot has nothing for gets the app's answer as it is, its 404 included.
 */
export function buildSteps(parts: BridgeParts, order: Order, claims: PatternList | null, shadow: Step | null = null): Step[] {
  const steps: Step[] = [resolveStep(parts)];
  if (parts.app && order === 'app-first') {
    steps.push(appFirstStep(parts, (ctx) => (ctx.claim?.strict ? 'strict' : 'fallback')));
  } else if (parts.app && claims) {
    steps.push(appFirstStep(parts, claimed));
  }
  steps.push(staticStep(parts), redirectStep, ...(shadow ? [shadow] : []), phpStep(parts, parts.app !== null), appFallbackStep(parts));
  return steps;
}

/** A claimed route goes to the app first; a strict claim keeps the app's 404. */
function claimed(ctx: RequestContext): 'fallback' | 'strict' | null {
  return ctx.claim === null ? null : ctx.claim.strict ? 'strict' : 'fallback';
}
