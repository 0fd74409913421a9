import { STATUS_CODES, type ServerResponse } from 'node:http';

const cut = new WeakMap<ServerResponse, number>();

/**
 * The status a response failed with after its head had gone out (its connection was cut), or
 * undefined. The access log records that instead of the status on the wire, so a broken download is
 * never counted as a 200 (nginx logs the 200 and puts the failure only in its error log).
 */
export function failedStatus(res: ServerResponse): number | undefined {
  return cut.get(res);
}

/**
 * A short page for an error the bridge itself answers (nginx-style). Once a response started there is
 * no way to report an error in HTTP/1.1 but to cut the connection: that, and `status` is remembered
 * for the log (failedStatus).
 */
export function sendError(res: ServerResponse, status: number, detail?: string, headers?: Record<string, string>): void {
  if (res.headersSent) {
    if (!res.writableFinished && !cut.has(res)) cut.set(res, status);
    res.destroy();
    return;
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  const title = `${status} ${STATUS_CODES[status] ?? ''}`.trim();
  const body = `<!DOCTYPE html>\n<html><head><title>${title}</title></head>\n<body><h1>${title}</h1>${
    detail ? `<p>${escapeHtml(detail)}</p>` : ''
  }<hr><p>fpm-bridge</p></body></html>\n`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
