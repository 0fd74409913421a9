import type { FileKind, FileLookup } from './file-lookup.ts';
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
  /**
   * PATH_INFO front controller (aurweb, CodeIgniter 3, Kohana): every path that is no top-level `.php` script runs
   * the front controller with the path as PATH_INFO, like nginx's
   * `location ~ .* { rewrite ^/(.*)$ /index.php/$1 last; }` beside `location ~ ^/[^/]+\.php($|/)`.
   */
  pathInfo?: boolean;
  /** In PATH_INFO mode, serve existing static files first (nginx: a static location before the rewrite). */
  pathInfoStatic?: boolean;
}

const NONE: Route = { kind: 'none' };

/**
 * Decides who serves `path` (decoded and normalised by parseRequestTarget), looking up each file it
 * needs through `fs`.
 */
export async function resolveRoute(path: string, query: string, cfg: RouteConfig, fs: FileLookup): Promise<Route> {
  const walk = decide(path, query, cfg);
  const first = walk.next();
  return first.done ? first.value : finish(walk, fs, first.value);
}

/**
 * The same decision, made at once when `fs` already knows every kind it needs (`fs.known`: a busy
 * server's warm stat cache), else finished asynchronously. A request whose route is known then goes
 * on in the same turn: no promise and no trip through the microtask queue for each lookup.
 */
export function resolveRouteNow(path: string, query: string, cfg: RouteConfig, fs: FileLookup): Route | Promise<Route> {
  if (!fs.known) return resolveRoute(path, query, cfg, fs);
  const walk = decide(path, query, cfg);
  let step = walk.next();
  while (!step.done) {
    const kind = fs.known(step.value);
    if (kind === undefined) return finish(walk, fs, step.value);
    step = walk.next(kind);
  }
  return step.value;
}

/** The rest of a walk through `fs.kind`, from the path it asked for last. */
async function finish(walk: Walk, fs: FileLookup, next: string): Promise<Route> {
  let step = walk.next(await fs.kind(next));
  while (!step.done) step = walk.next(await fs.kind(step.value));
  return step.value;
}

/** The decision as a walk: it yields each absolute path whose kind it needs and is given that kind. */
type Walk = Generator<string, Route, FileKind>;

function* decide(path: string, query: string, cfg: RouteConfig): Walk {
  const pathInfoMode = Boolean(cfg.pathInfo && cfg.frontController);
  // Hidden files do not exist for the outside world; in PATH_INFO mode their path is just a route.
  if (isHidden(path)) return pathInfoMode ? yield* pathInfoRoute(path, cfg) : yield* fallback(cfg);
  const split = splitPhpPath(path);
  // In PATH_INFO mode only a script at the top level runs itself (nginx `location ~ ^/[^/]+\.php($|/)`);
  // a nested one (`/sub/x.php`) is a route like any other path, for the front controller.
  if (split && !(pathInfoMode && split.script.indexOf('/', 1) >= 0)) {
    if ((yield cfg.root + split.script) === 'file') {
      return { kind: 'php', scriptName: split.script, pathInfo: split.pathInfo, file: cfg.root + split.script };
    }
    // A missing script is 404 behind nginx too (`try_files $fastcgi_script_name =404`), even with a
    // front controller: it never runs in the script's place.
    return NONE;
  }
  if (pathInfoMode) return yield* pathInfoRoute(path, cfg);
  const kind = yield cfg.root + path;
  if (kind === 'file' && !path.endsWith('/') && isServableStatic(path)) {
    return { kind: 'static', file: cfg.root + path, path };
  }
  if (kind === 'dir') {
    const dir = path.endsWith('/') ? path : path + '/';
    for (const name of cfg.indexFiles) {
      if ((yield cfg.root + dir + name) !== 'file') continue;
      if (dir !== path) return { kind: 'redirect', location: encodePath(dir) + (query ? '?' + query : '') };
      const scriptName = dir + name;
      if (name.endsWith('.php')) return { kind: 'php', scriptName, pathInfo: '', file: cfg.root + scriptName };
      return { kind: 'static', file: cfg.root + scriptName, path: scriptName };
    }
  }
  return yield* fallback(cfg);
}

function* pathInfoRoute(path: string, cfg: RouteConfig): Walk {
  if (cfg.pathInfoStatic && !isHidden(path) && !path.endsWith('/') && isServableStatic(path)) {
    // Only a plain file: directories and everything else are the router's.
    if ((yield cfg.root + path) === 'file') return { kind: 'static', file: cfg.root + path, path };
  }
  const script = cfg.frontController!;
  if ((yield cfg.root + script) !== 'file') return NONE;
  return { kind: 'php', scriptName: script, pathInfo: path, file: cfg.root + script };
}

function* fallback(cfg: RouteConfig): Walk {
  const script = cfg.frontController;
  if (script && (yield cfg.root + script) === 'file') {
    return { kind: 'php', scriptName: script, pathInfo: '', file: cfg.root + script };
  }
  return NONE;
}
