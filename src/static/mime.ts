import { createRequire } from 'node:module';

type MimeTypes = typeof import('mime-types');
let mime: MimeTypes | undefined;

/**
 * The Content-Type for a file extension (`.css` → `text/css; charset=utf-8`), or false: mime-types,
 * loaded on the first static file rather than at start-up. Its database costs the start ~15 ms of
 * CPU and ~1 MiB (measured on Node 20), which a bridge that serves no static file never needs.
 * CommonJS, so require keeps the lookup synchronous.
 */
export function contentTypeOf(extension: string): string | false {
  mime ??= createRequire(import.meta.url)('mime-types') as MimeTypes;
  return mime.contentType(extension);
}
