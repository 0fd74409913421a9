// One meaning of 0 (issue 9): every timeout given as 0 is off, for the library, the CLI and the config
// file alike; a count that cannot be 0 (fpmConnections) is refused where it enters; a bad value from the
// CLI is a clear message and exit 2, never a stack. Against a real php-fpm.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shutdown } from '../../src/cli/shutdown.ts';
import type { PhpBackend } from '../../src/cli/php-backend.ts';
import { startPhpFpm, type PhpFpm } from '../helpers/php-fpm.ts';
import { runCliToEnd, startChildBridge } from './child-bridge.ts';
import { FIXTURES, request, sleep, startBridge } from './support.ts';

/** Sends a GET on an open socket and resolves with everything read until the response's body is in. */
function getOn(sock: Socket, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (c: Buffer) => {
      text += c.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(text)?.[1];
      if (end >= 0 && len !== undefined && text.length >= end + 4 + Number(len)) {
        sock.off('data', onData);
        resolve(text);
      }
    };
    sock.on('data', onData);
    sock.once('error', reject);
    sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
}

describe('0 means off (library)', () => {
  let fpm: PhpFpm;
  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 2 });
  }, 20_000);
  afterAll(async () => {
    await fpm?.stop();
  });

  it.each([['responseTimeoutMs'], ['connectTimeoutMs'], ['fpmQueueTimeoutMs'], ['sendTimeoutMs'], ['bodyTimeoutMs'], ['appTimeoutMs']])(
    '%s: 0 lets a PHP answer that takes 50 ms through (200, not 504)',
    async (key) => {
      const bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 1, [key]: 0 });
      try {
        // Twice: on a new php-fpm connection, then on the kept-alive one.
        for (let i = 0; i < 2; i++) {
          const r = await request(bridge.port, '/slow.php?ms=50', { method: 'POST', body: 'x' });
          expect(r.status).toBe(200);
          expect(r.body.toString()).toBe('slept');
        }
      } finally {
        await bridge.close();
      }
    },
  );

  it('idleTimeoutMs: 0 keeps an idle php-fpm connection (it was closed at once)', async () => {
    const bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 1, idleTimeoutMs: 0 });
    try {
      expect((await request(bridge.port, '/hello.php')).status).toBe(200);
      await sleep(100);
      expect(bridge.bridge.client.stats).toMatchObject({ open: 1, idle: 1 });
      expect((await request(bridge.port, '/hello.php')).status).toBe(200);
    } finally {
      await bridge.close();
    }
  });

  it('headerTimeoutMs and keepAliveTimeoutMs: 0 keeps a quiet client connection', async () => {
    const bridge = await startBridge({ fpm: fpm.socket, headerTimeoutMs: 0, keepAliveTimeoutMs: 0 });
    const sock = connect({ host: '127.0.0.1', port: bridge.port });
    try {
      await new Promise((r) => sock.once('connect', r));
      expect(await getOn(sock, '/hello.php')).toMatch(/^HTTP\/1\.1 200 /);
      await sleep(300);
      expect(sock.destroyed).toBe(false);
      expect(await getOn(sock, '/hello.php')).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      sock.destroy();
      await bridge.close();
    }
  });

  it('shutdown with a grace of 0 waits for the response in flight instead of cutting it', async () => {
    const bridge = await startBridge({ fpm: fpm.socket });
    const pending = request(bridge.port, '/slow.php?ms=400');
    await sleep(100);
    const php = { stop: async () => {} } as unknown as PhpBackend;
    await shutdown(bridge, bridge.bridge, php, 0);
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('slept');
  });

  it.each([
    [{ fpmConnections: 0 }, /fpmConnections: 0 is not a whole number of at least 1/],
    [{ responseTimeoutMs: 2 ** 31 }, /responseTimeoutMs: 2147483648 is not a number of milliseconds from 0 \(off\) to 2147483647/],
    [{ keepAliveTimeoutMs: 3e9 }, /keepAliveTimeoutMs/],
  ])('refuses %j where it enters', async (bad, message) => {
    await expect(startBridge({ fpm: fpm.socket, ...bad })).rejects.toThrow(message);
  });
});

describe('0 means off (CLI and config file)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-options-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('--fpm-timeout 0 and --connect-timeout 0: a PHP answer after 50 ms is a 200 (was a 504)', async () => {
    const bridge = await startChildBridge(['--root', FIXTURES, '--fpm-timeout', '0', '--connect-timeout', '0', '--quiet']);
    try {
      for (let i = 0; i < 2; i++) {
        const r = await request(bridge.port, '/slow.php?ms=50');
        expect(r.status).toBe(200);
      }
    } finally {
      await bridge.stop();
    }
  }, 30_000);

  it('the same from a config file', async () => {
    const config = join(dir, 'zero.json');
    writeFileSync(config, JSON.stringify({ 'fpm-timeout': '0', 'connect-timeout': '0', 'idle-timeout': '0' }));
    const bridge = await startChildBridge(['--root', FIXTURES, '--config', config, '--quiet']);
    try {
      expect((await request(bridge.port, '/slow.php?ms=50')).status).toBe(200);
    } finally {
      await bridge.stop();
    }
  }, 30_000);

  it.each([
    ['--fpm-connections 0', ['--fpm-connections', '0'], /--fpm-connections: not a positive whole number: "0"/],
    ['--connect-timeout 600h (past what a timer can wait: it fired at once)', ['--connect-timeout', '600h'], /--connect-timeout: .*longer than 2147483647 ms/],
    // Past the flag's own parsing, caught by the library's check (an OptionsError), before anything starts.
    ['--max-body of 400 digits', ['--max-body', '9'.repeat(400)], /fpm-bridge: maxBody: Infinity is not a whole number, 0 or more/],
  ])('%s: exit 2 with a message, no stack, nothing started', async (_label, args, message) => {
    const exit = await runCliToEnd(['--root', FIXTURES, ...args]);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(message);
    expect(exit.stderr).not.toMatch(/\n\s+at /);
  }, 20_000);

  it('fpm-connections "0" in a config file: exit 2 naming it', async () => {
    const config = join(dir, 'conns.json');
    writeFileSync(config, JSON.stringify({ 'fpm-connections': '0' }));
    const exit = await runCliToEnd(['--root', FIXTURES, '--config', config]);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(/--fpm-connections: not a positive whole number: "0"/);
  }, 20_000);
});
