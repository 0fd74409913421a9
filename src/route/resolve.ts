import type { FileLookup } from './file-lookup.ts';
import { isHidden, isServableStatic, splitPhpPath } from './file-policy.ts';
import { encodePath } from './request-target.ts';

/** The route decision: what serves a request, before anything runs. */
export type Route =
  /** An existing `.php` file under the root; only these are ever sent to php-fpm. */
  | { kind: 'php'; scriptName: string; pathInfo: string; file: string }
  | { kind: 'static'; file: string; path: string }
  /** `/dir` whose index exists: nginx answers 301 to `/dir/`. */
  | { kind: 'redirect'; location: string }
  /** No file and no front controller: the app's, or a plain 404. */
  | { kind: 'none' };

export interface RouteConfig {
  /** Absolute docroot, a byte string, no trailing slash. */
  root: string;
  /** Index files tried for a directory, in order (nginx `index index.php index.html`). */
  indexFiles: readonly string[];
  /** Front controller (`/index.php`): runs for any path that is no file (`try_files $uri $uri/ /index.php?$args`). */
  frontController: string | undefined;
}

const NONE: Route = { kind: 'none' };

/** Decides who serves `path` (decoded and normalised by parseRequestTarget). */
export async function resolveRoute(path: string, query: string, cfg: RouteConfig, fs: FileLookup): Promise<Route> {
  if (isHidden(path)) return fallback(cfg, fs);
  const split = splitPhpPath(path);
  if (split) {
    if ((await fs.kind(cfg.root + split.script)) === 'file') {
      return { kind: 'php', scriptName: split.script, pathInfo: split.pathInfo, file: cfg.root + split.script };
    }
    // A missing script is 404 behind nginx too (`try_files $fastcgi_script_name =404`), even with a
    // front controller: it never runs in the script's place.
    return NONE;
  }
  const kind = await fs.kind(cfg.root + path);
  if (kind === 'file' && !path.endsWith('/') && isServableStatic(path)) {
    return { kind: 'static', file: cfg.root + path, path };
  }
  if (kind === 'dir') {
    const dir = path.endsWith('/') ? path : path + '/';
    for (const name of cfg.indexFiles) {
      if ((await fs.kind(cfg.root + dir + name)) !== 'file') continue;
      if (dir !== path) return { kind: 'redirect', location: encodePath(dir) + (query ? '?' + query : '') };
      const scriptName = dir + name;
      if (name.endsWith('.php')) return { kind: 'php', scriptName, pathInfo: '', file: cfg.root + scriptName };
      return { kind: 'static', file: cfg.root + scriptName, path: scriptName };
    }
  }
  return fallback(cfg, fs);
}

async function fallback(cfg: RouteConfig, fs: FileLookup): Promise<Route> {
  const script = cfg.frontController;
  if (script && (await fs.kind(cfg.root + script)) === 'file') {
    return { kind: 'php', scriptName: script, pathInfo: '', file: cfg.root + script };
  }
  return NONE;
}
