import { describe, expect, it } from 'vitest';
import type { FileKind, FileLookup } from '../../src/route/file-lookup.ts';
import { resolveRoute, resolveRouteNow, type RouteConfig } from '../../src/route/resolve.ts';

const ROOT = '/srv/www';

/**
 * In-memory tree: file paths relative to the root; their parent directories exist implicitly. Like
 * stat(2), a trailing slash only matches a directory (`file/` is ENOTDIR). Records every lookup.
 */
function fakeFs(files: string[], dirs: string[] = []): FileLookup & { asked: string[]; kindOf: (abs: string) => FileKind } {
  const kinds = new Map<string, FileKind>();
  kinds.set(ROOT, 'dir');
  for (const f of files) {
    kinds.set(ROOT + f, 'file');
    const parts = f.split('/');
    for (let i = 1; i < parts.length - 1; i++) kinds.set(ROOT + parts.slice(0, i + 1).join('/'), 'dir');
  }
  for (const d of dirs) kinds.set(ROOT + d, 'dir');
  const asked: string[] = [];
  const kindOf = (abs: string): FileKind => {
    if (!abs.startsWith(ROOT)) throw new Error(`lookup outside the root: ${abs}`);
    if (abs.endsWith('/') && abs !== ROOT + '/') {
      return kinds.get(abs.slice(0, -1)) === 'dir' ? 'dir' : null;
    }
    return kinds.get(abs === ROOT + '/' ? ROOT : abs) ?? null;
  };
  return {
    asked,
    kindOf,
    async kind(abs) {
      asked.push(abs);
      return kindOf(abs);
    },
  };
}

const files = [
  '/index.php',
  '/x.php',
  '/sub/page.php',
  '/dir/index.php',
  '/static/index.html',
  '/both/index.php',
  '/both/index.html',
  '/style.css',
  '/a b.css',
  '/caf\u00c3\u00a9.txt',
  '/.env',
  '/.git/config',
  '/.well-known/security.txt',
  '/X.PHP',
  '/config.inc',
  '/x.php.bak',
  '/old.php~',
  '/config.php.dist',
  '/lib.php/inner.css',
  '/.hidden/index.php',
];
const dirs = ['/empty', '/with space'];

const withFc: RouteConfig = { root: ROOT, indexFiles: ['index.php', 'index.html'], frontController: '/index.php' };
const noFc: RouteConfig = { root: ROOT, indexFiles: ['index.php', 'index.html'], frontController: undefined };
const route = (path: string, cfg: RouteConfig = noFc, query = '') => resolveRoute(path, query, cfg, fakeFs(files, dirs));

const php = (scriptName: string, pathInfo = '') => ({ kind: 'php', scriptName, pathInfo, file: ROOT + scriptName });
const fc = php('/index.php');
const none = { kind: 'none' };

