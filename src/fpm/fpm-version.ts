import { execFile } from 'node:child_process';
import { FpmStartError } from './errors.ts';
import { INSTALL_HINT } from './install-hint.ts';

/**
 * `php-fpm -v` → `8.2.36`. Also checks that the binary is php-fpm at all: `--php-fpm-bin php` (the CLI)
 * is a likely mistake, and its `-v` says `(cli)`, not `(fpm-fcgi)`.
 */
export function phpFpmVersion(bin: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, ['-v'], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`.trim();
      const m = /^PHP (\S+) \(([^)]+)\)/m.exec(out);
      if (m && m[2] === 'fpm-fcgi') return resolve(m[1]!);
      const said = out.split('\n')[0] || (err ? err.message : '(nothing)');
      if (m) return reject(new FpmStartError(`${bin} is PHP's ${m[2]} binary, not php-fpm (its -v says: ${said}).\n${INSTALL_HINT}`));
      reject(new FpmStartError(`${bin} does not run as php-fpm (\`${bin} -v\` said: ${said}).\n${INSTALL_HINT}`));
    });
  });
}
