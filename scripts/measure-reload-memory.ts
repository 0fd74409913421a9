// How much memory each --watch reload keeps: ESM modules cannot be unloaded, so every reload leaves
// its copy of the app's own modules in memory. Loads the given app (default: a generated 200 KB
// module) N times through the same importer as --watch, and prints RSS and heap growth per reload:
//   node --expose-gc --import tsx scripts/measure-reload-memory.ts [reloads] [app file]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAppReloader } from '../src/app/app-reloader.ts';
import { silentLogger } from '../src/log/logger.ts';

const reloads = Number(process.argv[2] ?? 80);
let file = process.argv[3];
let dir: string | undefined;
if (!file) {
  dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-reload-mem-'));
  const rows = Array.from({ length: 4000 }, (_, i) => `  { id: ${i}, name: 'item-${i}-' + 'x'.repeat(8), f: (a) => a * ${i} + ${i % 7} },`);
  file = join(dir, 'app.mjs');
  writeFileSync(file, `export const table = [\n${rows.join('\n')}\n];\nexport default function app(req, res) { res.end('n=' + table.length); }\n`);
}
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
const reloader = await startAppReloader(file, { logger: silentLogger, watch: false });
gc();
const rss0 = process.memoryUsage.rss();
const heap0 = process.memoryUsage().heapUsed;
for (let i = 1; i <= reloads; i++) {
  if (!(await reloader.reload('measure'))) throw new Error(`reload ${i} failed`);
  if (i % 20 === 0 || i === reloads) {
    gc();
    const rss = process.memoryUsage.rss();
    const heap = process.memoryUsage().heapUsed;
    console.log(`${i} reloads: RSS ${mb(rss0)} -> ${mb(rss)} MB (+${mb(rss - rss0)}), heap +${mb(heap - heap0)} MB, ${((rss - rss0) / i / 1024).toFixed(0)} KiB per reload`);
  }
}
reloader.close();
if (dir) rmSync(dir, { recursive: true, force: true });
