import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire, register } from 'node:module';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log/logger.ts';
import type { NodeListener } from './app-module.ts';
import { loadApp, type ModuleImporter } from './load-app.ts';
import { watchTree, type TreeWatcher } from './watch-tree.ts';

export interface AppReloader {
  /** Stable: give it to createBridge. Each request goes to the app that is current when it arrives. */
  readonly listener: NodeListener;
  /** Successful loads so far (1 after start). */
  readonly generation: number;
  /** When the serving app was loaded. */
  readonly loadedAt: Date;
  /** The last reload's error while it is not fixed (the last good app serves meanwhile). */
  readonly failure: { error: unknown; at: Date } | undefined;
  /** Loads the app again now; true when the new code serves. Concurrent calls are queued. */
  reload(reason?: string): Promise<boolean>;
  /** Stops watching (the current app keeps answering). */
  close(): void;
}

export interface ReloaderOptions {
  logger: Logger;
  /** Changes within this many ms are one reload (an editor's save is often several events). */
  debounceMs?: number;
  /** Folders under the app's directory whose changes do not reload it (the docroot). */
  ignore?: readonly string[];
  /** How each load imports the module; default: a fresh copy each time (see freshImporter). */
  importer?: ModuleImporter;
  /** false: no file watching, reload() only. */
  watch?: boolean;
  /** Sees the first load's exports (the app's claims are read once, at start-up). */
  onModule?: (mod: Record<string, unknown>) => void;
}

/**
 * Imports a fresh copy of the module and of every local module it imports.
 *
 * ESM modules cannot be unloaded, and `import(url + '?v=2')` alone is not enough: the new copy's own
 * imports (`./routes.ts`) resolve to the URLs already cached, so only the entry file would change.
 * reload-hooks.mjs (a resolve hook, registered once) hands the query on to every local file the
 * app imports; packages under node_modules keep their URL and stay shared. For a .ts app in a folder
 * without `"type": "module"` Node 20 goes through require: those files are dropped from require's
 * cache first. tsx still does the loading, so stack traces point at the .ts lines.
 *
 * Not tsx's `tsImport` (a namespaced loader per call): checked with tsx 4.23 on Node 20, it does not
 * reload the local imports of an app loaded through require (require's cache keeps the first
 * namespace's copy), its stack traces then name a data: URL instead of the .ts file, it loads ESM
 * packages (Hono) again each time, and it adds a loader hook per call.
 */
export function freshImporter(): ModuleImporter {
  let version = 0;
  return async (url) => {
    registerReloadHooks();
    forgetCommonJs(dirname(fileURLToPath(url)));
    return import(`${url}?fpm-bridge-reload=${++version}`);
  };
}

let hooksRegistered = false;
function registerReloadHooks(): void {
  if (hooksRegistered) return;
  hooksRegistered = true;
  // Through ../app/ so the path holds from src/app/, dist/app/ and the command's bundle in dist/bin/.
  register(new URL('../app/reload-hooks.mjs', import.meta.url));
}

/** Drops the CommonJS modules under `dir` (node_modules aside) from require's cache. */
function forgetCommonJs(dir: string): void {
  const cache = createRequire(import.meta.url).cache;
  for (const key of Object.keys(cache)) {
    const file = key.split('?')[0]!;
    if (file.startsWith(dir + sep) && !file.includes(`${sep}node_modules${sep}`)) delete cache[key];
  }
}

/**
 * Every this many reloads, the memory they keep is reported. Measured (scripts/measure-reload-memory.ts,
 * Node 20): a reload keeps the app's own modules and what they build at load time, about 0.4 MB for a
 * 200 KB module of plain code and 3 MB for a 300 KB one that builds 4,000 closures at its top level.
 */
const RELOAD_MEMORY_NOTE_EVERY = 50;

/**
 * `--watch`: loads the app, then reloads it when a module file under its directory changes. New
 * requests get the new code, in-flight ones finish on the old (they hold the old listener), and
 * nothing else restarts: the listening socket and php-fpm stay. A load that fails (a syntax error,
 * a throw at the module's top level, a bad export) is logged once and the last good app keeps
 * serving. The first load throws, as loadApp does.
 */
