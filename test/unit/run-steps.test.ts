import { describe, expect, it } from 'vitest';
import { runSteps } from '../../src/bridge/run-steps.ts';
import type { RequestContext, Step } from '../../src/bridge/step.ts';

const ctx = {} as RequestContext;

/** A step that records its name and answers `r` (a value, or a promise of one when `later`). */
function step(log: string[], name: string, r: 'php' | 'static' | null, later = false): Step {
  return () => {
    log.push(name);
    return later ? Promise.resolve(r) : r;
  };
}

describe('runSteps', () => {
  it('answers at once, with no promise, while every step does', () => {
    const log: string[] = [];
    expect(runSteps([step(log, 'a', null), step(log, 'b', 'static'), step(log, 'c', 'php')], ctx)).toBe('static');
    expect(log).toEqual(['a', 'b']);
    expect(runSteps([step(log, 'd', null)], ctx)).toBeNull();
  });

  it('hands the rest of the walk to the first step that answers later', async () => {
    const log: string[] = [];
    const r = runSteps([step(log, 'a', null), step(log, 'b', null, true), step(log, 'c', null), step(log, 'd', 'php', true), step(log, 'e', 'static')], ctx);
    expect(r).toBeInstanceOf(Promise);
    expect(log).toEqual(['a', 'b']);
    expect(await r).toBe('php');
    expect(log).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a step that throws throws; one that rejects rejects, and no step after it runs', async () => {
    const log: string[] = [];
    const boom: Step = () => {
      throw new Error('boom');
    };
    expect(() => runSteps([step(log, 'a', null), boom, step(log, 'c', 'php')], ctx)).toThrow('boom');
    const rejects: Step = () => Promise.reject(new Error('later boom'));
    await expect(runSteps([rejects, step(log, 'd', 'php')], ctx)).rejects.toThrow('later boom');
    expect(log).toEqual(['a']);
  });
});
