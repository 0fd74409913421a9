import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import mri from 'mri';
import { closest } from './suggest.ts';
import { describeAmbiguity, detectProject } from './detect-project.ts';
import { DEFAULT_CONFIG_FILE, UsageError } from './args.ts';

export const CONFIG_FILE = DEFAULT_CONFIG_FILE;

export const INIT_USAGE = 'usage: fpm-bridge init [--app <file.ts>] [-t|--root <dir>] [--index <script>] [--force]';

/** `fpm-bridge init`: what it wrote, for the terminal. */
export interface InitResult {
  lines: string[];
}

/**
 * Writes fpm-bridge.json in `cwd` with the detected (or given) root and front controller, so the
 * project's repository records how it is served; a plain `fpm-bridge` there reads it. With
 * `--app FILE`, also records the app and writes a starter app there unless the file exists.
 * Throws UsageError for bad flags, Error for a tree it cannot decide or a file it will not overwrite.
 */
export function runInit(argv: readonly string[], cwd: string): InitResult {
  const known = ['app', 'root', 'index', 'force', 't'];
  const a = mri(argv as string[], { string: ['app', 'root', 'index'], boolean: ['force'], alias: { t: 'root' } });
  for (const key of Object.keys(a)) {
    if (key === '_' || known.includes(key)) continue;
    const near = closest(key, ['app', 'root', 'index', 'force']);
    throw new UsageError(`fpm-bridge init: unknown flag ${key.length === 1 ? '-' : '--'}${key}${near.length ? ` (did you mean --${near[0]}?)` : ''}`);
  }
  if (a._.length > 0) throw new UsageError(`fpm-bridge init: unexpected argument "${a._[0]}"`);
  const file = join(cwd, CONFIG_FILE);
  if (existsSync(file) && !a.force) throw new Error(`${CONFIG_FILE} exists already (give --force to replace it)`);

  const lines: string[] = [];
  const config: Record<string, string> = {};
  let stack = 'PHP';
  if (typeof a.root === 'string' && a.root !== '') {
    config.root = a.root;
  } else {
    const d = detectProject(cwd);
    if (d.kind === 'ambiguous') throw new Error(describeAmbiguity(d).replace('with --root', 'with fpm-bridge init --root'));
    if (d.kind === 'found') {
      config.root = d.root;
      if (d.frontController) config.index = d.frontController;
      stack = d.stack;
      lines.push(`detected ${d.stack} (${d.evidence.join(', ')})`);
    } else {
      config.root = '.';
      lines.push('no PHP project recognised here: the root is this directory (edit "root" if it is not)');
    }
  }
  if (typeof a.index === 'string' && a.index !== '') config.index = a.index;
  if (config.index && !existsSync(join(cwd, config.root!, config.index))) throw new Error(`--index ${config.index}: no such file: ${join(cwd, config.root!, config.index)}`);
  if (typeof a.app === 'string' && a.app !== '') {
    config.app = a.app;
    const appFile = resolve(cwd, a.app);
    if (existsSync(appFile)) lines.push(`${a.app} exists: kept as it is`);
    else {
      mkdirSync(dirname(appFile), { recursive: true });
      writeFileSync(appFile, starterApp(stack));
      lines.push(`wrote ${relative(cwd, appFile)}: a starter app for the URLs ${stack} answers 404`);
    }
  }
  writeFileSync(file, JSON.stringify(config, null, 2) + '\n');
  lines.unshift(`wrote ${CONFIG_FILE}: ${JSON.stringify(config)}`);
  lines.push(`start it with: npx fpm-bridge${config.app ? ' --watch' : ''}   (it reads ${CONFIG_FILE}; flags given win)`);
  return { lines };
}

/** A starter app: a plain Node listener, no dependency, with a route to edit and a 404 that hands back to PHP. */
export function starterApp(stack: string): string {
  return `// The new app: fpm-bridge sends it every request ${stack} answers 404 (and every path with no PHP
// script). Its own 404 gives PHP's answer back to the client, so it only takes the URLs it knows.
// Swap this listener for Express, Hono or Fastify when it grows (php/demo/apps/ in fpm-bridge).
import type { IncomingMessage, ServerResponse } from 'node:http';

export default function app(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/api/hello') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ hello: 'from the new app', at: new Date().toISOString() }));
    return;
  }
  res.statusCode = 404;
  res.end('not found');
}
`;
}
