import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { toNodeListener, type NodeListener } from './app-module.ts';

/** Imports a module by file URL (the default: the process's import, cached like any import). */
export type ModuleImporter = (url: string) => Promise<unknown>;

const nativeImport: ModuleImporter = (url) => import(url);

/**
 * Imports the app module named by --app. `.ts` files load with no build step: the process runs with
 * tsx's loader (see scripts/fpm-bridge.mjs), which strips types and keeps source maps for stack traces.
 * `importer` lets --watch load a fresh copy each time (src/app/app-reloader.ts). `onModule` sees the
 * module's exports (its `claims`: src/app/app-claims.ts).
 */
export async function loadApp(file: string, importer: ModuleImporter = nativeImport, onModule?: (mod: Record<string, unknown>) => void): Promise<NodeListener> {
  const url = pathToFileURL(resolve(file)).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await importer(url)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`could not load the app ${file}: ${(err as Error).message}`, { cause: err });
  }
  onModule?.(mod);
  // CommonJS modules arrive as { default: module.exports }; an ESM module may also nest a default.
  let value: unknown = mod.default ?? mod;
  if (value && typeof value === 'object' && 'default' in value && !('fetch' in value)) value = (value as { default: unknown }).default;
  return toNodeListener(value, `the app ${file}`);
}
