import { VERSION } from '../version.ts';

export interface BannerInfo {
  url: string;
  root: string;
  frontController: string | undefined;
  /** The php-fpm line, from PhpBackend.describe. */
  php: string;
  app: string | undefined;
  /** --watch: the app reloads on change. */
  watch?: boolean;
  /** The effective claims (flags, config file and the app's own export). */
  claims?: readonly string[];
  order?: 'php-first' | 'app-first';
  /** Development mode (error pages, PHP errors displayed). */
  dev?: boolean;
  /** --xdebug: Xdebug loaded in the spawned pool. */
  xdebug?: boolean;
  /** The --shadow patterns. */
  shadows?: readonly string[];
}

/** What a developer needs at a glance after start: where to go, what serves, in which arrangement. */
export function banner(b: BannerInfo): string {
  const mode = !b.app
    ? 'PHP only (no --app): a plain front for php-fpm, like nginx'
    : b.order === 'app-first'
      ? 'app first; every URL the app answers 404 goes to PHP (--order app-first)'
      : 'PHP first; every URL PHP answers 404 goes to the app (its 404 gives back PHP\'s)';
  const claims = b.app && b.claims?.length ? b.claims.map((c) => `  claim ${c}${c.trimStart().startsWith('!') ? '  (strict: the app\'s 404 stands)' : '  (app first, PHP on its 404)'}`) : [];
  const shadows = b.app && b.shadows?.length ? b.shadows.map((s) => `  shadow ${s}  (PHP answers; the app runs beside it, compared)`) : [];
  return [
    `fpm-bridge ${VERSION}  ${b.url}`,
    `  root  ${b.root}${b.frontController ? `  (front controller ${b.frontController})` : ''}`,
    `  php   ${b.php}`,
    `  app   ${b.app ?? '(none)'}${b.app && b.watch ? '  (--watch: reloads when a file under its folder changes)' : ''}`,
    `  mode  ${mode}`,
    ...claims,
    ...shadows,
    ...(b.dev === undefined
      ? []
      : [
          b.dev
            ? `  dev   development: errors shown in the browser (app and PHP)${b.xdebug ? '; Xdebug on 127.0.0.1:9003 (trigger)' : ''}; --no-dev for production`
            : '  dev   production: errors only in this log (--dev shows them in the browser)',
        ]),
    '  Ctrl-C stops',
  ].join('\n');
}
