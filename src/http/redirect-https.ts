import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from './error-response.ts';

/**
 * `--redirect-https`: a plain HTTP listener that sends every request to the same URL over HTTPS, on
 * `httpsPort`, with 308 (method and body kept, RFC 9110 15.4.9), as Caddy does. The host comes from
 * the Host header, which is checked: a redirect must not carry anything but a host name.
 */
export function redirectToHttps(httpsPort: number): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    req.resume();
    const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/.exec(req.headers.host ?? '');
    const target = req.url ?? '/';
    if (!m || !target.startsWith('/')) {
      sendError(res, 400, 'a request to be redirected to HTTPS needs a Host header and a path');
      return;
    }
    const location = `https://${m[1]}${httpsPort === 443 ? '' : `:${httpsPort}`}${target}`;
    res.writeHead(308, { location, 'content-length': 0 });
    res.end();
  };
}
