import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { phpEnvironment, readEnvFiles } from '../../src/cli/env-files.ts';

describe('--env-file and --php-env', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-env-'));
  const a = join(dir, '.env');
  const b = join(dir, '.env.local');
  writeFileSync(a, '# comment\nexport A=1\nB="two words"\nML="line1\nline2"\nREAL=file\n');
  writeFileSync(b, 'A=2\n');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('later files win, the real environment wins over all', () => {
    expect(readEnvFiles([a, b], { REAL: 'real' })).toEqual({ A: '2', B: 'two words', ML: 'line1\nline2', REAL: 'real' });
  });

  it('says which file cannot be read', () => {
    expect(() => readEnvFiles([join(dir, 'nope')], {})).toThrow(`--env-file ${join(dir, 'nope')}: cannot read it (ENOENT)`);
  });

  it('PHP gets PATH, the files, and --php-env (own value or the bridge\'s)', () => {
    expect(phpEnvironment({ A: '1' }, [['X', 'x'], ['HOME', undefined]], { PATH: '/bin', HOME: '/root', SECRET: 's' })).toEqual({ PATH: '/bin', A: '1', X: 'x', HOME: '/root' });
  });
});
