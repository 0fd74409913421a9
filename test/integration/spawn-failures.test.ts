// spawnFpm's failure paths, with stand-in php-fpm binaries: one that never listens, one that keeps
// crashing, PHP's CLI binary. Fast: no real pool is started.
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FpmStartError } from '../../src/fpm/errors.ts';
import { spawnFpm } from '../../src/fpm/spawn-fpm.ts';
import type { Logger } from '../../src/log/logger.ts';
import { waitFor } from './support.ts';

let base: string;

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    access() {},
    phpStderr() {},
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

/** An executable that answers -v like php-fpm and then does `body`. */
function fakeFpm(name: string, body: string): string {
  const path = join(base, name);
  writeFileSync(path, `#!/bin/sh\nif [ "$1" = "-v" ]; then echo "PHP 8.9.0 (fpm-fcgi) (built: never)"; exit 0; fi\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Our private dirs under `tmp`: none may be left after a failure or a stop. */
const dirsIn = (tmp: string) => readdirSync(tmp).filter((n) => n.startsWith('fpm-bridge-'));

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'fpm-bridge-fakes-'));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('spawnFpm failures', () => {
  it('a php-fpm that never accepts: times out with its last lines, and nothing is left', async () => {
    const tmp = mkdtempSync(join(base, 'tmp-'));
    const bin = fakeFpm('never-listens', 'echo "[01-Jan-2026 00:00:00] WARNING: fake php-fpm, listening nowhere" >&2\nexec sleep 30');
    const err = await spawnFpm({ bin, maxBodyBytes: 1024, logger: recordingLogger(), startTimeoutMs: 300, tmpDir: tmp }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FpmStartError);
    expect((err as Error).message).toMatch(/failed to start: it did not accept connections on \S+php-fpm\.sock within 0\.3 s/);
    expect((err as Error).message).toContain('WARNING: fake php-fpm, listening nowhere');
    expect(dirsIn(tmp)).toEqual([]);
  });

  it('PHP\'s CLI binary instead of php-fpm: says so', async () => {
    const bin = join(base, 'php');
    writeFileSync(bin, '#!/bin/sh\necho "PHP 8.2.0 (cli) (built: never) ( NTS )"\n');
    chmodSync(bin, 0o755);
    await expect(spawnFpm({ bin, maxBodyBytes: 1024, logger: recordingLogger() })).rejects.toThrow(/is PHP's cli binary, not php-fpm[\s\S]*apt-get install php-fpm/);
  });

  it('an unreadable --php-fpm-conf: names the file', async () => {
    const bin = fakeFpm('unused', 'exit 1');
    await expect(spawnFpm({ bin, maxBodyBytes: 1024, logger: recordingLogger(), extraConfFile: join(base, 'missing.conf') })).rejects.toThrow(/--php-fpm-conf \S+missing\.conf: cannot read it \(ENOENT\)/);
  });

  it('a php-fpm that keeps dying is restarted with growing delays and its last words logged; stop() ends it', { timeout: 30_000 }, async () => {
    const tmp = mkdtempSync(join(base, 'tmp-'));
    // Listens (python is not assumed: node is), then dies after 150 ms with a php-fpm-style error.
    const bin = fakeFpm(
      'crashes',
      `conf=$3
sock=$(sed -n 's/^listen = //p' "$conf")
exec "${process.execPath}" -e '
  const s = require("net").createServer().listen(process.argv[1]);
  setTimeout(() => { process.stderr.write("[01-Jan-2026 00:00:00] ALERT: fake crash\\n"); s.close(); process.exit(70); }, 150);
' "$sock"`,
    );
    const logger = recordingLogger();
    const fpm = await spawnFpm({ bin, maxBodyBytes: 1024, logger, tmpDir: tmp, backoff: { initialMs: 50, maxMs: 400, resetAfterMs: 30_000 } });
    expect(fpm.version).toBe('8.9.0');
    // Each round is a node start (~100-600 ms on a loaded machine) + 150 ms + the delay: wait for the
    // third crash rather than a fixed time, which a busy CI machine overran (2 crashes in 1.5 s).
    const crashLines = () => logger.lines.filter((l) => l.startsWith('error php-fpm exited with code 70'));
    await waitFor(() => crashLines().length >= 3, 20_000, 'three crashes');
    const crashes = crashLines();
    expect(crashes.length).toBeGreaterThanOrEqual(3);
    expect(crashes[0]).toContain('its last message: ALERT: fake crash');
    const delays = crashes.map((l) => Number(/Restarting in (\d+) ms/.exec(l)?.[1]));
    expect(delays.slice(0, 3)).toEqual([50, 100, 200]);
    expect(fpm.restarts).toBeGreaterThanOrEqual(2);
    await fpm.stop();
    expect(existsSync(fpm.dir)).toBe(false);
    const after = logger.lines.length;
    await sleep(500);
    expect(logger.lines.length).toBe(after); // no restart after stop
    expect(dirsIn(tmp)).toEqual([]);
  });
});
