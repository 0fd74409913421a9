import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/cli/args.ts';
import { closest } from '../../src/cli/suggest.ts';

const err = (argv: string[]): string => {
  try {
    parseArgs(argv);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
};

describe('flags people type', () => {
  it('-p, --port and -p8000 are --listen; -t is --root', () => {
    expect(parseArgs(['-p', '8000']).listen).toEqual({ host: '127.0.0.1', port: 8000, tls: false });
    expect(parseArgs(['-p8000']).listen.port).toBe(8000);
    expect(parseArgs(['--port', '0.0.0.0:8001']).listen).toEqual({ host: '0.0.0.0', port: 8001, tls: false });
    expect(parseArgs(['--port=8002']).listen.port).toBe(8002);
    const t = parseArgs(['-t', 'public']);
    expect(t.root).toBe('public');
    expect(t.rootGiven).toBe(true);
    expect(parseArgs([]).rootGiven).toBe(false);
  });

  it('names the flag as typed in errors', () => {
    expect(err(['-p', 'abc'])).toMatch(/^-p: /);
    expect(err(['-p', 'abc'])).not.toContain('--p');
    expect(err(['--port', 'abc'])).toMatch(/^--port: /);
    expect(err(['-t', 'a', '-t', 'b'])).toBe('-t given more than once');
    expect(err(['-t', ''])).toBe('-t needs a value');
  });

  it('says did you mean for unknown flags', () => {
    expect(err(['--prot', '8000'])).toBe('unknown flag --prot (did you mean --port (the same as --listen)?)');
    expect(err(['--lsiten', '8000'])).toMatch(/did you mean --listen\?/);
    expect(err(['--wathc'])).toMatch(/unknown flag --wathc \(did you mean --watch\?\)/);
    expect(err(['-x'])).toBe('unknown flag -x');
    expect(err(['-root', 'x'])).toBe('unknown flag -root: long flags take two dashes (--root)');
    expect(err(['--zzzzzz'])).toBe('unknown flag --zzzzzz');
    expect(err(['--no-root'])).toMatch(/only on\/off flags take no-/);
  });

  it('says did you mean for unknown config keys, and takes "port"', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-cfg-'));
    try {
      const f = join(dir, 'fpm-bridge.json');
      writeFileSync(f, JSON.stringify({ prot: '8000' }));
      expect(err(['--config', f])).toMatch(/unknown key "prot" \(did you mean "port"\?\)/);
      writeFileSync(f, JSON.stringify({ port: '8003', 'env-file': ['.env', '/abs/.env.local'] }));
      const c = parseArgs(['--config', f]);
      expect(c.listen.port).toBe(8003);
      expect(c.envFiles).toEqual([join(dir, '.env'), '/abs/.env.local']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('development mode: on with a spawned php-fpm or --watch, off with --fpm, --dev/--no-dev decide', () => {
    expect(parseArgs([]).dev).toBe(true);
    expect(parseArgs(['--fpm', '9000']).dev).toBe(false);
    expect(parseArgs(['--fpm', '9000', '--dev']).dev).toBe(true);
    expect(parseArgs(['--fpm', '9000', '--app', 'a.ts', '--watch']).dev).toBe(true);
    expect(parseArgs(['--no-dev']).dev).toBe(false);
  });

  it('--php-env NAME[=VALUE] and --xdebug are for the spawned pool only', () => {
    expect(parseArgs(['--php-env', 'APP_ENV=dev', '--php-env', 'HOME']).phpEnv).toEqual([
      ['APP_ENV', 'dev'],
      ['HOME', undefined],
    ]);
    expect(err(['--php-env', '1X=2'])).toMatch(/--php-env wants NAME or NAME=VALUE/);
    expect(err(['--fpm', '9000', '--php-env', 'A=1'])).toMatch(/^--php-env configures the php-fpm/);
    expect(err(['--fpm', '9000', '--xdebug'])).toMatch(/^--xdebug configures the php-fpm/);
  });

  it('closest: transpositions and prefixes', () => {
    expect(closest('prot', ['port', 'root', 'listen'])).toEqual(['port']);
    expect(closest('list', ['port', 'listen'])).toEqual(['listen']);
    expect(closest('qqq', ['port'])).toEqual([]);
  });
});
