#!/usr/bin/env node
// The fpm-bridge command. tsx's loader makes TypeScript (ours and the user's --app) load with no build
// step; it strips types with esbuild and keeps source maps, so stack traces point at .ts lines.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
