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
import type { TlsCredentials } from './http/listen-secure.ts';

export { createBridge, type Bridge } from './bridge/create-bridge.ts';
export type { BridgeOptions } from './bridge/options.ts';
export type { AppExport, FetchApp, NodeListener } from './app/app-module.ts';
export type { Logger, AccessEntry, ServedBy } from './log/logger.ts';
export { textLogger } from './log/text-logger.ts';

/** Creates a bridge and serves it on `listen` (`[host:]port`, default 127.0.0.1:8080); HTTPS and HTTP/2 with `tls`. */
export async function listen(options: BridgeOptions & { listen?: string; tls?: TlsCredentials }): Promise<Listening & { bridge: Bridge }> {
  const bridge = createBridge(options);
  const at = parseListen(options.listen ?? '127.0.0.1:8080');
  const limits = { ...options, maxBody: options.maxBody ?? DEFAULTS.maxBody };
  // node:http2 and node:tls are loaded only for TLS.
  const listening = await (options.tls ? (await import('./http/listen-secure.ts')).listenSecure(bridge.handle, at, limits, options.tls) : listenOn(bridge.handle, at, limits));
  return {
    ...listening,
    bridge,
    close: async () => {
      await listening.close();
      await bridge.close();
    },
  };
}
