#!/usr/bin/env node
// The fpm-bridge command. tsx's loader makes TypeScript (ours and the user's --app) load with no build
// step; it strips types with esbuild and keeps source maps, so stack traces point at .ts lines.
// Both halves: the ESM hooks, and the CommonJS ones for a .ts app in a folder with no
// "type": "module" (Node 20 loads it through require, which fails without them).
import { mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register as registerCjs } from 'tsx/cjs/api';
import { register } from 'tsx/esm/api';

// tsx caches in the temp dir, the spawned php-fpm and request bodies past 1 MiB live there: an
// unwritable one is a plain message here, not a stack from the loader.
try {
  rmdirSync(mkdtempSync(join(tmpdir(), 'fpm-bridge-check-')));
} catch (err) {
  process.stderr.write(`fpm-bridge: the temp directory ${tmpdir()} is not writable (${err.code ?? err.message}); set TMPDIR to a writable directory\n`);
  process.exit(1);
}

register();
registerCjs();
await import('../src/cli/main.ts');
