// Hono, fetch style: the bridge sees an object with fetch(request) and adapts it with
// @hono/node-server. GET /hello greets, POST /hello echoes the body, anything else gets Hono's 404,
// which hands the request back to the bridge: the client then gets PHP's 404.
import { Hono } from 'hono';

const app = new Hono();

app.get('/hello', (c) => c.text('Hello from Hono\n'));

app.post('/hello', async (c) => {
  const body = await c.req.arrayBuffer();
  return c.body(body, 200, { 'content-type': c.req.header('content-type') ?? 'application/octet-stream' });
});

// `export default app` works too (it has fetch); this spells out what the bridge uses.
export default { fetch: app.fetch };
