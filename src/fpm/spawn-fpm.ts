import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log/logger.ts';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.ts';
import { FpmStartError } from './errors.ts';
import { findPhpFpm } from './find-binary.ts';
import { CrossSourceDedupe, isWorthShowing, LineSplitter, parseFpmLine, RecentLines, RepeatFilter, type FpmLine } from './fpm-log.ts';
import { phpFpmVersion } from './fpm-version.ts';
import { cutLifeline, killGroup, spawnWithLifeline } from './lifeline.ts';
import { LogFileTail } from './log-file-tail.ts';
import { defaultWorkers, maxChildrenIn, poolConfig, type PoolConfig } from './pool-config.ts';
import { settles } from './settles.ts';
import { startFailureError } from './start-error.ts';
import { waitForSocket } from './wait-socket.ts';
import { xdebugIni } from './xdebug.ts';

export interface SpawnFpmOptions {
  /** `--php-fpm-bin`; default: found on PATH and in the sbin directories. */
  bin?: string | undefined;
  /** Default: sized to the machine (`defaultWorkers`). A pm.max_children in `extraConfFile` wins. */
  workers?: number | undefined;
  /** `--max-body`, mirrored into post_max_size and upload_max_filesize. */
  maxBodyBytes: number;
  /** `--php-ini K=V`. */
  ini?: ReadonlyArray<readonly [string, string]>;
  /** `--php-fpm-conf FILE`. */
  extraConfFile?: string | undefined;
  /** php-fpm's messages go here, prefixed `php-fpm:`. */
  logger: Logger;
  /** How long php-fpm gets to accept on its socket (default 10 s). */
  startTimeoutMs?: number;
  /** After SIGQUIT at stop, how long before SIGTERM and then SIGKILL (default 3 s). */
  stopGraceMs?: number;
  backoff?: BackoffOptions;
  /** Where the private directory is made (default: os.tmpdir()). */
  tmpDir?: string;
  /**
   * The variables PHP sees (the pool clears the rest): each name's value is taken from `env`
   * (given) or else from this process's environment.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** Development mode: PHP's errors displayed (pool-config.ts). */
  dev?: boolean;
  /** `--xdebug`: load Xdebug (an FpmStartError when it is not installed). */
  xdebug?: boolean;
}

export interface SpawnedFpm {
  readonly bin: string;
  /** PHP's version, from `php-fpm -v`. */
  readonly version: string;
  /** pm.max_children: the most connections the bridge should keep. */
  readonly workers: number;
  /** The unix socket php-fpm listens on; it stays the same across restarts. */
  readonly socket: string;
  /** The private directory (socket, config, pid file, log). */
  readonly dir: string;
  readonly conf: string;
  /** The master's pid (its workers' process group), undefined while it is being restarted. */
  readonly pid: number | undefined;
  /** Restarts after crashes so far. */
  readonly restarts: number;
  /** Graceful stop (SIGQUIT; SIGTERM, SIGKILL when it takes too long), then the directory is removed. */
  stop(): Promise<void>;
  /** Synchronous last resort for process 'exit': SIGKILL to the whole instance, directory removed. */
  killNow(): void;
}

/**
 * Starts a private php-fpm and keeps it running: resolves once its socket accepts connections,
 * restarts it with backoff when it dies. Throws FpmStartError (PhpFpmNotFoundError when there is
 * no binary) with a message that says what to fix.
 */
export async function spawnFpm(options: SpawnFpmOptions): Promise<SpawnedFpm> {
  const bin = findPhpFpm({ bin: options.bin });
  const version = await phpFpmVersion(bin);
  const extraConf = options.extraConfFile === undefined ? undefined : { path: options.extraConfFile, text: readExtraConf(options.extraConfFile) };
  const workers = (extraConf ? maxChildrenIn(extraConf.text) : undefined) ?? options.workers ?? defaultWorkers(availableParallelism());
  const xdebug = options.xdebug ? await xdebugIni(bin, version) : undefined;
  const dir = privateDir(options.tmpDir ?? tmpdir());
  try {
    const config = poolConfig({
      env: Object.keys(options.env ?? {}),
      dev: options.dev,
      xdebugIni: xdebug,
      dir,
      workers,
      maxBodyBytes: options.maxBodyBytes,
      ini: options.ini ?? [],
      extraConf,
      asRoot: process.getuid?.() === 0,
    });
    writeFileSync(config.conf, config.text, { mode: 0o600 });
    const fpm = new FpmProcess(bin, version, workers, dir, config, options);
    await fpm.start();
    return fpm;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** php-fpm's own environment: ours, plus the values given for PHP (the pool's env[] copies them). */
function fpmEnvironment(env: SpawnFpmOptions['env']): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(env ?? {})) if (value !== undefined) out[name] = value;
  return out;
}

