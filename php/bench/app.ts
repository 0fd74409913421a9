// The bench's app: answers every URL it gets with a fixed 200, so the fallback cases measure the fronts,
// not the app. Used by fpm-bridge (--app) and by the bench's bare Node server (the ceiling).
import type { IncomingMessage, ServerResponse } from 'node:http';

const BODY = 'hello from app';
/** PHP's hello.php, as the app would port it: the shadow case compares the two and finds them equal. */
const PHP_HELLO = 'Hello from PHP';

export default function app(req: IncomingMessage, res: ServerResponse): void {
  // A route with real work: 1 ms of CPU per request (the --workers case).
  if (req.url === '/app/cpu') {
    const end = performance.now() + 1;
    while (performance.now() < end);
  }
  if (req.url === '/hello.php') {
    res.writeHead(200, { 'content-type': 'text/html; charset=UTF-8', 'content-length': Buffer.byteLength(PHP_HELLO) });
    res.end(PHP_HELLO);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(BODY) });
  res.end(BODY);
}
