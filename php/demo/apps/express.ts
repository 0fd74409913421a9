// Express: an Express app is a (req, res) listener, so it is the default export as it is.
// GET /hello greets, POST /hello echoes the body, anything else gets Express's own 404, which hands
// the request back to the bridge: the client then gets PHP's 404.
import express from 'express';

const app = express();

app.get('/hello', (_req, res) => {
  res.type('text/plain').send('Hello from Express\n');
});

// Any content type, as raw bytes: the body PHP saw, replayed.
app.post('/hello', express.raw({ type: () => true, limit: '64mb' }), (req, res) => {
  const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  res.type(req.get('content-type') ?? 'application/octet-stream').send(body);
});

export default app;
