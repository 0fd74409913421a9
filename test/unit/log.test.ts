import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { jsonLogger } from '../../src/log/json-logger.ts';
import type { AccessEntry } from '../../src/log/logger.ts';
import { textLogger } from '../../src/log/text-logger.ts';

function sink() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (b: Buffer) => (text += b.toString()));
  return { stream, text: () => text };
}

const entry = (over: Partial<AccessEntry> = {}): AccessEntry => ({
  method: 'GET', url: '/hello', status: 200, bytes: 45, durationMs: 1.234, servedBy: 'php→app', remoteAddress: '127.0.0.1', ...over,
});
const ESC = '\u001b[';

describe('textLogger', () => {
  it('plain (no colour): one greppable line a request, PHP stderr under it', () => {
    const out = sink();
    const err = sink();
    const log = textLogger(out.stream, err.stream, { color: false });
    log.phpStderr('GET', '/hello', 'PHP Warning: oops');
    log.access(entry());
    expect(out.text()).toMatch(/^\d{4}-\d\d-\d\dT\S+Z 127\.0\.0\.1 GET \/hello 200 45 1\.2ms php→app\n {4}php: PHP Warning: oops\n$/);
    expect(out.text()).not.toContain(ESC);
    expect(err.text()).toBe('');
  });

  it('colour: status and who served it are coloured', () => {
    const out = sink();
    const log = textLogger(out.stream, sink().stream, { color: true });
    log.access(entry({ status: 503, servedBy: 'bridge' }));
    log.access(entry({ status: 200, servedBy: 'static' }));
    const [bad, good] = out.text().split('\n');
    expect(bad).toContain(`${ESC}31m`); // red 5xx
    expect(good).toContain(`${ESC}32m200`); // green 2xx
    expect(good).toContain(`${ESC}34mstatic`);
  });

  it('PHP stderr of a long request is not held back forever; --quiet shows it at once', async () => {
    const out = sink();
    const log = textLogger(out.stream, sink().stream, { color: false, holdStderrMs: 20 });
    log.phpStderr('GET', '/stream.php', 'PHP Notice: still running');
    await new Promise((r) => setTimeout(r, 50));
    expect(out.text()).toBe('php stderr [GET /stream.php]: PHP Notice: still running\n');

    const err = sink();
    const quiet = textLogger(sink().stream, err.stream, { color: false, access: false });
    quiet.phpStderr('GET', '/x', 'line');
    expect(err.text()).toBe('php stderr [GET /x]: line\n');
  });
});

describe('jsonLogger', () => {
  it('one JSON object per line; PHP stderr inside its access record', () => {
    const out = sink();
    const err = sink();
    const log = jsonLogger(out.stream, err.stream);
    log.phpStderr('GET', '/hello', 'PHP Warning: oops');
    log.access(entry());
    log.error('it broke', new Error('boom'));
    const rec = JSON.parse(out.text()) as Record<string, unknown>;
    expect(rec).toMatchObject({ type: 'access', method: 'GET', url: '/hello', status: 200, bytes: 45, ms: 1.23, servedBy: 'php→app', phpStderr: ['PHP Warning: oops'] });
    const e = JSON.parse(err.text()) as Record<string, unknown>;
    expect(e).toMatchObject({ type: 'log', level: 'error', msg: 'it broke' });
    expect(String(e.error)).toContain('Error: boom');
  });
});
