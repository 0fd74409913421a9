import { describe, expect, it } from 'vitest';
import { defaultWorkers, isStartupOnlyIni, maxChildrenIn, poolConfig, type PoolConfigInput } from '../../src/fpm/pool-config.ts';

const base: PoolConfigInput = { dir: '/tmp/fpm-bridge-x', workers: 4, maxBodyBytes: 64 * 1024 * 1024, asRoot: false };

/** `key = value` lines of one section, in order. */
function section(text: string, name: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let inside = false;
  for (const line of text.split('\n')) {
    const header = /^\[(.+)\]$/.exec(line);
    if (header) inside = header[1] === name;
    else if (inside && /^[^;].* = /.test(line)) {
      const i = line.indexOf(' = ');
      out.push([line.slice(0, i), line.slice(i + 3)]);
    }
  }
  return out;
}

describe('poolConfig', () => {
  it('puts socket, pid and log in the private dir, in the foreground', () => {
    const c = poolConfig(base);
    expect(c.conf).toBe('/tmp/fpm-bridge-x/php-fpm.conf');
    expect(c.socket).toBe('/tmp/fpm-bridge-x/php-fpm.sock');
    const global = Object.fromEntries(section(c.text, 'global'));
    expect(global).toMatchObject({
      pid: '/tmp/fpm-bridge-x/php-fpm.pid',
      error_log: '/tmp/fpm-bridge-x/php-fpm.log',
      daemonize: 'no',
    });
  });

  it('writes one static pool on a 0600 unix socket with the settings the bridge relies on', () => {
    const pool = Object.fromEntries(section(poolConfig(base).text, 'fpm-bridge'));
    expect(pool).toMatchObject({
      listen: '/tmp/fpm-bridge-x/php-fpm.sock',
      'listen.mode': '0600',
      pm: 'static',
      'pm.max_children': '4',
      'pm.max_requests': '500',
      catch_workers_output: 'yes',
      decorate_workers_output: 'no',
      clear_env: 'yes',
    });
    expect(pool).not.toHaveProperty('user');
  });

  it('clears the environment but for the names given, copied by php-fpm from its own ($NAME)', () => {
    const pool = section(poolConfig({ ...base, env: ['PATH', 'APP_ENV'] }).text, 'fpm-bridge');
    expect(pool).toContainEqual(['clear_env', 'yes']);
    expect(pool).toContainEqual(['env[PATH]', '$PATH']);
    expect(pool).toContainEqual(['env[APP_ENV]', '$APP_ENV']);
    expect(() => poolConfig({ ...base, env: ['A=B'] })).toThrow(/not an environment variable name/);
  });

  it('shows PHP errors in development mode (php.ini-development), hides them in production; logs both', () => {
    const dev = Object.fromEntries(section(poolConfig({ ...base, dev: true }).text, 'fpm-bridge'));
    expect(dev).toMatchObject({ 'php_value[display_errors]': 'On', 'php_value[error_reporting]': 'E_ALL', 'php_value[log_errors]': 'On' });
    const prod = Object.fromEntries(section(poolConfig({ ...base, dev: false }).text, 'fpm-bridge'));
    expect(prod).toMatchObject({ 'php_value[display_errors]': 'Off', 'php_value[log_errors]': 'On' });
    // --php-ini comes later and wins.
    const own = section(poolConfig({ ...base, dev: true, ini: [['display_errors', 'Off']] }).text, 'fpm-bridge');
    expect(own.filter(([k]) => k === 'php_value[display_errors]').at(-1)).toEqual(['php_value[display_errors]', 'Off']);
  });

  it('puts --xdebug settings before --php-ini xdebug.* on the command line (the user\'s win)', () => {
    const c = poolConfig({ ...base, xdebugIni: [['zend_extension', 'xdebug'], ['xdebug.mode', 'debug']], ini: [['xdebug.mode', 'profile']] });
    expect(c.args.join(' ')).toContain('-d zend_extension=xdebug -d xdebug.mode=debug -d xdebug.mode=profile');
  });

  it('matches post_max_size and upload_max_filesize to --max-body, as admin values', () => {
    const pool = section(poolConfig({ ...base, maxBodyBytes: 1536 * 1024 }).text, 'fpm-bridge');
    expect(pool).toContainEqual(['php_admin_value[post_max_size]', '1572864']);
    expect(pool).toContainEqual(['php_admin_value[upload_max_filesize]', '1572864']);
  });

  it('sends --php-ini to php_value, and start-up-only settings to -d on the command line', () => {
    const c = poolConfig({
      ...base,
      ini: [
        ['memory_limit', '256M'],
        ['error_reporting', 'E_ALL & ~E_DEPRECATED'],
        ['opcache.enable', '1'],
        ['zend_extension', 'xdebug'],
        ['xdebug.mode', 'debug'],
      ],
    });
    const pool = section(c.text, 'fpm-bridge');
    expect(pool).toContainEqual(['php_value[memory_limit]', '256M']);
    // php.ini syntax, unquoted: PHP evaluates the constants.
    expect(pool).toContainEqual(['php_value[error_reporting]', 'E_ALL & ~E_DEPRECATED']);
    expect(c.text).not.toContain('opcache');
    expect(c.text).not.toContain('xdebug');
    expect(c.args).toEqual(['-F', '-y', c.conf, '-d', 'opcache.enable=1', '-d', 'zend_extension=xdebug', '-d', 'xdebug.mode=debug']);
  });

  it('keeps the order of --php-ini (a later value of the same key wins in php-fpm too)', () => {
    const pool = section(poolConfig({ ...base, ini: [['memory_limit', '1M'], ['memory_limit', '2M']] }).text, 'fpm-bridge');
    expect(pool.filter(([k]) => k === 'php_value[memory_limit]').map(([, v]) => v)).toEqual(['1M', '2M']);
  });

  it('refuses what would break the file: a bad key, a line break in a value', () => {
    expect(() => poolConfig({ ...base, ini: [['memory limit', '1M']] })).toThrow(/not a php.ini key/);
    expect(() => poolConfig({ ...base, ini: [['memory_limit', '1M\npm = dynamic']] })).toThrow(/line break/);
  });

  it('adds -R only when running as root', () => {
    expect(poolConfig(base).args).not.toContain('-R');
    expect(poolConfig({ ...base, asRoot: true }).args).toContain('-R');
    // Never -n: the system php.ini (extensions, timezone) stays in force.
    expect(poolConfig({ ...base, asRoot: true }).args).not.toContain('-n');
  });

  it('appends --php-fpm-conf inside the pool and says on which line it starts', () => {
    const c = poolConfig({ ...base, extraConf: { path: 'extra.conf', text: 'env[FOO] = bar\r\nphp_flag[display_errors] = on\n' } });
    const lines = c.text.split('\n');
    expect(c.extraConfLine).toBeDefined();
    expect(lines[c.extraConfLine! - 1]).toBe('env[FOO] = bar');
    expect(lines[c.extraConfLine!]).toBe('php_flag[display_errors] = on');
    expect(section(c.text, 'fpm-bridge')).toContainEqual(['env[FOO]', 'bar']);
    expect(poolConfig(base).extraConfLine).toBeUndefined();
  });
});

describe('defaultWorkers', () => {
  it('is two per CPU, between 2 and 8', () => {
    expect([1, 2, 3, 4, 64].map(defaultWorkers)).toEqual([2, 4, 6, 8, 8]);
  });
});

describe('isStartupOnlyIni', () => {
  it('knows what php_value cannot set in a running worker', () => {
    for (const k of ['opcache.enable', 'opcache.jit', 'xdebug.mode', 'extension', 'zend_extension', 'disable_functions']) expect(isStartupOnlyIni(k), k).toBe(true);
    for (const k of ['memory_limit', 'display_errors', 'date.timezone', 'extension_dir_x']) expect(isStartupOnlyIni(k), k).toBe(false);
  });
});

describe('maxChildrenIn', () => {
  it('finds the last pm.max_children of a snippet', () => {
    expect(maxChildrenIn('pm = dynamic\npm.max_children = 12\n')).toBe(12);
    expect(maxChildrenIn('pm.max_children=3 ; few\npm.max_children = "5"')).toBe(5);
    expect(maxChildrenIn('; pm.max_children = 12\nenv[X] = 1')).toBeUndefined();
  });
});
