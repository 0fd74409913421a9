import { appFallbackStep } from './app-steps.ts';
import { redirectStep, resolveStep, staticStep } from './docroot-steps.ts';
import { phpStep } from './php-step.ts';
import type { BridgeParts, Step } from './step.ts';

/**
 * The order of sides, as data: the steps a request goes through until one serves it, built once from
 * the options. Every order ends in the docroot (static, redirect, PHP) and the app's fallback.
 *
 *   php-first (default): docroot → PHP (its 404 held) → app
 */
export function buildSteps(parts: BridgeParts): Step[] {
  return [resolveStep(parts), staticStep(parts), redirectStep, phpStep(parts, parts.app !== null), appFallbackStep(parts)];
}
