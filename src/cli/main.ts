import { statSync } from 'node:fs';
import { connect } from 'node:net';
import { loadApp } from '../app/load-app.ts';
import type { NodeListener } from '../app/app-module.ts';
import { createBridge } from '../bridge/create-bridge.ts';
import { connectOptions, formatAddress, parseAddress } from '../fastcgi/address.ts';
import { listen } from '../http/listen.ts';
import { silentLogger } from '../log/logger.ts';
import { textLogger } from '../log/text-logger.ts';
import { VERSION } from '../version.ts';
import { parseArgs, UsageError, type CliConfig } from './args.ts';
import { HELP, USAGE } from './help.ts';

/** Exit codes scripts can rely on. */
const EXIT = { ok: 0, startup: 1, usage: 2 } as const;

async function main(argv: readonly string[]): Promise<number> {
  let config: CliConfig;
  try {
    config = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`fpm-bridge: ${err.message}\n${USAGE}\n(see fpm-bridge --help)\n`);
    return EXIT.usage;
  }
  if (config.help) {
    process.stdout.write(HELP + '\n');
    return EXIT.ok;
  }
  if (config.version) {
    process.stdout.write(`fpm-bridge ${VERSION}\n`);
    return EXIT.ok;
  }
  const logger = textLogger();
  const fail = (message: string): number => {
    process.stderr.write(`fpm-bridge: ${message}\n`);
    return EXIT.startup;
  };

  if (!isDirectory(config.root)) return fail(`--root ${config.root} is not a directory`);
  let app: NodeListener | undefined;
  if (config.app) {
    try {
      app = await loadApp(config.app);
    } catch (err) {
      return fail(`${(err as Error).message}\n${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).stack : ''}`);
    }
  }
  const bridge = createBridge({ ...config, app, logger: config.quiet ? { ...logger, access: silentLogger.access } : logger });
  let listening;
  try {
    listening = await listen(bridge.handle, config.listen);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EADDRINUSE' ? ' (something else listens there: pick another with --listen)' : '';
    await bridge.close();
    return fail(`cannot listen on ${config.listen.host}:${config.listen.port}: ${e.code ?? e.message}${hint}`);
  }
  const probe = await probeFpm(config.fpm);
  logger.info(
    [
      `fpm-bridge ${VERSION} listening on ${listening.url}`,
      `  root  ${config.root}${config.frontController ? `  (front controller ${config.frontController})` : ''}`,
      `  php   php-fpm at ${formatAddress(parseAddress(config.fpm))}${probe ? `  — NOT REACHABLE: ${probe}` : ''}`,
      `  app   ${config.app ?? '(none: plain PHP front)'}`,
    ].join('\n'),
  );
  if (probe) logger.warn(`php-fpm at ${config.fpm} is not reachable (${probe}); PHP requests get 502 until it is`);

  return new Promise((resolve) => {
    const stop = (signal: string) => {
      logger.info(`${signal}: stopping`);
      void listening.close().then(() => bridge.close()).then(() => resolve(EXIT.ok));
      // A second signal means now.
      process.once(signal, () => resolve(EXIT.ok));
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Tries one connection to php-fpm; returns the errno text when it fails. */
function probeFpm(address: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect(connectOptions(parseAddress(address)));
    const done = (result: string | null) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(2000, () => done('connect timed out'));
    socket.once('connect', () => done(null));
    socket.once('error', (err: NodeJS.ErrnoException) => done(`${err.code ?? ''} ${err.message}`.trim()));
  });
}

// The process never dies of a request: anything that escapes is logged, and the server goes on.
process.on('uncaughtException', (err) => process.stderr.write(`fpm-bridge: uncaught error (server continues): ${err.stack ?? err}\n`));
process.on('unhandledRejection', (err) => process.stderr.write(`fpm-bridge: unhandled rejection (server continues): ${err instanceof Error ? err.stack : String(err)}\n`));

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fpm-bridge: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(EXIT.startup);
  },
);
