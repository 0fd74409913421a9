/**
 * Which files exist for the outside world. The rest are treated as absent: never served, never run.
 */

/** Any segment that starts with a dot (`/.env`, `/.git/config`), except RFC 8615 `/.well-known/`. */
export function isHidden(path: string): boolean {
  if (!path.includes('/.')) return false;
  const rest = path.startsWith('/.well-known/') ? path.slice('/.well-known'.length) : path;
  return rest.includes('/.');
}

/**
 * PHP source as a family, not a list: any name that contains `.php` (`.phtml`, `.phar`), in any letter
 * case, is a script or a copy of one (`wp-config.php_bak`, `config.php-old`, `config.php (copy)`,
 * `config.phpbak`, `x.php.dist`), and a copy of a script is never served as text. A script itself is
 * routed to PHP before static files are considered.
 */
const PHP_FAMILY = /\.ph(?:p|tml|ar)/i;
/** Other source: `.phps` is covered above; includes. */
const SOURCE = /\.inc$/i;
/** Editor and backup copies of anything, any letter case (`x~`, `data.json.BAK`, `.x.swp`, `#x#`). */
const BACKUP = /(~|\.(bak|swp|swo|swx|orig|old|save|rej|tmp)|^#.*#)$/i;

/**
 * The last segment with trailing spaces and dots dropped: `conf.php ` or `data.bak.` name the same
 * file as `conf.php` on Windows shares, and are copies in spirit everywhere else.
 */
function lastName(path: string): string {
  let end = path.length;
  while (end > 0 && (path[end - 1] === ' ' || path[end - 1] === '.')) end--;
  return path.slice(path.lastIndexOf('/', end - 1) + 1, end);
}

export function isServableStatic(path: string): boolean {
  const name = lastName(path);
  return !PHP_FAMILY.test(name) && !SOURCE.test(name) && !BACKUP.test(name);
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
