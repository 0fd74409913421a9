// What the terminal shows when the app fails to load: the app's own frames, not the loader's, whether
// the bridge runs from its sources (src/) or as the built command (dist/).
import { describe, expect, it } from 'vitest';
import { describeLoadError } from '../../src/app/app-reloader.ts';

function failed(stack: string): Error {
  const cause = new Error('the basket is empty');
  cause.stack = stack;
  return new Error('could not load the app', { cause });
}

describe('describeLoadError', () => {
  for (const tree of ['src', 'dist', 'dist/bin']) {
    const ext = tree === 'src' ? 'ts' : 'js';
    // The command's bundle: the loader's frames are in main.js or a chunk beside it.
    const [loadApp, reloader] = tree === 'dist/bin' ? ['main.js', 'chunk-B2SK5VCX.js'] : [`app/load-app.${ext}`, `app/app-reloader.${ext}`];
    it(`keeps the app's frames and drops the loader's (${tree}/)`, () => {
      const { text } = describeLoadError(
        failed(
          [
            'Error: the basket is empty',
            '    at total (/home/me/app/new/app.ts:4:33)',
            '    at file:///home/me/app/new/app.ts:9:1',
            `    at loadApp (/usr/lib/node_modules/fpm-bridge/${tree}/${loadApp}:31:20)`,
            `    at reload (/usr/lib/node_modules/fpm-bridge/${tree}/${reloader}:88:5)`,
            '    at ModuleJob.run (node:internal/modules/esm/module_job:234:25)',
          ].join('\n'),
        ),
      );
      expect(text).toContain('app.ts:4:33');
      expect(text).toContain('app.ts:9:1');
      expect(text).not.toMatch(/load-app|app-reloader|main\.js|chunk-|node:internal/);
    });
  }
});
