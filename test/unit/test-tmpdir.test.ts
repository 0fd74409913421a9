import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

// scripts/test runs the suite with TMPDIR set to a dir of its own that scripts/test-tmpdir makes:
// a killed run never reaches its afterAll hooks, and its temp dirs would otherwise stay for good.
const script = join(import.meta.dirname, '..', '..', 'scripts', 'test-tmpdir');

/** A pid no process has now: one that just exited. */
function deadPid(): number {
  return Number(spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim());
}

describe('scripts/test-tmpdir', () => {
  let base = '';
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it("makes the run's dir and removes those of runs whose process is gone, not those still running", () => {
    base = mkdtempSync(join(tmpdir(), 'test-tmpdir-'));
    const gone = join(base, `fpm-bridge-tests.${deadPid()}`);
    mkdirSync(join(gone, 'fpm-bridge-php-abc'), { recursive: true });
    writeFileSync(join(gone, 'fpm-bridge-php-abc', 'php-fpm.sock'), '');
    const running = join(base, `fpm-bridge-tests.${process.pid}`);
    mkdirSync(running);
    const other = join(base, 'fpm-bridge-tests.notapid');
    mkdirSync(other);
    const unrelated = join(base, 'fpm-bridge-php-xyz');
    mkdirSync(unrelated);

    const out = execFileSync('bash', [script, '4194303'], { env: { ...process.env, TMPDIR: base }, encoding: 'utf8' }).trim();

    expect(out).toBe(join(base, 'fpm-bridge-tests.4194303'));
    expect(existsSync(out)).toBe(true);
    expect(existsSync(gone)).toBe(false);
    expect(existsSync(running)).toBe(true);
    expect(existsSync(other)).toBe(true);
    expect(existsSync(unrelated)).toBe(true);
  });

  it('asks for the owner when none is given', () => {
    const r = spawnSync('bash', [script], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/usage: test-tmpdir OWNER_PID/);
  });
});
