import type { RequestContext, Step, StepResult } from './step.ts';

/**
 * Runs the steps in order until one serves the request (says who did), or all pass (null).
 *
 * Synchronous for as long as the steps are: a static file or a PHP request whose route the stat
 * cache knows goes from the parser to its handler in one turn, with no promise per request. The
 * first step that answers with a promise hands the rest of the walk to that promise.
 */
export function runSteps(steps: readonly Step[], ctx: RequestContext, from = 0): StepResult | Promise<StepResult> {
  for (let i = from; i < steps.length; i++) {
    const r = steps[i]!(ctx);
    if (r === null) continue;
    if (typeof r === 'string') return r;
    const next = i + 1;
    return r.then((servedBy) => (servedBy !== null ? servedBy : runSteps(steps, ctx, next)));
  }
  return null;
}
