// req.headers built from rawHeaders, for requests Node's HTTP/1 parser never saw (h2 streams, the
// shadow's replay): checked against what that parser builds from the same header lines.
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { headersFromRaw } from '../../src/http/raw-headers.ts';

/** What Node's own parser makes of these header lines: its req.headers and req.rawHeaders. */
async function parsedByNode(lines: string[]): Promise<IncomingMessage> {
  const server = createServer((req, res) => {
    res.end();
    server.emit('seen', req);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(`GET / HTTP/1.1\r\n${lines.map((l) => `${l}\r\n`).join('')}Connection: close\r\n\r\n`);
  const [req] = (await once(server, 'seen')) as [IncomingMessage];
  socket.destroy();
  server.close();
  return req;
}

describe('headersFromRaw', () => {
  it('joins repeats as Node does: a list with ", ", cookies with "; ", set-cookie as an array, one-value headers keep the first', async () => {
    const lines = [
      'Host: a.test',
      'Accept: text/html',
      'accept: application/json',
      'Cookie: a=1',
      'COOKIE: b=2',
      'Set-Cookie: x=1',
      'set-cookie: y=2',
      'User-Agent: first',
      'User-Agent: second',
      'Referer: /one',
      'Referer: /two',
      'Authorization: Basic one',
      'Authorization: Basic two',
      'If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT',
      'If-Modified-Since: Tue, 02 Jan 2024 00:00:00 GMT',
      'X-Custom: 1',
      'x-custom: 2',
      'Content-Type: text/plain',
      'Content-Type: text/html',
    ];
    const req = await parsedByNode(lines);
    expect(headersFromRaw(req.rawHeaders)).toEqual(req.headers);
  });

  it('keeps an empty value, and the names in lower case', async () => {
    const req = await parsedByNode(['Host: a.test', 'X-Empty:', 'X-Mixed-Case: v']);
    expect(headersFromRaw(req.rawHeaders)).toEqual(req.headers);
    expect(headersFromRaw(['X-A', '1'])).toEqual({ 'x-a': '1' });
  });
});
