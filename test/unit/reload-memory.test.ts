// --watch keeps every reloaded copy of the app's modules (ESM cannot unload them): the bound is
// measured (scripts/measure-reload-memory.ts) and the operator is told every 50 reloads (issue 15).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startAppReloader } from '../../src/app/app-reloader.ts';
import { silentLogger } from '../../src/log/logger.ts';

it('every 50th reload says how much memory the kept copies cost and that a restart gives it back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-reload-note-'));
  const warnings: string[] = [];
  try {
    const file = join(dir, 'app.mjs');
    writeFileSync(file, 'export default (req, res) => res.end("hi");\n');
    const reloader = await startAppReloader(file, { logger: { ...silentLogger, warn: (m) => warnings.push(m) }, watch: false });
    for (let i = 0; i < 50; i++) expect(await reloader.reload('test')).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^50 reloads so far: each keeps its copy of the app's own modules in memory .*RSS has grown -?\d+ MB since start\. Restart fpm-bridge to give it back\.$/);
    reloader.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
