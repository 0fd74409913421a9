// The file policy over real sockets, with the non-canonical forms unit tests do not reach (issue 9):
// PHP source copies as a family, backups in any letter case, a dotfile deep in the path, a Proxy
// header in odd letter case, and symlinks that lead out of the docroot (not served, not run, unless
// --follow-symlinks).
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { FIXTURES, rawRequest, startBridge, type Running } from './support.ts';

const MARKER = 'SOURCE-MUST-NOT-LEAK';
const OUTSIDE = 'OUTSIDE-THE-ROOT';
const get = (port: number, target: string, extra = '') => rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: localhost${extra ? '\r\n' + extra : ''}`);

describe('file policy, end to end', () => {
  let fpm: PhpFpm;
  let root: string;
  let outside: string;
  let confined: Running;
  let following: Running;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-policy-'));
    outside = mkdtempSync(join(tmpdir(), 'fpm-bridge-outside-'));
    cpSync(FIXTURES, root, { recursive: true });
    const source = `<?php echo 'ran'; // ${MARKER}\n`;
    for (const name of ['wp-config.php_bak', 'config.php-old', 'config.php (copy)', 'config.php_', 'config.phpbak', 'conf.php ']) writeFileSync(join(root, name), source);
    for (const name of ['data.json.BAK', 'a.txt.SWP', 'notes.TXT.Orig']) writeFileSync(join(root, name), `${MARKER} backup\n`);
    mkdirSync(join(root, 'a/b/.secret'), { recursive: true });
    writeFileSync(join(root, 'a/b/.secret/c.txt'), `${MARKER} deep dotfile\n`);
    writeFileSync(join(root, 'a/b/.env'), `${MARKER} deep env\n`);
    // Outside the root: a file, a script, a directory; linked from inside.
    writeFileSync(join(outside, 'secret.txt'), `${OUTSIDE}\n`);
    writeFileSync(join(outside, 'run.php'), `<?php echo '${OUTSIDE} ran';\n`);
    symlinkSync(join(outside, 'secret.txt'), join(root, 'link.txt'));
    symlinkSync(join(outside, 'run.php'), join(root, 'link.php'));
    symlinkSync(outside, join(root, 'linkdir'));
    symlinkSync('/etc', join(root, 'etc'));
    // Inside the root: still fine.
    symlinkSync(join(root, 'info.txt'), join(root, 'alias.txt'));
    symlinkSync('hello.php', join(root, 'alias.php'));
    fpm = await startPhpFpm({ workers: 2 });
    confined = await startBridge({ fpm: fpm.socket, root, fpmConnections: 1 });
    following = await startBridge({ fpm: fpm.socket, root, fpmConnections: 1, followSymlinks: true });
  }, 30_000);

  afterAll(async () => {
    await confined?.close();
    await following?.close();
    await fpm?.stop();
    for (const d of [root, outside]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it.each(['/wp-config.php_bak', '/config.php-old', '/config.php%20(copy)', '/config.php_', '/config.phpbak', '/conf.php%20'])(
    'never serves the PHP source copy %s',
    async (target) => {
      const res = await get(confined.port, target);
      expect(res.text).not.toContain(MARKER);
      expect(res.status).toBe(404);
    },
  );

  it.each(['/data.json.BAK', '/a.txt.SWP', '/notes.TXT.Orig'])('never serves the upper-case backup %s', async (target) => {
    const res = await get(confined.port, target);
    expect(res.text).not.toContain(MARKER);
    expect(res.status).toBe(404);
  });

  it.each(['/a/b/.secret/c.txt', '/a/b/.env', '/a/b/%2esecret/c.txt', '/a/./b/.env', '/a//b/.env', '/a/x/../b/.env'])('never serves the dotfile deep in the path %s', async (target) => {
    const res = await get(confined.port, target);
    expect(res.text).not.toContain(MARKER);
    expect(res.status).toBe(404);
  });

  it.each(['Proxy', 'PROXY', 'pRoXy'])('a %s: header never becomes HTTP_PROXY (httpoxy)', async (name) => {
    const res = await get(confined.port, '/server.php', `${name}: http://evil.example:3128`);
    expect(res.status).toBe(200);
    expect((JSON.parse(res.body.toString()) as { server: Record<string, string> }).server.HTTP_PROXY).toBeUndefined();
  });

  it.each(['/link.txt', '/linkdir/secret.txt', '/etc/hostname', '/etc/passwd'])('does not serve %s, which a symlink leads out of the root', async (target) => {
    const res = await get(confined.port, target);
    expect(res.status).toBe(404);
    expect(res.text).not.toContain(OUTSIDE);
    expect(res.text).not.toContain('root:');
  });

  it.each(['/link.php', '/linkdir/run.php'])('does not run %s, which a symlink leads out of the root', async (target) => {
    const res = await get(confined.port, target);
    expect(res.status).toBe(404);
    expect(res.text).not.toContain(OUTSIDE);
  });

  it('follows symlinks that stay inside the root', async () => {
    expect((await get(confined.port, '/alias.txt')).status).toBe(200);
    expect((await get(confined.port, '/alias.php')).body.toString()).toBe('Hello from PHP');
  });

  it('with --follow-symlinks serves and runs what they lead to, as nginx does by default', async () => {
    expect((await get(following.port, '/link.txt')).body.toString()).toContain(OUTSIDE);
    expect((await get(following.port, '/linkdir/secret.txt')).body.toString()).toContain(OUTSIDE);
    expect((await get(following.port, '/link.php')).body.toString()).toBe(`${OUTSIDE} ran`);
  });
});
