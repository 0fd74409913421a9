// Fastify through its Node request handler: fastify never listens; the bridge hands each request to
// its server's 'request' listener, as Fastify's serverless guide does (docs/Guides/Serverless.md,
// "Google Cloud Functions": `await fastify.ready(); fastify.server.emit('request', req, res)`).
// GET /hello greets, POST /hello echoes the body, anything else gets Fastify's 404, which hands the
// request back to the bridge: the client then gets PHP's 404.
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify from 'fastify';

// The bridge enforces --max-body already; Fastify's own 1 MB default would cut it shorter.
const app = Fastify({ bodyLimit: 64 * 1024 * 1024 });

// Any content type, as raw bytes (Fastify parses only JSON and text by default; 415 otherwise).
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

app.get('/hello', async (_req, reply) => reply.type('text/plain; charset=utf-8').send('Hello from Fastify\n'));

app.post('/hello', async (req, reply) =>
  reply.type(req.headers['content-type'] ?? 'application/octet-stream').send(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)),
);

await app.ready();

export default function listener(req: IncomingMessage, res: ServerResponse): void {
  app.server.emit('request', req, res);
}
