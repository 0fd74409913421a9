#!/usr/bin/env node
// fpm-bridge from the sources, for contributors (tests, scripts/demo): no build step. tsx's loader
// runs our TypeScript, and with it a user's .ts app. The published command (scripts/fpm-bridge) runs
// the compiled dist/ instead and loads tsx only for a TypeScript app (src/app/load-app.ts).
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
