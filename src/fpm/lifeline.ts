import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

/**
 * Starts php-fpm so that it cannot outlive fpm-bridge, whatever kills fpm-bridge (kill -9 included,
 * where no handler of ours runs).
 *
 * `sh` forks a watchdog and then execs php-fpm, so php-fpm keeps the pid node knows (exit status,
 * signals and stderr are php-fpm's own). `detached` makes that pid a new session and process group:
 * php-fpm's workers inherit the group, the terminal's Ctrl-C reaches fpm-bridge alone (which then
 * stops php-fpm in order), and one kill(-pid) reaches every process of the instance.
 *
 * The watchdog stays in the group, blocked reading fd 3: a socket whose other end only fpm-bridge
 * holds. When fpm-bridge dies the kernel closes that end, the read sees EOF, and the watchdog
 * terminates the group (SIGTERM, SIGKILL after 3 s), removes the temp dir and kills itself.
 * fpm-bridge alive never lets that happen: it kills the group itself (watchdog included) before
 * closing its end. Being in the group also keeps the group id from being reused while we may signal it.
 * `alive` waits for the master to die, not to be reaped: an orphan is reaped by init, whenever init
 * gets to it, and a zombie holds nothing (on Linux its state in /proc says Z).
 */
const WATCHDOG = `dir=$1; shift
(
  trap '' HUP INT QUIT TERM
  alive() {
    kill -s 0 $$ 2>/dev/null || return 1
    [ -r /proc/$$/stat ] || return 0
    read -r st < /proc/$$/stat || return 0
    st=\${st##*") "}
    [ "\${st%% *}" != Z ]
  }
  while read -r _; do :; done
  kill -s TERM -- -$$ 2>/dev/null
  n=0
  while [ $n -lt 30 ] && alive; do sleep 0.1 2>/dev/null || sleep 1; n=$((n+1)); done
  rm -rf -- "$dir"
  kill -s KILL -- -$$
) <&3 3<&- >/dev/null 2>&1 &
exec "$@" 3<&- </dev/null`;

/** php-fpm `bin args` under the watchdog; `dir` is what the watchdog removes. stderr is piped. */
export function spawnWithLifeline(bin: string, args: readonly string[], dir: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn('/bin/sh', ['-c', WATCHDOG, 'fpm-bridge-watchdog', dir, bin, ...args], {
    detached: true,
    env,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
}

/**
 * Kills every process of the instance (master, workers, watchdog). Call it before `cutLifeline`:
 * the group id stays ours only while the watchdog lives.
 */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: nobody left in the group
  }
}

/** Closes our end of the watchdog's socket (after `killGroup`, it only releases the handle). */
export function cutLifeline(child: ChildProcess): void {
  (child.stdio[3] as Socket | null | undefined)?.destroy();
}
