// The slow-client check of scripts/bench: a 1 GiB PHP response read at a fixed, low rate through a raw
// socket. A front that streams with backpressure keeps its memory flat; one that reads php-fpm as fast
// as PHP writes has to hold the difference somewhere (RAM, or, for nginx, a temp file).
import { connect } from 'node:net';
import { memoryKiB, sleep } from './bench-procs.ts';

export interface SlowClientOptions {
  port: number;
  /** The front's pid, whose RSS is sampled. */
  pid: number;
  path: string;
  bytesPerSecond: number;
  seconds: number;
}

export interface SlowClientResult {
  status: string;
  bytesRead: number;
  rssBeforeKiB: number;
  rssPeakKiB: number;
}

export async function slowClient(o: SlowClientOptions): Promise<SlowClientResult> {
  const rssBeforeKiB = memoryKiB(o.pid)?.rss ?? NaN;
  let rssPeakKiB = rssBeforeKiB;
  const sampler = setInterval(() => {
    rssPeakKiB = Math.max(rssPeakKiB, memoryKiB(o.pid)?.rss ?? 0);
  }, 50);

  const socket = connect({ host: '127.0.0.1', port: o.port });
  socket.write(`GET ${o.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  let bytesRead = 0;
  let head = '';
  const started = Date.now();
  socket.on('data', (chunk: Buffer) => {
    if (bytesRead === 0 || head.length < 200) head += chunk.subarray(0, 200).toString('latin1');
    bytesRead += chunk.length;
    // Ahead of the allowed rate: stop reading (the kernel buffers fill, TCP pushes back on the front)
    // until the schedule catches up.
    const aheadMs = (bytesRead / o.bytesPerSecond) * 1000 - (Date.now() - started);
    if (aheadMs > 0) {
      socket.pause();
      setTimeout(() => socket.resume(), aheadMs);
    }
  });
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('error', () => {});

  await Promise.race([sleep(o.seconds * 1000), closed]);
  socket.destroy();
  // The front may grow for a moment after the client left (it aborts the PHP request then).
  await sleep(300);
  clearInterval(sampler);
  rssPeakKiB = Math.max(rssPeakKiB, memoryKiB(o.pid)?.rss ?? 0);
  return { status: head.split('\r\n')[0] ?? '', bytesRead, rssBeforeKiB, rssPeakKiB };
}
