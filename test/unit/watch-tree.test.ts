import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { watchTree, type TreeWatcher } from '../../src/app/watch-tree.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let dir: string;
let watcher: TreeWatcher | undefined;
afterEach(() => {
  watcher?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('watchTree', () => {
  it('reports module files anywhere below, new folders included; skips node_modules, vendor, dot-folders, ignored paths and non-module files', async () => {
    dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-tree-'));
    for (const d of ['src/routes', 'node_modules/pkg', 'vendor/x', '.git', 'public']) mkdirSync(join(dir, d), { recursive: true });
    const seen: string[] = [];
    watcher = watchTree(dir, (f) => seen.push(f.slice(dir.length + 1)), [join(dir, 'public')]);
    expect(watcher.directories).toBe(3); // dir, src, src/routes

    writeFileSync(join(dir, 'src/routes/a.ts'), 'x');
    writeFileSync(join(dir, 'node_modules/pkg/index.js'), 'x');
    writeFileSync(join(dir, 'vendor/x/a.js'), 'x');
    writeFileSync(join(dir, '.git/index.js'), 'x');
    writeFileSync(join(dir, 'public/app.js'), 'x');
    writeFileSync(join(dir, 'style.css'), 'x');
    mkdirSync(join(dir, 'lib'));
    await sleep(100);
    writeFileSync(join(dir, 'lib/b.mts'), 'x');
    await sleep(200);
    expect([...new Set(seen)].sort()).toEqual(['lib/b.mts', 'src/routes/a.ts']);

    rmSync(join(dir, 'lib'), { recursive: true });
    await sleep(100);
    expect(watcher.directories).toBe(3);
  });
});
