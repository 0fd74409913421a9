import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** What a look at the working directory found (no --root given). */
export type Detection =
  | {
      kind: 'found';
      /** The document root, relative to the directory looked at (`public`, `web`, `.`). */
      root: string;
      /** The front controller, when the stack routes every path through one. */
      frontController: string | undefined;
      /** For people: `Laravel`, `Symfony`, `WordPress`, `a plain document root`. */
      stack: string;
      /** The files that told: `artisan, public/index.php`. */
      evidence: string[];
    }
  | { kind: 'ambiguous'; candidates: Array<{ root: string; stack: string; evidence: string[] }> }
  | { kind: 'none' };

interface Candidate {
  root: string;
  frontController: string | undefined;
  stack: string;
  evidence: string[];
}

/**
 * Looks at `dir` the way Symfony CLI does: `public/index.php` (Laravel, Symfony 4+), `web/` (Symfony
 * 2-3's app.php, Drupal's and Bedrock's web/index.php), `wp-config.php`/`wp-login.php` (WordPress,
 * served from `.` through index.php). More than one of these is ambiguous: the caller asks for
 * --root. None: a plain document root when `.` has an index.php or index.html, else nothing.
 */
export function detectProject(dir: string): Detection {
  const has = (p: string) => existsSync(join(dir, p));
  const isDir = (p: string) => {
    try {
      return statSync(join(dir, p)).isDirectory();
    } catch {
      return false;
    }
  };
  const found: Candidate[] = [];
  if (has('public/index.php')) {
    const evidence = ['public/index.php'];
    let stack = 'a public/index.php front controller';
    if (has('artisan')) {
      stack = 'Laravel';
      evidence.unshift('artisan');
    } else if (has('bin/console') || has('symfony.lock')) {
      stack = 'Symfony';
      evidence.unshift(has('bin/console') ? 'bin/console' : 'symfony.lock');
    }
    found.push({ root: 'public', frontController: 'index.php', stack, evidence });
  }
  if (isDir('web')) {
    if (has('web/app.php')) found.push({ root: 'web', frontController: 'app.php', stack: 'Symfony 2-3', evidence: ['web/app.php'] });
    else if (has('web/index.php')) {
      const stack = has('web/core/lib/Drupal.php') ? 'Drupal' : has('web/wp-config.php') || isDir('web/wp') ? 'WordPress (Bedrock)' : 'a web/index.php front controller';
      found.push({ root: 'web', frontController: 'index.php', stack, evidence: ['web/index.php', ...(stack === 'Drupal' ? ['web/core/lib/Drupal.php'] : [])] });
    }
  }
  const wp = ['wp-config.php', 'wp-login.php'].filter(has);
  if (wp.length > 0) found.push({ root: '.', frontController: 'index.php', stack: 'WordPress', evidence: wp });

  if (found.length > 1) return { kind: 'ambiguous', candidates: found.map(({ root, stack, evidence }) => ({ root, stack, evidence })) };
  if (found.length === 1) return { kind: 'found', ...found[0]! };
  const index = ['index.php', 'index.html'].filter(has);
  if (index.length > 0) return { kind: 'found', root: '.', frontController: undefined, stack: 'a plain document root', evidence: index };
  return { kind: 'none' };
}

/** The start-up line: what was found and which flag overrides it. */
export function describeDetection(d: Detection & { kind: 'found' }, indexGiven: boolean): string {
  const flags = `--root ${d.root}${d.frontController && !indexGiven ? ` --index ${d.frontController}` : ''}`;
  return `detected ${d.stack} (${d.evidence.join(', ')}): serving as ${flags}; give --root (or -t) to choose yourself`;
}

/** The error for an ambiguous tree. */
export function describeAmbiguity(d: Detection & { kind: 'ambiguous' }): string {
  const lines = d.candidates.map((c) => `  --root ${c.root.padEnd(7)} ${c.stack} (${c.evidence.join(', ')})`);
  return `this directory looks like more than one kind of project; say which document root to serve with --root:\n${lines.join('\n')}`;
}
