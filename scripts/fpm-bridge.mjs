#!/usr/bin/env node
// The fpm-bridge command. tsx's loader makes TypeScript (ours and the user's --app) load with no build
// step; it strips types with esbuild and keeps source maps, so stack traces point at .ts lines.
// Both halves: the ESM hooks, and the CommonJS ones for a .ts app in a folder with no
// "type": "module" (Node 20 loads it through require, which fails without them).
import { register as registerCjs } from 'tsx/cjs/api';
import { register } from 'tsx/esm/api';

register();
registerCjs();
await import('../src/cli/main.ts');