describe('resolveRoute', () => {
  describe('PHP scripts', () => {
    it('runs an existing .php file', async () => {
      expect(await route('/x.php')).toEqual(php('/x.php'));
      expect(await route('/sub/page.php', withFc)).toEqual(php('/sub/page.php'));
    });

    it('passes what follows the script as PATH_INFO', async () => {
      expect(await route('/x.php/extra')).toEqual(php('/x.php', '/extra'));
      expect(await route('/x.php/a/b.php/c', withFc)).toEqual(php('/x.php', '/a/b.php/c'));
      expect(await route('/index.php/')).toEqual(php('/index.php', '/'));
    });

    it('answers none for a missing script, even with a front controller (try_files $fastcgi_script_name =404)', async () => {
      expect(await route('/missing.php')).toEqual(none);
      expect(await route('/missing.php', withFc)).toEqual(none);
      expect(await route('/missing.php/extra', withFc)).toEqual(none);
      expect(await route('/sub/missing.php', withFc)).toEqual(none);
    });

    it('never runs a directory named like a script, nor a file below it', async () => {
      expect(await route('/lib.php', withFc)).toEqual(none);
      expect(await route('/lib.php/inner.css', withFc)).toEqual(none);
    });

    it('never runs a script with another letter case or extension', async () => {
      expect(await route('/X.PHP')).toEqual(none);
      expect(await route('/X.PHP', withFc)).toEqual(fc);
    });
  });

  describe('directories', () => {
    it('redirects /dir to /dir/ when it has an index, keeping the query', async () => {
      expect(await route('/dir')).toEqual({ kind: 'redirect', location: '/dir/' });
      expect(await route('/static', withFc, 'a=1&b=%20')).toEqual({ kind: 'redirect', location: '/static/?a=1&b=%20' });
    });

    it('percent-encodes the redirect location', async () => {
      const fs = fakeFs(['/with space/index.html']);
      expect(await resolveRoute('/with space', 'q', noFc, fs)).toEqual({ kind: 'redirect', location: '/with%20space/?q' });
    });

    it('serves /dir/ from its first existing index file', async () => {
      expect(await route('/dir/')).toEqual(php('/dir/index.php'));
      expect(await route('/static/')).toEqual({ kind: 'static', file: ROOT + '/static/index.html', path: '/static/index.html' });
      expect(await route('/both/')).toEqual(php('/both/index.php'));
      const htmlFirst: RouteConfig = { ...noFc, indexFiles: ['index.html', 'index.php'] };
      expect(await route('/both/', htmlFirst)).toEqual({ kind: 'static', file: ROOT + '/both/index.html', path: '/both/index.html' });
    });

    it('runs the root index for /', async () => {
      expect(await route('/')).toEqual(php('/index.php'));
    });

    it('falls back for a directory without an index', async () => {
      expect(await route('/empty')).toEqual(none);
      expect(await route('/empty/')).toEqual(none);
      expect(await route('/empty', withFc)).toEqual(fc);
      expect(await route('/empty/', withFc)).toEqual(fc);
      expect(await route('/sub/', withFc)).toEqual(fc);
    });

    it('uses no index at all with an empty index list', async () => {
      expect(await route('/dir/', { ...noFc, indexFiles: [] })).toEqual(none);
      expect(await route('/dir', { ...noFc, indexFiles: [] })).toEqual(none);
    });
  });

  describe('static files', () => {
    it('serves a plain file', async () => {
      expect(await route('/style.css')).toEqual({ kind: 'static', file: ROOT + '/style.css', path: '/style.css' });
      expect(await route('/style.css', withFc)).toEqual({ kind: 'static', file: ROOT + '/style.css', path: '/style.css' });
      expect(await route('/a b.css')).toMatchObject({ kind: 'static', file: ROOT + '/a b.css' });
      expect(await route('/caf\u00c3\u00a9.txt')).toMatchObject({ kind: 'static', path: '/caf\u00c3\u00a9.txt' });
    });

    it('does not serve a file as a directory (trailing slash)', async () => {
      expect(await route('/style.css/')).toEqual(none);
      expect(await route('/style.css/', withFc)).toEqual(fc);
    });

    it('never serves PHP source, includes or backup copies', async () => {
      for (const p of ['/X.PHP', '/config.inc', '/x.php.bak', '/old.php~', '/config.php.dist']) {
        expect(await route(p), p).toEqual(none);
        expect(await route(p, withFc), p).toEqual(fc);
      }
    });

    it('never serves or runs hidden files, and does not even look them up', async () => {
      for (const p of ['/.env', '/.git/config', '/.git/', '/.hidden/index.php', '/.hidden/', '/.hidden/index.php/x']) {
        const fs = fakeFs(files, dirs);
        expect(await resolveRoute(p, '', noFc, fs), p).toEqual(none);
        expect(fs.asked, p).toEqual([]);
        expect(await resolveRoute(p, '', withFc, fakeFs(files, dirs)), p).toEqual(fc);
      }
    });

    it('serves /.well-known/ files', async () => {
      expect(await route('/.well-known/security.txt')).toMatchObject({ kind: 'static', path: '/.well-known/security.txt' });
    });
  });

  describe('front controller', () => {
    it('runs for any path that is no file', async () => {
      expect(await route('/blog/2024/hello', withFc)).toEqual(fc);
      expect(await route('/nope.css', withFc)).toEqual(fc);
      expect(await route('/nope.css')).toEqual(none);
    });

    it('only when it exists', async () => {
      const cfg: RouteConfig = { ...withFc, frontController: '/app.php' };
      expect(await route('/blog', cfg)).toEqual(none);
      expect(await resolveRoute('/blog', '', cfg, fakeFs(['/app.php']))).toEqual(php('/app.php'));
    });

    it('is not consulted when a route was found', async () => {
      const fs = fakeFs(files, dirs);
      await resolveRoute('/style.css', '', withFc, fs);
      expect(fs.asked).toEqual([ROOT + '/style.css']);
    });
  });
});

