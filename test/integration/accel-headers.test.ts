// X-Accel-* fields from PHP (issue 9, noticed after it): nginx reads X-Accel-Buffering, -Redirect,
// -Limit-Rate, -Expires and -Charset from its upstream and never passes them on; they reached the
// bridge's clients. Now they are taken out, X-Accel-Buffering: no still streams, and an
// X-Accel-Redirect no --sendfile-root maps gets a warning (sendfile.test.ts: with one, the file is
// sent). Against nginx on the same php-fpm.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginxFpm, startPhpFpm, type Nginx, type PhpFpm } from '../helpers/php-fpm.ts';
import { FIXTURES, recordingLogger, request, startBridge, type Running } from './support.ts';

const ACCEL = ['x-accel-buffering', 'x-accel-redirect', 'x-accel-limit-rate', 'x-accel-expires', 'x-accel-charset'];

/** A GET whose body parts are timed: ms from the response head to each chunk. */
function timedGet(port: number, path: string): Promise<{ headers: Record<string, unknown>; arrivals: Array<{ ms: number; text: string }> }> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const start = performance.now();
      const arrivals: Array<{ ms: number; text: string }> = [];
      res.on('data', (c: Buffer) => arrivals.push({ ms: performance.now() - start, text: c.toString() }));
      res.on('end', () => resolve({ headers: res.headers, arrivals }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

describe('X-Accel-* fields from PHP', () => {
  let fpm: PhpFpm;
  let bridge: Running;
  let nginx: Nginx;
  const logger = recordingLogger();

  beforeAll(async () => {
    fpm = await startPhpFpm({ workers: 3 });
    bridge = await startBridge({ fpm: fpm.socket, fpmConnections: 1, logger });
    nginx = await startNginxFpm({ root: FIXTURES, fpmSocket: fpm.socket });
  }, 20_000);
  afterAll(async () => {
    await bridge?.close();
    await nginx?.stop();
    await fpm?.stop();
  });

  it.each([['whole', '/accel.php'], ['streamed', '/accel.php?stream=1']])('never reach the client (%s), as with nginx; other X-Accel-* fields do', async (_kind, path) => {
    for (const port of [bridge.port, nginx.port]) {
      const r = await request(port, path);
      expect(r.status).toBe(200);
      for (const name of ACCEL) expect(r.headers[name], `${name} via port ${port}`).toBeUndefined();
      expect(r.headers['x-accel-other']).toBe('kept');
    }
  });

  it('X-Accel-Buffering: no still streams as PHP flushes, though the field no longer goes out', async () => {
    const r = await timedGet(bridge.port, '/accel.php?stream=1');
    expect(r.headers['x-accel-buffering']).toBeUndefined();
    expect(r.arrivals[0]!.text).toBe('part 1\n');
    expect(r.arrivals.map((a) => a.text).join('')).toBe('part 1\npart 2\n');
    // The first part came on its own, well before the second (PHP sleeps 300 ms between them).
    expect(r.arrivals.at(-1)!.ms - r.arrivals[0]!.ms).toBeGreaterThan(200);
  });

  it('X-Accel-Redirect without --sendfile-root: dropped with a warning, PHP\'s own answer sent (nginx serves the URI it names)', async () => {
    const mine = await request(bridge.port, '/accel.php?redirect=/info.txt');
    expect(mine.status).toBe(200);
    expect(mine.headers['x-accel-redirect']).toBeUndefined();
    expect(mine.body.toString()).toBe('from PHP\n');
    expect(logger.warnings.some((w) => /X-Accel-Redirect: \/info\.txt, but no --sendfile-root .*maps it: dropped/.test(w))).toBe(true);
    const theirs = await request(nginx.port, '/accel.php?redirect=/info.txt');
    expect(theirs.body.toString()).toBe('plain text file\n');
  });
});
