import type { IncomingMessage, ServerResponse } from 'node:http';
import { listen, type Listening, type ServerLimits } from '../http/listen.ts';
import type { TlsCredentials } from '../http/listen-secure.ts';
import { redirectToHttps } from '../http/redirect-https.ts';
import type { ListenSpec } from './args.ts';

/**
 * Opens every `--listen`: HTTPS ones with `tls`, plain ones with the bridge, or with a redirect to the
 * first HTTPS listener under --redirect-https. On a failure the ones already open are closed again.
 */
export async function listenAll(
  specs: readonly ListenSpec[],
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  limits: ServerLimits,
  tls: TlsCredentials | undefined,
  redirectHttps: boolean,
): Promise<Listening[]> {
  const open: Listening[] = [];
  // HTTPS first, so a redirect knows the port (port 0 picks one).
  const order = [...specs.filter((s) => s.tls), ...specs.filter((s) => !s.tls)];
  try {
    for (const spec of order) {
      const httpsPort = open.find((l) => l.url.startsWith('https:'))?.port;
      const h = !spec.tls && redirectHttps && httpsPort !== undefined ? redirectToHttps(httpsPort) : handler;
      open.push(await (spec.tls && tls ? listenSecureLazily(h, spec, limits, tls) : listen(h, spec, limits)).catch((err: NodeJS.ErrnoException) => {
        throw Object.assign(err, { spec });
      }));
    }
  } catch (err) {
    await Promise.all(open.map((l) => l.close()));
    throw err;
  }
  // Back in the order given: the first is the one the banner shows first.
  return specs.map((s) => open[order.indexOf(s)]!);
}

/**
 * HTTPS listeners load node:http2 and node:tls (listen-secure.ts) only when there is one: about 10 ms
 * of a plain HTTP start (measured on Node 20).
 */
async function listenSecureLazily(...args: Parameters<typeof import('../http/listen-secure.ts').listenSecure>): Promise<Listening> {
  const { listenSecure } = await import('../http/listen-secure.ts');
  return listenSecure(...args);
}
