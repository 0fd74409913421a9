import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PhpFpmNotFoundError } from '../../src/fpm/errors.ts';
import { findPhpFpm, versionOfName } from '../../src/fpm/find-binary.ts';

let root: string;
const dir = (name: string) => {
  const d = join(root, name);
  mkdirSync(d, { recursive: true });
  return d;
};
const exe = (d: string, name: string, mode = 0o755) => {
  const p = join(d, name);
  writeFileSync(p, '#!/bin/sh\n');
  chmodSync(p, mode);
  return p;
};

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'fpm-bridge-find-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('findPhpFpm', () => {
  it('prefers a plain php-fpm, then the newest versioned one, across PATH and the sbin dirs', () => {
    const bin = dir('bin');
    const sbin = dir('sbin');
    exe(bin, 'php-fpm7.4');
    exe(sbin, 'php-fpm8.3');
    exe(sbin, 'php-fpm8.10');
    exe(sbin, 'php-fpm82'); // Alpine's spelling of 8.2
    expect(findPhpFpm({ path: bin, extraDirs: [sbin] })).toBe(join(sbin, 'php-fpm8.10'));
    const plain = exe(sbin, 'php-fpm');
    expect(findPhpFpm({ path: bin, extraDirs: [sbin] })).toBe(plain);
  });

  it('skips files that are not executable and names that only look alike', () => {
    const sbin = dir('sbin');
    exe(sbin, 'php-fpm9.9', 0o644);
    exe(sbin, 'php-fpm8.2.conf');
    exe(sbin, 'php-fpm-wrapper');
    const good = exe(sbin, 'php-fpm8.1');
    expect(findPhpFpm({ path: '', extraDirs: [sbin] })).toBe(good);
  });

  it('counts a symlinked binary once (Debian alternatives) and keeps PATH order for equal versions', () => {
    const a = dir('a');
    const b = dir('b');
    const real = exe(a, 'php-fpm8.2');
    symlinkSync(real, join(b, 'php-fpm8.2'));
    expect(findPhpFpm({ path: `${b}:${a}`, extraDirs: [] })).toBe(join(b, 'php-fpm8.2'));
  });

  it('--php-fpm-bin wins: a path, or a name looked up on PATH', () => {
    const sbin = dir('sbin');
    exe(sbin, 'php-fpm');
    const other = exe(dir('opt'), 'my-fpm');
    expect(findPhpFpm({ bin: other, path: '', extraDirs: [sbin] })).toBe(other);
    const named = exe(sbin, 'php-fpm8.1');
    expect(findPhpFpm({ bin: 'php-fpm8.1', path: '', extraDirs: [sbin] })).toBe(named);
  });

  it('fails with install commands for every platform when nothing is found', () => {
    const err = (() => {
      try {
        findPhpFpm({ path: dir('empty'), extraDirs: [] });
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(PhpFpmNotFoundError);
    for (const hint of ['sudo apt-get install php-fpm', 'php8.2-fpm', 'sudo dnf install php-fpm', 'apk add php82-fpm', 'brew install php', '$(brew --prefix)/sbin/php-fpm', '--php-fpm-bin', '--fpm']) {
      expect(err!.message).toContain(hint);
    }
    expect(() => findPhpFpm({ bin: '/nonexistent/php-fpm', path: '', extraDirs: [] })).toThrow(/--php-fpm-bin \/nonexistent\/php-fpm: no such executable[\s\S]*apt-get/);
  });
});

describe('versionOfName', () => {
  it('reads Debian, Alpine and bare major spellings', () => {
    expect(versionOfName('php-fpm8.2')).toEqual([8, 2]);
    expect(versionOfName('php-fpm83')).toEqual([8, 3]);
    expect(versionOfName('php-fpm7')).toEqual([7, 0]);
    expect(versionOfName('php-fpm')).toBeNull();
    expect(versionOfName('php-fpm8.2-old')).toBeNull();
  });
});
