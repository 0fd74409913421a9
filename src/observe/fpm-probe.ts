import { parseAddress } from '../fastcgi/address.ts';
import { FcgiClient } from '../fastcgi/client.ts';
import { FcgiError } from '../fastcgi/errors.ts';
import { encodeParams } from '../fastcgi/name-value.ts';
import { probeFpm } from '../fastcgi/probe.ts';

/**
 * One GET of a php-fpm built-in page (ping.path, pm.status_path) over a connection of its own, closed
 * after: a kept-alive connection would hold a php-fpm worker between probes. Resolves with the
 * status and body, or rejects with the FastCGI error (refused, reset, timeout).
 */
export function fpmGet(address: string, path: string, query = '', timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  const client = new FcgiClient({
    address: parseAddress(address),
    maxConnections: 1,
    maxQueue: 0,
    connectTimeoutMs: timeoutMs,
    responseTimeoutMs: timeoutMs,
    idleTimeoutMs: 1,
    queueTimeoutMs: timeoutMs,
  });
  const params = encodeParams([
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['REQUEST_METHOD', 'GET'],
    ['SCRIPT_NAME', path],
    ['SCRIPT_FILENAME', path],
    ['REQUEST_URI', query ? `${path}?${query}` : path],
    ['QUERY_STRING', query],
    ['SERVER_SOFTWARE', 'fpm-bridge'],
  ]);
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const chunks: Buffer[] = [];
    client.request(
      params,
      null,
      {
        onStdout: (data) => {
          chunks.push(Buffer.from(data));
          return true;
        },
        onStderr: () => {},
        onEnd: () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const split = text.indexOf('\r\n\r\n');
          const head = split < 0 ? '' : text.slice(0, split);
          const status = Number(/^status:\s*(\d{3})/im.exec(head)?.[1] ?? 200);
          resolve({ status, body: split < 0 ? text : text.slice(split + 4) });
        },
        onError: (err) => reject(err),
      },
      true,
    );
  }).finally(() => void client.close());
}

/**
 * Does php-fpm answer at `address`? Its socket must accept a connection; with its ping.path, a worker
 * must then answer the ping with 200. A ping that waits past the timeout while the socket accepts
 * means every worker is busy (or held by kept-alive connections): busy is up, not down. Resolves
 * with null, or why not.
 */
export async function fpmAnswers(address: string, pingPath: string | undefined, timeoutMs = 2_000): Promise<string | null> {
  const refused = await probeFpm(address, timeoutMs);
  if (refused || !pingPath) return refused;
  try {
    const r = await fpmGet(address, pingPath, '', timeoutMs);
    return r.status === 200 ? null : `ping ${pingPath} answered ${r.status}`;
  } catch (err) {
    if (err instanceof FcgiError && err.kind === 'response-timeout') return null;
    return `ping ${pingPath}: ${(err as Error).message}`;
  }
}
