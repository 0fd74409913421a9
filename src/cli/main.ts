import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { claimsOf } from '../app/app-claims.ts';
import { loadApp } from '../app/load-app.ts';
import { parsePattern } from '../route/claim-pattern.ts';
import type { NodeListener } from '../app/app-module.ts';
import { describeLoadError, startAppReloader, type AppReloader } from '../app/app-reloader.ts';
import { jsonLogger } from '../log/json-logger.ts';
import { openBrowser } from './open-browser.ts';
import { createBridge } from '../bridge/create-bridge.ts';
import { checkOptions, OptionsError } from '../bridge/options.ts';
import { FpmStartError } from '../fpm/errors.ts';
import type { FastCGIAppServer } from '../http/fastcgi-app-server.ts';
import { runApp } from '../app/run-app.ts';
import type { ListenAddress, Listening } from '../http/listen.ts';
import type { TlsCredentials } from '../http/listen-secure.ts';
import { sweepStaleSpoolDirs } from '../http/spool.ts';
import { rateLimitErrors } from '../log/rate-limit.ts';
import { silentLogger } from '../log/logger.ts';
import { textLogger } from '../log/text-logger.ts';
import { VERSION } from '../version.ts';
import { parseArgs, UsageError, type CliConfig, type ListenSpec } from './args.ts';
import { banner } from './banner.ts';
import { HELP, USAGE } from './help.ts';
import { withDevErrorPages } from '../app/dev-error-page.ts';
import { describeAmbiguity, describeDetection, detectProject } from './detect-project.ts';
import { phpEnvironment, readEnvFiles } from './env-files.ts';
import { INIT_USAGE, runInit } from './init.ts';
import { startPhpBackend, type PhpBackend } from './php-backend.ts';
import { captureStopSignal, shutdown, STOP_SIGNALS, stopSignal } from './shutdown.ts';
import type { Admin } from './admin.ts';
import { runPrimary, workerBackend, workerReady, workerRetired, workerShare } from './workers.ts';
import { listenAll } from './listeners.ts';
import { startIdleGc } from './idle-gc.ts';
import { trustCommand } from './trust-command.ts';
import { CertFileError, loadCertFiles } from '../tls/cert-files.ts';
import { configDir, TlsSetupError } from '../tls/config-dir.ts';
import { localCredentials } from '../tls/local-ca.ts';

/** Exit codes scripts can rely on. */
const EXIT = { ok: 0, startup: 1, usage: 2 } as const;

