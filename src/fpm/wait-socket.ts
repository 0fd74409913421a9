import { connect } from 'node:net';

/** One connection attempt (a unix socket path, or host and port): true when something accepts it. */
export function canConnect(target: { path: string } | { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(target);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * Polls until the socket accepts. php-fpm gives no ready signal on a pipe (its "ready to handle
 * connections" goes to the log), and a connect is the test that matters to the bridge anyway.
 * Resolves to null when ready, or to why not: `gone` settles when the process died (its text is
 * the reason), or the timeout passed.
 */
export async function waitForSocket(path: string, timeoutMs: number, gone: Promise<string>): Promise<string | null> {
  let died: string | null = null;
  void gone.then((why) => (died = why));
  const deadline = Date.now() + timeoutMs;
  for (let wait = 10; ; wait = Math.min(wait * 2, 100)) {
    if (died !== null) return died;
    if (await canConnect({ path })) return null;
    if (died !== null) return died;
    if (Date.now() >= deadline) return `it did not accept connections on ${path} within ${timeoutMs / 1000} s`;
    await new Promise((r) => setTimeout(r, wait));
  }
}
