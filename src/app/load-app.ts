import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { toNodeListener, type NodeListener } from './app-module.ts';

/** Imports a module by file URL (the default: the process's import, cached like any import). */
export type ModuleImporter = (url: string) => Promise<unknown>;

const nativeImport: ModuleImporter = (url) => import(url);

/**
 * Imports the app module named by --app. `.ts` files load with no build step, through tsx (see
 * typeScriptLoader), which keeps source maps for stack traces. `importer` lets --watch load a fresh
 * copy each time (src/app/app-reloader.ts). `onModule` sees the
 * module's exports (its `claims`: src/app/app-claims.ts).
 */
export async function loadApp(file: string, importer: ModuleImporter = nativeImport, onModule?: (mod: Record<string, unknown>) => void): Promise<NodeListener> {
  const path = resolve(file);
  // Said in the user's terms: Node's ERR_MODULE_NOT_FOUND would name our loader, not their file.
  if (!existsSync(path)) throw new Error(`no such file: ${file}${path !== file ? ` (looked at ${path})` : ''}`);
  const url = pathToFileURL(path).href;
  let mod: Record<string, unknown>;
  try {
    if (TYPESCRIPT.test(file)) await typeScriptLoader();
    mod = (await importer(url)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`could not load the app ${file}: ${(err as Error).message}`, { cause: err });
  }
  onModule?.(mod);
  // CommonJS modules arrive as { default: module.exports }; an ESM module may also nest a default.
  if (!('default' in mod) || mod.default === undefined) {
    const named = Object.keys(mod);
    throw new Error(`no default export in ${file}: add \`export default app\`${named.length > 0 ? ` (it exports ${named.join(', ')}, but the bridge takes the default export)` : ''}`);
  }
  let value: unknown = mod.default;
  if (value && typeof value === 'object' && 'default' in value && !('fetch' in value)) value = (value as { default: unknown }).default;
  return toNodeListener(value, `the app ${file}`);
}

const TYPESCRIPT = /\.[cm]?tsx?$/;
let registering: Promise<void> | undefined;

/**
 * Registers tsx's loader, once, the first time a TypeScript app loads: a JavaScript app, and the
 * compiled command itself, never pay for it (on Node 20 its hooks run in an extra thread, ~17 MiB).
 * tsx on every supported Node rather than Node's own type stripping (on by default from 22.18 and
 * 23.6): one behaviour everywhere (enums, `import './x.js'` naming x.ts, tsconfig paths, .tsx) and
 * source-mapped stack traces. Both halves: the ESM hooks, and the CommonJS ones for a .ts app in a
 * folder with no "type": "module", which Node loads through require.
 * From the sources (scripts/fpm-bridge.mjs, tests) this module is TypeScript itself: a loader is
 * already in place, and a second tsx would only stack its hooks on the first.
 */
function typeScriptLoader(): Promise<void> {
  if (import.meta.url.endsWith('.ts')) return Promise.resolve();
  registering ??= (async () => {
    const [esm, cjs] = await Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]);
    esm.register();
    cjs.register();
  })();
  return registering;
}
