// node-fastcgi ships no types; this is the part fpm-bridge uses.
declare module 'node-fastcgi' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  import type { Server } from 'node:net';
  export function createServer(responder: (req: IncomingMessage, res: ServerResponse) => void): Server;
}
