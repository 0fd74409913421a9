// The bare Node `http` server of scripts/bench: the bench app (php/bench/app.ts) with nothing in front.
// It is the ceiling for a Node front, and the Node backend behind the nginx fallback setups.
//   node --import tsx scripts/bench-node-hello.ts <port> <app module>
import { createServer, type RequestListener } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [port, appFile] = process.argv.slice(2);
if (!port || !appFile) {
  process.stderr.write('usage: bench-node-hello.ts <port> <app module>\n');
  process.exit(2);
}
const app = ((await import(pathToFileURL(resolve(appFile)).href)) as { default: RequestListener }).default;
createServer(app).listen(Number(port), '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
