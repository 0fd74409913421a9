/**
 * fpm-bridge's programmatic API: embed the bridge in your own server, or start one.
 *
 *   import { createBridge } from 'fpm-bridge';
 *   const bridge = createBridge({ fpm: '/run/php/php8.2-fpm.sock', root: 'public', app });
 *   http.createServer(bridge.handle).listen(8080);
 */
import { createBridge, type Bridge } from './bridge/create-bridge.ts';
import { DEFAULTS, type BridgeOptions } from './bridge/options.ts';
import { listen as listenOn, parseListen, type Listening } from './http/listen.ts';

export { createBridge, type Bridge } from './bridge/create-bridge.ts';
export type { BridgeOptions } from './bridge/options.ts';
export type { AppExport, FetchApp, NodeListener } from './app/app-module.ts';
export type { Logger, AccessEntry, ServedBy } from './log/logger.ts';
export { textLogger } from './log/text-logger.ts';

/** Creates a bridge and serves it on `listen` (`[host:]port`, default 127.0.0.1:8080). */
export async function listen(options: BridgeOptions & { listen?: string }): Promise<Listening & { bridge: Bridge }> {
  const bridge = createBridge(options);
  const listening = await listenOn(bridge.handle, parseListen(options.listen ?? '127.0.0.1:8080'), { ...options, maxBody: options.maxBody ?? DEFAULTS.maxBody });
  return {
    ...listening,
    bridge,
    close: async () => {
      await listening.close();
      await bridge.close();
    },
  };
}