function readExtraConf(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new FpmStartError(`--php-fpm-conf ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`);
  }
}

/** mkdtemp makes it 0700 already; the chmod says so. A unix socket path has ~104 bytes at most (macOS). */
function privateDir(base: string): string {
  let dir = mkdtempSync(join(base, 'fpm-bridge-'));
  if (Buffer.byteLength(join(dir, 'php-fpm.sock')) > 100 && base !== '/tmp') {
    rmSync(dir, { recursive: true, force: true });
    dir = mkdtempSync('/tmp/fpm-bridge-');
  }
  chmodSync(dir, 0o700);
  return dir;
}

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** One run of php-fpm, from spawn to reaping. */
interface Launch {
  child: ChildProcess;
  exited: Promise<ExitInfo>;
  stderr: LineSplitter;
  /** php-fpm's stderr is read to its end: node may report the exit before the last bytes. */
  stderrDone: Promise<void>;
  /** RecentLines position at spawn: the lines of this run. */
  mark: number;
  startedAt: number;
  /** Set as soon as node reports the exit (the `exited` promise settles a tick later). */
  exit: ExitInfo | null;
  reaped: boolean;
}

type State = 'starting' | 'running' | 'waiting' | 'stopping' | 'stopped';

class FpmProcess implements SpawnedFpm {
  private state: State = 'starting';
  private current: Launch | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;
  private readonly recent = new RecentLines<FpmLine>(30);
  private readonly dedupe = new CrossSourceDedupe();
  private readonly repeats = new RepeatFilter();
  private readonly logSplitter = new LineSplitter();
  private readonly tail: LogFileTail;
  private readonly backoff: Backoff;
  /** Lines worth showing that came while a launch was under way: shown once it is up, else in the error. */
  private held: FpmLine[] | null = null;
  restarts = 0;

