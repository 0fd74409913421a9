import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeAmbiguity, describeDetection, detectProject } from '../../src/cli/detect-project.ts';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fixture tree: the files named, empty (removed once this file's tests have run). */
function tree(files: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-detect-'));
  made.push(dir);
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), '<?php\n');
  }
  return dir;
}

describe('project detection (no --root)', () => {
  it('Laravel: artisan and public/index.php', () => {
    const d = detectProject(tree(['artisan', 'public/index.php', 'routes/web.php', 'composer.json']));
    expect(d).toEqual({ kind: 'found', root: 'public', frontController: 'index.php', stack: 'Laravel', evidence: ['artisan', 'public/index.php'] });
    expect(describeDetection(d as never, false)).toBe('detected Laravel (artisan, public/index.php): serving as --root public --index index.php; give --root (or -t) to choose yourself');
  });

  it('Symfony 4+: bin/console and public/index.php', () => {
    expect(detectProject(tree(['bin/console', 'public/index.php', 'symfony.lock']))).toMatchObject({ kind: 'found', root: 'public', frontController: 'index.php', stack: 'Symfony' });
  });

  it('older Symfony (web/app.php) and Drupal (web/index.php, web/core)', () => {
    expect(detectProject(tree(['app/console', 'web/app.php', 'web/app_dev.php']))).toMatchObject({ root: 'web', frontController: 'app.php', stack: 'Symfony 2-3' });
    expect(detectProject(tree(['web/index.php', 'web/core/lib/Drupal.php', 'composer.json']))).toMatchObject({ root: 'web', frontController: 'index.php', stack: 'Drupal' });
  });

  it('WordPress: wp-config.php or wp-login.php, served from . through index.php', () => {
    expect(detectProject(tree(['index.php', 'wp-config.php', 'wp-login.php', 'wp-includes/version.php']))).toEqual({
      kind: 'found',
      root: '.',
      frontController: 'index.php',
      stack: 'WordPress',
      evidence: ['wp-config.php', 'wp-login.php'],
    });
    expect(detectProject(tree(['index.php', 'wp-login.php']))).toMatchObject({ root: '.', stack: 'WordPress' });
  });

  it('a plain docroot: index.php or index.html here, no front controller', () => {
    expect(detectProject(tree(['index.php', 'about.php']))).toEqual({ kind: 'found', root: '.', frontController: undefined, stack: 'a plain document root', evidence: ['index.php'] });
    expect(detectProject(tree(['README.md']))).toEqual({ kind: 'none' });
  });

  it('ambiguous: public/ and web/ both, or WordPress next to public/: says so and asks for --root', () => {
    const d = detectProject(tree(['public/index.php', 'web/index.php']));
    expect(d.kind).toBe('ambiguous');
    const text = describeAmbiguity(d as never);
    expect(text).toContain('say which document root to serve with --root');
    expect(text).toContain('--root public');
    expect(text).toContain('--root web');
    expect(detectProject(tree(['wp-config.php', 'public/index.php'])).kind).toBe('ambiguous');
  });
});
