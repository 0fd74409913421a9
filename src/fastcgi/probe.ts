import { connect } from 'node:net';
import { connectOptions, parseAddress } from './address.ts';

/** Tries one connection to a php-fpm the user runs; returns the errno text when it fails. */
export function probeFpm(address: string, timeoutMs = 2_000): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect(connectOptions(parseAddress(address)));
    const done = (result: string | null) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done('connect timed out'));
    socket.once('connect', () => done(null));
    socket.once('error', (err: NodeJS.ErrnoException) => done(`${err.code ?? ''} ${err.message}`.trim()));
  });
}
