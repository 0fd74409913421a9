import { FpmStartError } from './errors.ts';
import type { FpmLine } from './fpm-log.ts';

export interface StartFailure {
  bin: string;
  version: string;
  /** Why: `it exited with code 78`, `it did not accept connections ... within 10 s`. */
  why: string;
  /** php-fpm's lines from this launch. */
  lines: readonly FpmLine[];
  conf: string;
  extraConf: { path: string; line: number } | undefined;
  iniGiven: boolean;
}

/**
 * The error for a php-fpm that did not come up: php-fpm's own words, where a line number of the
 * generated config really lies (the user never sees that file), and what to try.
 */
export function startFailureError(f: StartFailure): FpmStartError {
  const lines = f.lines.length > 0 ? f.lines.map((l) => `    ${explainConfLine(l.text, f)}`) : ['    (php-fpm wrote nothing)'];
  const fixes: string[] = [];
  if (f.extraConf) fixes.push(`check --php-fpm-conf ${f.extraConf.path}`);
  if (f.iniGiven) fixes.push('check the --php-ini settings');
  fixes.push('or use a php-fpm you run yourself with --fpm <socket|host:port>');
  return new FpmStartError(
    `php-fpm (${f.bin}, PHP ${f.version}) failed to start: ${f.why}. Its last lines:\n${lines.join('\n')}\nFix: ${fixes.join('; ')}.`,
  );
}

/** `[/tmp/x/php-fpm.conf:27] unknown entry` → the same, plus which line of --php-fpm-conf that is. */
export function explainConfLine(text: string, f: Pick<StartFailure, 'conf' | 'extraConf'>): string {
  const m = /\[(.+?):(\d+)\]/.exec(text);
  if (!m || m[1] !== f.conf || !f.extraConf) return text;
  const line = Number(m[2]);
  if (line < f.extraConf.line) return `${text}  (a line fpm-bridge generated)`;
  return `${text}  (line ${line - f.extraConf.line + 1} of ${f.extraConf.path})`;
}