describe('PATH_INFO front controller mode (--index index.php --path-info)', () => {
  const files = new Map<string, FileKind>([
    ['/srv', 'dir'],
    ['/srv/index.php', 'file'],
    ['/srv/other.php', 'file'],
    ['/srv/css', 'dir'],
    ['/srv/css/site.css', 'file'],
    ['/srv/.env', 'file'],
  ]);
  const fs: FileLookup = { kind: async (p) => files.get(p) ?? null };
  const cfg: RouteConfig = { root: '/srv', indexFiles: ['index.php'], frontController: '/index.php', pathInfo: true };

  it('runs the front controller with the whole path as PATH_INFO', async () => {
    expect(await resolveRoute('/packages/foo', '', cfg, fs)).toEqual({ kind: 'php', scriptName: '/index.php', pathInfo: '/packages/foo', file: '/srv/index.php' });
    expect(await resolveRoute('/', '', cfg, fs)).toMatchObject({ kind: 'php', scriptName: '/index.php', pathInfo: '/' });
  });
  it('existing .php scripts still run themselves; a missing one is none, as behind nginx', async () => {
    expect(await resolveRoute('/other.php/x', '', cfg, fs)).toMatchObject({ kind: 'php', scriptName: '/other.php', pathInfo: '/x' });
    expect(await resolveRoute('/missing.php', '', cfg, fs)).toEqual({ kind: 'none' });
  });
  it('only top-level scripts run themselves (nginx `^/[^/]+\\.php($|/)`): a nested one is the router\'s path', async () => {
    const nested = new Map(files).set('/srv/sub', 'dir').set('/srv/sub/x.php', 'file');
    const nfs: FileLookup = { kind: async (p) => nested.get(p) ?? null };
    expect(await resolveRoute('/sub/x.php', '', cfg, nfs)).toMatchObject({ kind: 'php', scriptName: '/index.php', pathInfo: '/sub/x.php' });
    expect(await resolveRoute('/sub/missing.php/y', '', cfg, nfs)).toMatchObject({ kind: 'php', scriptName: '/index.php', pathInfo: '/sub/missing.php/y' });
    // Without --path-info a nested script still runs itself, as behind Debian's default site.
    expect(await resolveRoute('/sub/x.php', '', { ...cfg, pathInfo: false }, nfs)).toMatchObject({ kind: 'php', scriptName: '/sub/x.php' });
  });
  it('static files go to the router too, unless pathInfoStatic', async () => {
    expect(await resolveRoute('/css/site.css', '', cfg, fs)).toMatchObject({ kind: 'php', pathInfo: '/css/site.css' });
    expect(await resolveRoute('/css/site.css', '', { ...cfg, pathInfoStatic: true }, fs)).toMatchObject({ kind: 'static', path: '/css/site.css' });
  });
  it('a hidden file is never served, even with pathInfoStatic: it is a route like any other', async () => {
    expect(await resolveRoute('/.env', '', { ...cfg, pathInfoStatic: true }, fs)).toMatchObject({ kind: 'php', pathInfo: '/.env' });
  });
});

describe('resolveRouteNow: the same decision, at once when the lookup knows every kind', () => {
  /** The fake tree, whose kinds are also `known` at once, except for the paths `unknown` picks. */
  function knowing(unknown: (abs: string) => boolean = () => false): FileLookup & { asked: string[] } {
    const fs = fakeFs(files, dirs);
    return { asked: fs.asked, kind: (abs) => fs.kind(abs), known: (abs) => (unknown(abs) ? undefined : fs.kindOf(abs)) };
  }
  const paths = ['/x.php', '/x.php/extra', '/missing.php', '/style.css', '/dir', '/dir/', '/static/', '/both/', '/empty', '/.env', '/nope', '/lib.php/inner.css', '/config.inc', '/'];
  const configs: Array<[string, RouteConfig]> = [
    ['no front controller', noFc],
    ['a front controller', withFc],
    ['PATH_INFO mode', { ...withFc, pathInfo: true }],
    ['PATH_INFO mode, static first', { ...withFc, pathInfo: true, pathInfoStatic: true }],
  ];

  it.each(configs)('with %s: a warm lookup gives resolveRoute\'s route, not a promise', async (_name, cfg) => {
    const fs = knowing();
    for (const p of paths) {
      const now = resolveRouteNow(p, 'a=1', cfg, fs);
      expect(now, p).not.toBeInstanceOf(Promise);
      expect(now, p).toEqual(await resolveRoute(p, 'a=1', cfg, fakeFs(files, dirs)));
    }
    expect(fs.asked).toEqual([]);
  });

  it('finishes asynchronously from the first kind it does not know, with the same route', async () => {
    // `/dir` is known to be a directory, its index is not known yet: the walk goes on through `kind`.
    const fs = knowing((abs) => abs === ROOT + '/dir/index.php');
    const now = resolveRouteNow('/dir', 'q=1', noFc, fs);
    expect(now).toBeInstanceOf(Promise);
    expect(await now).toEqual({ kind: 'redirect', location: '/dir/?q=1' });
    expect(fs.asked).toEqual([ROOT + '/dir/index.php']);
  });

  it('a lookup without `known` is always asked through `kind`', async () => {
    const fs = fakeFs(files, dirs);
    const now = resolveRouteNow('/style.css', '', noFc, fs);
    expect(now).toBeInstanceOf(Promise);
    expect(await now).toEqual({ kind: 'static', file: ROOT + '/style.css', path: '/style.css' });
  });
});