export async function startAppReloader(file: string, options: ReloaderOptions): Promise<AppReloader> {
  const { logger, debounceMs = 100, importer = freshImporter() } = options;
  const rssAtStart = process.memoryUsage.rss();
  let current = await loadApp(file, importer, options.onModule);
  let generation = 1;
  let loadedAt = new Date();
  let lastError: string | undefined;
  let failure: { error: unknown; at: Date } | undefined;

  let running: Promise<boolean> | undefined;
  const reload = async (reason = 'reload'): Promise<boolean> => {
    while (running) await running;
    running = (async () => {
      const started = performance.now();
      try {
        const next = await loadApp(file, importer);
        current = next;
        generation++;
        loadedAt = new Date();
        const ms = (performance.now() - started).toFixed(0);
        logger.info(`app reloaded in ${ms} ms (${reason})${lastError ? ': the error is fixed' : ''}`);
        lastError = undefined;
        failure = undefined;
        if ((generation - 1) % RELOAD_MEMORY_NOTE_EVERY === 0) {
          const grown = (process.memoryUsage.rss() - rssAtStart) / 1024 / 1024;
          logger.warn(
            `${generation - 1} reloads so far: each keeps its copy of the app's own modules in memory (ESM cannot unload them); ` +
              `RSS has grown ${grown.toFixed(0)} MB since start. Restart fpm-bridge to give it back.`,
          );
        }
        return true;
      } catch (err) {
        failure = { error: err, at: new Date() };
        const { text } = describeLoadError(err);
        // Once per distinct error: saving the same broken file again says nothing new.
        if (text !== lastError) {
          lastError = text;
          logger.error(`app reload failed (${reason}); the last good app (loaded ${loadedAt.toTimeString().slice(0, 8)}) keeps serving until this is fixed:\n${text}`);
        }
        return false;
      }
    })();
    try {
      return await running;
    } finally {
      running = undefined;
    }
  };

  let watcher: TreeWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  const changed = new Set<string>();
  if (options.watch !== false) {
    const dir = dirname(resolve(file));
    const flush = () => {
      timer = undefined;
      const names = [...changed].map((f) => relative(dir, f));
      changed.clear();
      const reason = names.length <= 3 ? `${names.join(', ')} changed` : `${names.length} files changed`;
      void reload(reason);
    };
    watcher = watchTree(
      dir,
      (path) => {
        changed.add(path);
        if (timer) clearTimeout(timer);
        timer = setTimeout(flush, debounceMs);
      },
      (options.ignore ?? []).map((p) => resolve(p)).filter((p) => p.startsWith(dir + sep)),
    );
  }

  return {
    listener: (req: IncomingMessage, res: ServerResponse) => current(req, res),
    get generation() {
      return generation;
    },
    get loadedAt() {
      return loadedAt;
    },
    get failure() {
      return failure;
    },
    reload,
    close() {
      if (timer) clearTimeout(timer);
      watcher?.close();
    },
  };
}

/**
 * The text of a failed load. esbuild's parse errors (tsx's TransformError) already name
 * file:line:column, and their stack is esbuild's internals: the message alone.
 */
export function describeLoadError(err: unknown): { text: string } {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  if (cause instanceof Error && cause.name === 'TransformError') {
    const text = cause.message
      .replace(/^Transform failed with \d+ errors?:\n/, '')
      .replace(/: ERROR: /g, ': ');
    return { text: indent(text) };
  }
  if (cause instanceof SyntaxError && cause.stack) {
    // Node's own SyntaxError stack starts with file:line and the offending line, caret included.
    return { text: indent(cause.stack.split('\n    at ')[0]!) };
  }
  if (cause instanceof Error) {
    // A throw at the module's top level, a missing import, a bad export: the stack without the loader's
    // frames (ours from src/ when run from sources, dist/ for the library, dist/bin/ for the command's bundle).
    const lines = (cause.stack ?? `${cause.name}: ${cause.message}`).split('\n').filter((l) => !/\(node:|at node:|\/node_modules\/tsx\/|\/(?:src|dist)\/app\/(?:load-app|app-reloader)\.(?:ts|js):|\/dist\/bin\/[\w-]+\.js:/.test(l));
    return { text: indent(lines.join('\n')) };
  }
  return { text: indent(String(cause)) };
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
