import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isHidden, isServableStatic, splitPhpPath } from '../../src/route/file-policy.ts';

/**
 * Debian's snippets/fastcgi-php.conf: `fastcgi_split_path_info ^(.+?\.php)(/.*)$;` (PCRE, where `.`
 * matches anything but LF). When the regex does not match, nginx's script name is the whole $uri
 * and PATH_INFO is empty.
 */
const NGINX_SPLIT = /^([^\n]+?\.php)(\/[^\n]*)$/;
function nginxSplit(path: string): { script: string; pathInfo: string } {
  const m = NGINX_SPLIT.exec(path);
  return m ? { script: m[1]!, pathInfo: m[2]! } : { script: path, pathInfo: '' };
}

describe('isHidden', () => {
  it('hides any segment starting with a dot', () => {
    for (const p of ['/.env', '/.git/config', '/.git/', '/a/.htpasswd', '/a/b/.svn/entries', '/.hidden.php', '/a/.well-known/x', '/.well-knownx/y']) {
      expect(isHidden(p), p).toBe(true);
    }
  });

  it('does not hide names with a dot elsewhere', () => {
    for (const p of ['/', '/index.php', '/a.b/c.d', '/a/b..c', '/x.', '/a/b/']) expect(isHidden(p), p).toBe(false);
  });

  it('lets /.well-known/ through (RFC 8615) but not dot segments below it', () => {
    expect(isHidden('/.well-known/security.txt')).toBe(false);
    expect(isHidden('/.well-known/acme-challenge/tok-EN_123')).toBe(false);
    expect(isHidden('/.well-known/')).toBe(false);
    expect(isHidden('/.well-known/.x')).toBe(true);
    expect(isHidden('/.well-known/a/.git/config')).toBe(true);
    // Only at the root.
    expect(isHidden('/a/.well-known/security.txt')).toBe(true);
  });
});

describe('isServableStatic', () => {
  it('refuses PHP source, includes and their copies in any letter case', () => {
    for (const p of [
      '/x.php',
      '/X.PHP',
      '/a/x.Php',
      '/x.php5',
      '/x.php7',
      '/x.phtml',
      '/x.PHTML',
      '/x.phar',
      '/x.phps',
      '/x.inc',
      '/lib/config.INC',
      '/x.php~',
      '/x.php.bak',
      '/x.php.swp',
      '/.x.php.swp',
      '/x.php.orig',
      '/x.php.old',
      '/x.php.save',
      '/config.php.dist',
      '/x.php.1',
      '/x.PHP.txt',
      '/x.php7.bak',
      '/notes.txt~',
      '/data.json.bak',
      // The family, not a list (issue 9): any name containing .php is a script or a copy of one.
      '/wp-config.php_bak',
      '/config.php-old',
      '/config.php (copy)',
      '/config.php_',
      '/config.phpbak',
      '/conf.php ',
      '/conf.php.',
      '/x.phpx',
      '/X.PhTmL_old',
      '/a/b/x.phar.gz',
      // Backups in upper case, and with Windows-style trailing dots and spaces.
      '/data.json.BAK',
      '/a.txt.SWP',
      '/notes.TXT.Orig',
      '/data.bak.',
      '/data.bak ',
      '/#notes.txt#',
    ]) {
      expect(isServableStatic(p), p).toBe(false);
    }
  });

  it('serves ordinary files', () => {
    for (const p of ['/style.css', '/app.js', '/a/b/index.html', '/img.png', '/x.ph', '/phpinfo.txt', '/a.p.h.p', '/x.pht', '/php/x.txt', '/x.php/readme.txt', '/x.include', '/bak', '/robots.txt']) {
      expect(isServableStatic(p), p).toBe(true);
    }
  });
});

