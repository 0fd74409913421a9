import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FpmStartError } from './errors.ts';

/**
 * Step debugging as IDEs expect it (PhpStorm, VS Code's PHP Debug): Xdebug 3 connects back to the IDE
 * on 127.0.0.1:9003 when a request carries the trigger (XDEBUG_TRIGGER, the browser extension's
 * cookie), so requests without it run at full speed. `--php-ini xdebug.start_with_request=yes` (or any
 * other xdebug.*) comes after these and wins.
 */
export const XDEBUG_SETTINGS: ReadonlyArray<readonly [string, string]> = [
  ['xdebug.mode', 'debug,develop'],
  ['xdebug.start_with_request', 'trigger'],
  ['xdebug.client_host', '127.0.0.1'],
  ['xdebug.client_port', '9003'],
];

/**
 * The -d settings that give the spawned pool Xdebug: only the xdebug.* ones when the binary loads it
 * already (a conf.d ini), else `zend_extension` as well when xdebug.so is in PHP's extension_dir.
 * Throws FpmStartError with the package to install when it is not there.
 */
export async function xdebugIni(bin: string, version: string): Promise<Array<readonly [string, string]>> {
  const modules = await run(bin, ['-m']);
  if (/^Xdebug$/im.test(modules)) return [...XDEBUG_SETTINGS];
  const dir = /^extension_dir => (\S+)/m.exec(await run(bin, ['-i']))?.[1];
  if (dir && existsSync(join(dir, 'xdebug.so'))) return [['zend_extension', 'xdebug'], ...XDEBUG_SETTINGS];
  const minor = /^\d+\.\d+/.exec(version)?.[0] ?? '';
  throw new FpmStartError(
    `--xdebug: Xdebug is not installed for ${bin} (PHP ${version}): no xdebug module loaded, no xdebug.so in ${dir ?? "PHP's extension_dir"}.\n` +
      `  Debian/Ubuntu: sudo apt-get install php${minor}-xdebug\n` +
      `  macOS (Homebrew): pecl install xdebug\n` +
      `  or drop --xdebug.`,
  );
}

function run(bin: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: 10_000, encoding: 'utf8', maxBuffer: 8 * 1024 * 1024 }, (_err, stdout) => resolve(stdout ?? ''));
  });
}