  constructor(
    readonly bin: string,
    readonly version: string,
    readonly workers: number,
    readonly dir: string,
    private readonly config: PoolConfig,
    private readonly options: SpawnFpmOptions,
  ) {
    this.backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF);
    this.tail = new LogFileTail(config.logFile, (text) => {
      for (const line of this.logSplitter.push(text)) this.onLine('log', line);
    });
  }

  get socket(): string {
    return this.config.socket;
  }

  get conf(): string {
    return this.config.conf;
  }

  get pid(): number | undefined {
    return this.state === 'running' ? this.current?.child.pid : undefined;
  }

  /** The first launch: its failure is the caller's start-up error. */
  async start(): Promise<void> {
    this.tail.start();
    try {
      this.markRunning(await this.launch());
    } catch (err) {
      this.state = 'stopped';
      this.tail.stop();
      throw err;
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  killNow(): void {
    if (this.state === 'stopped') return;
    if (this.current) this.reap(this.current);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.state = 'stopped';
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async doStop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const launch = this.current;
    if (launch && !launch.reaped) {
      const grace = this.options.stopGraceMs ?? 3_000;
      // SIGQUIT to the master alone: php-fpm's graceful stop, workers finish the request in hand.
      launch.child.kill('SIGQUIT');
      if (!(await settles(launch.exited, grace))) {
        killGroup(launch.child, 'SIGTERM');
        if (!(await settles(launch.exited, 1_000))) {
          killGroup(launch.child, 'SIGKILL');
          await settles(launch.exited, 1_000);
        }
      }
      this.reap(launch);
    }
    if (launch) await this.drain(launch);
    this.tail.stop();
    rmSync(this.dir, { recursive: true, force: true });
    this.state = 'stopped';
  }

  /** Spawns php-fpm and waits for its socket. Throws FpmStartError when it does not come up. */
  private async launch(): Promise<Launch> {
    this.held = [];
    const child = spawnWithLifeline(this.bin, this.config.args, this.dir, fpmEnvironment(this.options.env));
    const launch: Launch = {
      child,
      exited: new Promise<ExitInfo>((resolve) => {
        const done = (info: ExitInfo) => {
          launch.exit ??= info;
          resolve(info);
        };
        child.once('exit', (code, signal) => done({ code, signal }));
        // /bin/sh could not be spawned at all: there is no 'exit' then.
        child.once('error', (error) => done({ code: null, signal: null, error }));
      }),
      stderr: new LineSplitter(),
      stderrDone: new Promise<void>((resolve) => {
        if (!child.stderr) return resolve();
        child.stderr.once('end', resolve);
        child.stderr.once('close', resolve);
      }),
      mark: this.recent.mark(),
      startedAt: Date.now(),
      exit: null,
      reaped: false,
    };
    this.current = launch;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      for (const line of launch.stderr.push(text)) this.onLine('stderr', line);
    });
    void launch.exited.then((info) => this.onExit(launch, info));

    const timeoutMs = this.options.startTimeoutMs ?? 10_000;
    const failed = await waitForSocket(this.config.socket, timeoutMs, launch.exited.then((info) => `it ${describeExit(info)}`));
    if (failed === null && (this.state === 'starting' || this.state === 'waiting')) {
      launch.startedAt = Date.now();
      const held = this.held;
      this.held = null;
      for (const line of held) this.show(line);
      return launch;
    }
    this.reap(launch);
    await this.drain(launch);
    this.held = null;
    throw startFailureError({
      bin: this.bin,
      version: this.version,
      why: failed ?? 'fpm-bridge is stopping',
      lines: this.recent.since(launch.mark),
      conf: this.config.conf,
      extraConf: this.config.extraConfLine !== undefined && this.options.extraConfFile !== undefined ? { path: this.options.extraConfFile, line: this.config.extraConfLine } : undefined,
      iniGiven: (this.options.ini ?? []).length > 0,
    });
  }

  /** A run ended. While running, that is a crash: log php-fpm's last words and restart with backoff. */
  private async onExit(launch: Launch, info: ExitInfo): Promise<void> {
    if (this.current !== launch || this.state !== 'running') return;
    // Workers of a master killed with -9 live on and keep the socket: a new master would refuse to
    // start ("Another FPM instance seems to already listen"). They go with the group.
    this.reap(launch);
    this.state = 'waiting';
    await this.drain(launch);
    if (this.state !== 'waiting') return; // stopped meanwhile
    const uptime = Date.now() - launch.startedAt;
    const delay = this.backoff.next(uptime);
    // The master's own warnings and errors: workers' lines (output, their start-up errors) are not about this.
    const last = this.recent.since(launch.mark).filter((l) => l.fromMaster && isWorthShowing(l)).slice(-3);
    this.options.logger.error(
      `php-fpm ${describeExit(info)} after ${(uptime / 1000).toFixed(1)} s` +
        (last.length > 0 ? `; its last message: ${last.map((l) => l.text).join(' / ')}` : '; it logged nothing about it') +
        `. Restarting in ${delay} ms; PHP requests get 502 meanwhile.`,
    );
    this.scheduleRestart(delay);
  }

  private scheduleRestart(delay: number): void {
    this.state = 'waiting';
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      void this.restart();
    }, delay);
  }

  private async restart(): Promise<void> {
    if (this.state !== 'waiting') return;
    let launch: Launch;
    try {
      launch = await this.launch();
    } catch (err) {
      if (this.state !== 'waiting') return;
      const delay = this.backoff.next(0);
      this.options.logger.error(`${(err as Error).message}\nTrying again in ${delay} ms.`);
      this.scheduleRestart(delay);
      return;
    }
    if (this.state !== 'waiting') return;
    this.restarts++;
    this.options.logger.info(`php-fpm: restarted (pid ${launch.child.pid})`);
    this.markRunning(launch);
  }

  /** Up. A run that died in the ticks between its socket answering and here is a crash like any. */
  private markRunning(launch: Launch): void {
    this.state = 'running';
    if (launch.exit) void this.onExit(launch, launch.exit);
  }

  /** SIGKILL to what is left of the instance and our end of the watchdog's socket; once per run. */
  private reap(launch: Launch): void {
    if (launch.reaped) return;
    launch.reaped = true;
    killGroup(launch.child, 'SIGKILL');
    cutLifeline(launch.child);
    if (this.current === launch) this.current = null;
  }

  /** Everything the run wrote, read: the log file now, stderr once its pipe ends (briefly waited for). */
  private async drain(launch: Launch): Promise<void> {
    this.tail.readNow();
    await settles(launch.stderrDone, 300);
    for (const line of launch.stderr.flush()) this.onLine('stderr', line);
  }

  private onLine(source: 'stderr' | 'log', raw: string): void {
    if (!this.dedupe.accept(source, raw)) return;
    const line = parseFpmLine(raw);
    this.recent.add(line);
    if (!isWorthShowing(line)) return;
    if (this.held) this.held.push(line);
    else this.show(line);
  }

  private show(line: FpmLine): void {
    if (!this.repeats.accept(line)) return;
    const { logger } = this.options;
    const message = `php-fpm: ${line.message}`;
    if (line.level === 'output') logger.info(message);
    else if (line.level === 'notice' || line.level === 'warning') logger.warn(message);
    else logger.error(message);
  }
}

function describeExit(info: ExitInfo): string {
  if (info.error) return `could not be started (${info.error.message})`;
  return info.signal ? `was killed by ${info.signal}` : `exited with code ${info.code}`;
}
