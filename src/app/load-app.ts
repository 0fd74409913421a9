import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { toNodeListener, type NodeListener } from './app-module.ts';

/** Imports a module by file URL (the default: the process's import, cached like any import). */
export type ModuleImporter = (url: string) => Promise<unknown>;

const nativeImport: ModuleImporter = (url) => import(url);

/**
 * Imports the app module named by --app. `.ts` files load with no build step: the process runs with
 * tsx's loader (see scripts/fpm-bridge.mjs), which strips types and keeps source maps for stack traces.
 * `importer` lets --watch load a fresh copy each time (src/app/app-reloader.ts).
 */
export async function loadApp(file: string, importer: ModuleImporter = nativeImport): Promise<NodeListener> {
  const path = resolve(file);
  // Said in the user's terms: Node's ERR_MODULE_NOT_FOUND would name our loader, not their file.
  if (!existsSync(path)) throw new Error(`no such file: ${file}${path !== file ? ` (looked at ${path})` : ''}`);
  const url = pathToFileURL(path).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await importer(url)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`could not load the app ${file}: ${(err as Error).message}`, { cause: err });
  }
  // CommonJS modules arrive as { default: module.exports }; an ESM module may also nest a default.
  if (!('default' in mod) || mod.default === undefined) {
    const named = Object.keys(mod);
    throw new Error(`no default export in ${file}: add \`export default app\`${named.length > 0 ? ` (it exports ${named.join(', ')}, but the bridge takes the default export)` : ''}`);
  }
  let value: unknown = mod.default;
  if (value && typeof value === 'object' && 'default' in value && !('fetch' in value)) value = (value as { default: unknown }).default;
  return toNodeListener(value, `the app ${file}`);
}
