/**
 * Which files exist for the outside world. The rest are treated as absent: never served, never run.
 */

/** Any segment that starts with a dot (`/.env`, `/.git/config`), except RFC 8615 `/.well-known/`. */
export function isHidden(path: string): boolean {
  if (!path.includes('/.')) return false;
  const rest = path.startsWith('/.well-known/') ? path.slice('/.well-known'.length) : path;
  return rest.includes('/.');
}

/** PHP source and includes, in any letter case: their source must never go out as a static file. */
const SOURCE = /\.(php\d?|phtml|phar|phps|inc)$/i;
/** Editor and backup copies of anything (`x.php~`, `x.php.bak`, `.x.php.swp`, `x.php.orig`). */
const BACKUP = /(~|\.(bak|swp|swo|swx|orig|old|save|rej|tmp))$/i;
/** `config.php.dist`, `x.php.1`: a PHP file with something after the extension is a copy too. */
const PHP_COPY = /\.php\d?\.[^/]*$/i;

export function isServableStatic(path: string): boolean {
  return !SOURCE.test(path) && !BACKUP.test(path) && !PHP_COPY.test(path);
}

/**
 * Splits `/a/x.php/extra` into `/a/x.php` and `/extra`: at the first `.php` followed by `/` or the end,
 * like Debian's `fastcgi_split_path_info ^(.+?\.php)(/.*)$`. Byte-exact and case-sensitive, so no
 * Unicode case folding or look-alike can make another name count as `.php` (GHSA-3g8v-8r37-cgjm).
 */
export function splitPhpPath(path: string): { script: string; pathInfo: string } | null {
  let i = path.indexOf('.php');
  while (i >= 0) {
    const after = i + 4;
    if (i > 0 && path[i - 1] !== '/' && (after === path.length || path[after] === '/')) {
      return { script: path.slice(0, after), pathInfo: path.slice(after) };
    }
    i = path.indexOf('.php', i + 1);
  }
  return null;
}
