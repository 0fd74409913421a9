// Module resolve hook for --watch (registered once by src/app/app-reloader.ts through module.register;
// plain JavaScript because it runs on Node's loader thread, before anything of ours is loaded there).
//
// The app is imported as `app.ts?fpm-bridge-reload=N`. A query alone makes a new copy of that one
// file: its own imports (`./routes.ts`) would resolve to the URLs already cached. This hook passes the
// parent's N on to every file: URL it imports, so the app's whole local graph loads again. Packages
// (anything under node_modules) keep their plain URLs: loaded once, shared by every reload.
const PARAM = 'fpm-bridge-reload';

export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  const parent = context.parentURL;
  if (!parent || !parent.includes(`${PARAM}=`) || !result.url.startsWith('file:')) return result;
  const version = new URL(parent).searchParams.get(PARAM);
  const url = new URL(result.url);
  if (version === null || url.pathname.includes('/node_modules/') || url.searchParams.has(PARAM)) return result;
  url.searchParams.set(PARAM, version);
  return { ...result, url: url.href };
}