describe('splitPhpPath', () => {
  it('splits at .php followed by / or the end', () => {
    expect(splitPhpPath('/x.php')).toEqual({ script: '/x.php', pathInfo: '' });
    expect(splitPhpPath('/x.php/extra')).toEqual({ script: '/x.php', pathInfo: '/extra' });
    expect(splitPhpPath('/x.php/')).toEqual({ script: '/x.php', pathInfo: '/' });
    expect(splitPhpPath('/a/b/index.php/c/d.php/e')).toEqual({ script: '/a/b/index.php', pathInfo: '/c/d.php/e' });
  });

  it('splits at the first .php that is followed by / (lazy .+?), skipping earlier ones', () => {
    expect(splitPhpPath('/a.php.b/c.php/d')).toEqual({ script: '/a.php.b/c.php', pathInfo: '/d' });
    expect(splitPhpPath('/a.phpx/b.php')).toEqual({ script: '/a.phpx/b.php', pathInfo: '' });
    expect(splitPhpPath('/a.php.php/x')).toEqual({ script: '/a.php.php', pathInfo: '/x' });
  });

  it('does not split names that only look like .php', () => {
    expect(splitPhpPath('/x.phpx')).toBeNull();
    expect(splitPhpPath('/x.PHP')).toBeNull();
    expect(splitPhpPath('/x.Php/extra')).toBeNull();
    expect(splitPhpPath('/x.ph\u0440')).toBeNull(); // Cyrillic er
    expect(splitPhpPath('/x.\u0440hp')).toBeNull();
    expect(splitPhpPath('/x\u2024php')).toBeNull(); // one dot leader
    expect(splitPhpPath('/x.ph')).toBeNull();
    expect(splitPhpPath('/php')).toBeNull();
    expect(splitPhpPath('/x.php5')).toBeNull();
    expect(splitPhpPath('/x.phtml')).toBeNull();
  });

  it('does not split a bare ".php" segment (a dotfile, which isHidden refuses anyway)', () => {
    // nginx's ^(.+?\.php)(/.*)$ needs a "/" after .php, so "/.php" does not match it either.
    expect(splitPhpPath('/.php')).toBeNull();
    expect(nginxSplit('/.php')).toEqual({ script: '/.php', pathInfo: '' });
    // But "/.php/x" does match nginx's regex (.+? = "/"): nginx would look for a script "/.php".
    // The bridge deliberately does not, and the path is a hidden one, never routed to a script.
    expect(nginxSplit('/.php/x')).toEqual({ script: '/.php', pathInfo: '/x' });
    expect(splitPhpPath('/.php/x')).toBeNull();
    expect(splitPhpPath('/a/.php/x')).toBeNull();
    expect(isHidden('/.php/x')).toBe(true);
    expect(isHidden('/a/.php/x')).toBe(true);
  });

  it('splits a path info containing LF, where nginx\'s regex (its `.` excludes LF) would not match', () => {
    // Deliberate divergence: nginx would look up the script "/x.php/a\nb" and answer 404; the bridge
    // runs /x.php with a non-empty PATH_INFO (the empty PATH_INFO nginx sends in this case was the
    // trigger of CVE-2019-11043).
    expect(splitPhpPath('/x.php/a\nb')).toEqual({ script: '/x.php', pathInfo: '/a\nb' });
    expect(nginxSplit('/x.php/a\nb')).toEqual({ script: '/x.php/a\nb', pathInfo: '' });
  });

  it('property: agrees with nginx ^(.+?\\.php)(/.*)$ on every path that is not hidden', () => {
    const seg = fc.oneof(
      fc.constantFrom('a', 'x.php', '.php', 'php', '.phpx', 'b.php.c', '.PHP', 'p.ph', 'hp', '.', 'x.php5', '\u0440'),
      fc.stringMatching(/^[a-z.\/]{0,6}$/),
    );
    fc.assert(
      fc.property(fc.array(seg, { minLength: 1, maxLength: 6 }), fc.boolean(), (segs, trailing) => {
        const path = '/' + segs.join('/') + (trailing ? '/' : '');
        const mine = splitPhpPath(path);
        if (mine) {
          expect(mine.script.endsWith('.php')).toBe(true);
          expect(mine.script + mine.pathInfo).toBe(path);
          expect(mine.pathInfo === '' || mine.pathInfo.startsWith('/')).toBe(true);
        }
        if (isHidden(path)) return;
        expect(mine ?? { script: path, pathInfo: '' }).toEqual(nginxSplit(path));
        // A result is returned exactly when nginx's script name ends in .php.
        expect(mine !== null).toBe(nginxSplit(path).script.endsWith('.php'));
      }),
      { numRuns: 2000 },
    );
  });
});