async function main(argv: readonly string[]): Promise<number> {
  if ((argv[0] === 'trust' || argv[0] === 'untrust') && argv.length === 1) return trustCommand(argv[0]);
  if (argv[0] === 'init') return init(argv.slice(1));
  if (argv[0] === 'report') return (await import('../report/report-command.ts')).reportCommand(argv.slice(1));
  let config: CliConfig;
  try {
    config = parseArgs(argv);
    // The library's checks, before anything starts: a value the flags let through is still refused.
    checkOptions(config);
  } catch (err) {
    if (!(err instanceof UsageError || err instanceof OptionsError)) throw err;
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
  // With --workers, SIGHUP reloads the workers (the primary's business): only these two stop.
  const share = workerShare();
  const cluster = share !== null || config.workers > 1;
  const stopSignals = cluster ? (['SIGINT', 'SIGTERM'] as const) : STOP_SIGNALS;
  // A worker stops when the primary retires it, never on a signal.
  const firstSignal: Promise<string> = share ? workerRetired() : captureStopSignal(stopSignals);
  // prom-client and the admin pages load only when asked for.
  const admins = config.adminListen ? await import('./admin.ts') : null;
  if (share && admins) admins.answerScrapes();
  // --quiet drops the access lines; PHP's stderr then shows as it comes instead of under them.
  const logger = rateLimitErrors(
    config.logFormat === 'json' ? jsonLogger(undefined, undefined, { access: !config.quiet }) : textLogger(undefined, undefined, { access: !config.quiet }),
  );
  const fail = (message: string): number => {
    process.stderr.write(`fpm-bridge: ${message}\n`);
    return EXIT.startup;
  };

  // A bridge killed with -9 leaves its spool directory behind: the next one removes it.
  const swept = sweepStaleSpoolDirs(tmpdir());
  if (swept.length > 0) logger.info(`removed ${swept.length} stale spool director${swept.length === 1 ? 'y' : 'ies'} of stopped bridges: ${swept.join(', ')}`);
  const flag = (name: string) => config.typed.get(name) ?? `--${name}`;
  if (config.configFile && !config.typed.has('config') && !share) logger.info(`reading ${config.configFile} (flags given here win)`);
  if (!config.rootGiven) {
    // Zero-config: the working directory's shape says where the docroot and front controller are.
    const found = detectProject(process.cwd());
    if (found.kind === 'ambiguous') return fail(describeAmbiguity(found));
    if (found.kind === 'found') {
      config.root = found.root;
      const indexGiven = config.frontController !== undefined;
      if (!indexGiven) config.frontController = found.frontController;
      if (!share) logger.info(describeDetection(found, indexGiven));
    }
  }
  if (!isDirectory(config.root)) return fail(`${flag('root')} ${config.root} is not a directory: give the directory your PHP files are in (e.g. --root public).`);
  if (config.frontController !== undefined) {
    const script = join(resolve(config.root), config.frontController.replace(/^\/+/, ''));
    if (!isFile(script)) return fail(`${flag('index')} ${config.frontController}: no such file: ${script} (the front controller is a path under the root, ${resolve(config.root)})`);
  }
  let envFromFiles: Record<string, string>;
  try {
    envFromFiles = readEnvFiles(config.envFiles);
  } catch (err) {
    return fail((err as Error).message);
  }
  // For the app: process.env, before it is loaded (it may read its config at the top level).
  Object.assign(process.env, envFromFiles);
  // Certificates before php-fpm: a bad --cert or CA directory fails fast, with nothing to stop.
  // With --workers the primary makes the CA (or refuses); the workers then only load it.
  let tls: TlsCredentials | undefined;
  let tlsNote: string | undefined;
  if (config.https) {
    try {
      if (config.cert && config.key) {
        tls = loadCertFiles(config.cert, config.key);
      } else {
        const dir = configDir();
        const local = await localCredentials(dir, config.hosts);
        tls = local;
        if (local.created.ca) tlsNote = `made a local CA in ${dir}: run \`fpm-bridge trust\` once so browsers and curl trust it`;
        else if (local.created.leaf) tlsNote = `new certificate for ${['localhost', ...config.hosts].join(', ')} (until ${local.notAfter.toISOString().slice(0, 10)})`;
      }
    } catch (err) {
      if (err instanceof CertFileError) {
        process.stderr.write(`fpm-bridge: ${err.message}\n`);
        return EXIT.usage;
      }
      if (err instanceof TlsSetupError) return fail(err.message);
      throw err;
    }
  }

  // The ledger is loaded (node:sqlite with it) only when on; a file that cannot be used stops start-up.
  const ledgers = config.ledger ? await import('./ledger-setup.ts') : null;
  let ledgerPages: Record<string, import('../http/admin-server.ts').AdminHandler> = {};
  if (cluster && !share && ledgers && config.ledger) {
    // The primary checks the file once; each worker writes its own batches to it.
    const checked = ledgers.checkLedger(config.ledger);
    if ('error' in checked) return fail(checked.error);
    if ('unavailable' in checked) logger.warn(checked.unavailable);
    else if (config.adminListen) ledgerPages = (await import('../report/report-pages.ts')).ledgerPages(checked.ok);
  }

  if (cluster && !share) {
    // The primary: php-fpm, then the workers; it serves nothing itself.
    let php: PhpBackend;
    try {
      php = await startPhpBackend(config, config.maxBody, logger, phpEnvironment(envFromFiles, config.phpEnv));
    } catch (err) {
      if (err instanceof FpmStartError) return fail(err.message);
      throw err;
    }
    process.on('exit', () => php.killNow());
    let admin: Admin | undefined;
    if (config.adminListen && admins) {
      try {
        admin = await admins.startAdmin(config.adminListen, admins.fpmTargets(config, php.address), null, true, logger, ledgerPages);
      } catch (err) {
        await php.stop();
        return fail(`cannot listen on --admin-listen ${config.adminListen.host}:${config.adminListen.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      void firstSignal.then(() => admin?.close());
    }
    if (tlsNote) logger.info(tlsNote);
    return runPrimary({
      workers: config.workers,
      php,
      logger,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      stop: firstSignal as Promise<NodeJS.Signals>,
      onServing: (url) => {
        logger.info(banner({ url, root: resolve(config.root), frontController: config.frontController, php: php.describe, app: config.app, watch: config.watch, claims: config.claims, order: config.order, shadows: config.shadow, dev: config.dev, xdebug: config.xdebug }));
        if (admin) logger.info(`  admin ${admin.url} (healthz, readyz, metrics${ledgerPages['/ledger'] ? ', ledger' : ''})`);
        if (config.open) openBrowser(preferHttps(url.split('  ')));
      },
    });
  }
  let app: NodeListener | undefined;
  let reloader: AppReloader | undefined;
  let appClaims: string[] = [];
  if (config.app) {
    const file = config.app;
    const onModule = (mod: Record<string, unknown>) => (appClaims = claimsOf(mod, file));
    try {
      if (config.watch) {
        // The docroot's changes are PHP's business: they do not reload the app.
        reloader = await startAppReloader(config.app, { logger, ignore: [config.root], onModule });
        app = reloader.listener;
      } else {
        app = await loadApp(config.app, undefined, onModule);
      }
    } catch (err) {
      // Our own checks (no such file, no default export) in one line; the app's own failure with its stack.
      if (!(err as Error).cause) return fail(`${flag('app')} ${config.app}: ${(err as Error).message}`);
      return fail(`could not load the app ${config.app}:\n${describeLoadError(err).text}`);
    }
  }

  const claims = [...config.claims, ...appClaims];
  for (const c of appClaims) {
    try {
      parsePattern(c);
    } catch (err) {
      process.stderr.write(`fpm-bridge: export const claims in ${config.app}: ${(err as Error).message}\n`);
      return EXIT.usage;
    }
  }

  // Development mode: browsers see the app's errors and failed reloads as a page (JSON clients as JSON).
  if (app && config.dev) app = withDevErrorPages(app, { logger, reload: reloader });

  let ledger: import('../ledger/ledger.ts').Ledger | undefined;
  if (ledgers && config.ledger) {
    const started = ledgers.startLedger(config.ledger, logger, [...claims, ...ledgers.shadowPatterns(config.shadow)]);
    if ('error' in started) return fail(started.error);
    if ('unavailable' in started) {
      if (!share) logger.warn(started.unavailable);
    } else {
      ledger = started.ledger;
      const health = () => started.ledger.health;
      if (config.adminListen && !share) ledgerPages = (await import('../report/report-pages.ts')).ledgerPages(started.file, health);
      // Whatever ends the process from here, the last batch is written (a kill -9 loses at most it).
      const opened = ledger;
      process.on('exit', () => opened.close());
    }
  }

  let php: PhpBackend;
  try {
    php = share ? workerBackend(share) : await startPhpBackend(config, config.maxBody, logger, phpEnvironment(envFromFiles, config.phpEnv));
  } catch (err) {
    if (err instanceof FpmStartError) return fail(err.message);
    throw err;
  }
  // Whatever ends this process from here (process.exit, an error escaping main), php-fpm goes too.
  // (A kill -9 runs nothing of ours: the watchdog in src/fpm/lifeline.ts covers that.)
  process.on('exit', () => php.killNow());

  const bridge = createBridge({
    ...config,
    fpm: php.address,
    fpmConnections: php.connections,
    fpmRestarting: php.restarting,
    app,
    claims,
    logger: config.quiet ? { ...logger, access: silentLogger.access } : logger,
  });
  if (ledger && ledgers) ledgers.attachLedger(ledger, bridge);
  let listeners: Listening[];
  try {
    listeners = await listenAll(config.listens, bridge.handle, config, tls, config.redirectHttps);
  } catch (err) {
    await bridge.close();
    await php.stop();
    return fail(listenError((err as { spec?: ListenSpec }).spec ?? config.listen, err as NodeJS.ErrnoException));
  }
  let fastcgi: FastCGIAppServer | undefined;
  if (config.fastcgiListen && app) {
    const appListener = app;
    try {
      // node-fastcgi is loaded only here: the other starts do without it (measured ~9 MiB RSS, ~0.1 s CPU).
      const { serveAppOverFastCGI } = await import('../http/fastcgi-app-server.ts');
      fastcgi = await serveAppOverFastCGI((req, res) => runApp(appListener, req, res, logger, null), config.fastcgiListen);
    } catch (err) {
      await Promise.all(listeners.map((l) => l.close()));
      await bridge.close();
      await php.stop();
      return fail(`cannot serve the app over FastCGI on ${config.fastcgiListen}: ${(err as Error).message}`);
    }
  }
  let admin: Admin | undefined;
  const metrics = admins ? admins.serveMetricsFrom(bridge, php.address, share ? String(share.slot) : null) : undefined;
  if (metrics && admins && ledger) admins.ledgerMetrics(metrics.registry, () => ledger.health);
  if (config.adminListen && admins && metrics && !share) {
    try {
      admin = await admins.startAdmin(config.adminListen, admins.fpmTargets(config, php.address), metrics.registry, false, logger, ledgerPages);
    } catch (err) {
      await Promise.all(listeners.map((l) => l.close()));
      await bridge.close();
      await php.stop();
      return fail(`cannot listen on --admin-listen ${config.adminListen.host}:${config.adminListen.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const urls = listeners.map((l) => l.url);
  if (share) workerReady(urls.join('  '));
  else {
    if (tlsNote) logger.info(tlsNote);
    logger.info(banner({ url: urls.join('  '), root: resolve(config.root), frontController: config.frontController, php: php.describe, app: config.app, watch: config.watch, claims, order: config.order, shadows: config.shadow, dev: config.dev, xdebug: config.xdebug }));
  }
  if (fastcgi && config.fastcgiListen && !share) {
    const at = config.fastcgiListen;
    logger.info(`  the app over FastCGI on ${at} (for nginx: fastcgi_pass ${at.includes('/') ? 'unix:' : ''}${at};)`);
  }
  if (admin) logger.info(`  admin ${admin.url} (healthz, readyz, metrics${ledgerPages['/ledger'] ? ', ledger' : ''})`);
  if (ledger && !share) logger.info(`  ledger ${ledger.store.file} (fpm-bridge report)`);
  if (config.open && !share) openBrowser(preferHttps(urls));
  // Memory a burst leaves behind (bodies, socket reads) goes back once the process is quiet.
  const idleGc = startIdleGc();

  const signal = await firstSignal;
  idleGc.stop();
  reloader?.close();
  void fastcgi?.close();
  void admin?.close();
  if (!share) logger.info(`${signal}: stopping (send it again to stop at once)`);
  // A second signal means now: php-fpm is killed outright on the way out (the 'exit' hook).
  await Promise.race([shutdown(listeners, bridge, php, config.shutdownTimeoutMs), share ? new Promise(() => {}) : stopSignal(stopSignals)]);
  ledger?.close();
  return EXIT.ok;
}

/** `fpm-bridge init`: exit 0 when written, 1 when it will not (ambiguous tree, file exists), 2 for bad flags. */
function init(argv: readonly string[]): number {
  try {
    for (const line of runInit(argv, process.cwd()).lines) process.stderr.write(`fpm-bridge: ${line}\n`);
    return EXIT.ok;
  } catch (err) {
    process.stderr.write(`fpm-bridge: ${(err as Error).message}\n`);
    if (err instanceof UsageError) {
      process.stderr.write(`${INIT_USAGE}\n`);
      return EXIT.usage;
    }
    return EXIT.startup;
  }
}

/** The URL to open: the HTTPS one when there is one. */
function preferHttps(urls: readonly string[]): string {
  return urls.find((u) => u.startsWith('https:')) ?? urls[0]!;
}

function listenError(listen: ListenAddress, e: NodeJS.ErrnoException): string {
  const at = `${listen.host}:${listen.port}`;
  const fix: Record<string, string> = {
    EADDRINUSE: 'something else listens there: stop it, or pick another port with --listen',
    EACCES: `port ${listen.port} needs privileges: pick one above 1023 with --listen (e.g. --listen 8080)`,
    EADDRNOTAVAIL: `${listen.host} is not an address of this machine: use 127.0.0.1 or 0.0.0.0 in --listen`,
    ENOTFOUND: `${listen.host} does not resolve: use an IP address in --listen`,
  };
  return `cannot listen on ${at}: ${e.code ?? e.message}${e.code && fix[e.code] ? ` (${fix[e.code]})` : ''}`;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

// The process never dies of a request: anything that escapes is logged, and the server goes on.
// A terminal that went away (its window closed: SIGHUP) makes every write fail with EIO. Unheard,
// that error is uncaught, the handler below writes about it, which fails again: a busy loop that
// never reached the shutdown (seen with tmux kill-session). With nowhere to print, drop the output.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
process.on('uncaughtException', (err) => process.stderr.write(`fpm-bridge: uncaught error (server continues): ${err.stack ?? err}\n`));
process.on('unhandledRejection', (err) => process.stderr.write(`fpm-bridge: unhandled rejection (server continues): ${err instanceof Error ? err.stack : String(err)}\n`));

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fpm-bridge: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(EXIT.startup);
  },
);
