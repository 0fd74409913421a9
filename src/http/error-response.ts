import { STATUS_CODES, type ServerResponse } from 'node:http';

/** A short page for an error the bridge itself answers (nginx-style), unless a response already started. */
export function sendError(res: ServerResponse, status: number, detail?: string, headers?: Record<string, string>): void {
  if (res.headersSent) {
    // Mid-body there is no way to report an error in HTTP/1.1 but to cut the connection.
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
