import type { NetConnectOpts } from 'node:net';

/**
 * Where php-fpm listens, as its `listen` directive spells it: a unix socket path (`/run/php/php8.2-fpm.sock`,
 * optionally prefixed `unix:`), `host:port`, `[v6]:port`, or a bare port (127.0.0.1).
 */
export type FcgiAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export function parseAddress(text: string): FcgiAddress {
  // An explicit `unix:` prefix always means a socket path, relative ones too (nginx `fastcgi_pass
  // unix:php.sock`); without it, a path is told from host:port by its slash.
  if (text.startsWith('unix:') && text.length > 5) return { kind: 'unix', path: text.slice(5) };
  if (text.includes('/')) return { kind: 'unix', path: text };
  // A host name has no brackets: `[]:9000` or `[bad]:9000` must not pass as the host "[]".
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`not a php-fpm address: "${text}" (want a unix socket path, host:port or a port)`);
  }
  return { kind: 'tcp', host: m[1] || m[2] || '127.0.0.1', port };
}

export function formatAddress(a: FcgiAddress): string {
  if (a.kind === 'unix') return `unix:${a.path}`;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export function connectOptions(a: FcgiAddress): NetConnectOpts {
  return a.kind === 'unix' ? { path: a.path } : { host: a.host, port: a.port, noDelay: true };
}
