import mri from 'mri';
import { resolve } from 'node:path';
import { DEFAULT_LEDGER } from '../ledger/ledger-file.ts';
import { LedgerOpenError, LedgerStore } from '../ledger/ledger-store.ts';
import { LedgerUnavailableError } from '../ledger/sqlite.ts';
import { readReport } from './report-data.ts';
import { reportText } from './report-text.ts';

export const REPORT_USAGE = 'usage: fpm-bridge report [--ledger FILE] [--since 7d] [--json]';

/**
 * `fpm-bridge report`: reads the ledger (read-only; a running bridge may go on writing) and prints
 * the table, or the JSON of report-data.ts. Exit 0; 1 when the ledger cannot be read (or this Node
 * has no node:sqlite); 2 for bad flags.
 */
export function reportCommand(argv: readonly string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr, nowMs = Date.now()): number {
  const a = mri(argv as string[], { string: ['ledger', 'since'], boolean: ['json', 'help'], alias: { h: 'help' } });
  const unknown = Object.keys(a).find((k) => !['ledger', 'since', 'json', 'help', 'h', '_'].includes(k));
  const usage = (message: string) => {
    err.write(`fpm-bridge report: ${message}\n${REPORT_USAGE}\n`);
    return 2;
  };
  if (unknown) return usage(`unknown flag --${unknown}`);
  if (a._.length > 0) return usage(`unexpected argument "${a._[0]}"`);
  if (a.help) {
    out.write(
      `${REPORT_USAGE}\n\n  --ledger FILE   the ledger the bridge writes (default ${DEFAULT_LEDGER} under the working directory)\n  --since T       the period: 7d (default), 24h, 30m\n  --json          the data as JSON (its shape: README "Ledger and report")\n`,
    );
    return 0;
  }
  for (const flag of ['ledger', 'since'] as const) {
    if (Array.isArray(a[flag])) return usage(`--${flag} given more than once`);
    if (a[flag] === '') return usage(`--${flag} needs a value`);
  }
  let periodMs: number;
  try {
    periodMs = parseSince(typeof a.since === 'string' ? a.since : '7d');
  } catch (e) {
    return usage(`--since: ${(e as Error).message}`);
  }
  const file = resolve(typeof a.ledger === 'string' ? a.ledger : DEFAULT_LEDGER);
  let store: LedgerStore;
  try {
    store = new LedgerStore(file, { readonly: true });
  } catch (e) {
    if (!(e instanceof LedgerOpenError) && !(e instanceof LedgerUnavailableError)) throw e;
    err.write(`fpm-bridge report: ${e.message}\n`);
    return 1;
  }
  try {
    const data = readReport(store, nowMs - periodMs, nowMs);
    out.write(a.json ? JSON.stringify(data, null, 2) + '\n' : reportText(data) + '\n');
    return 0;
  } catch (e) {
    err.write(`fpm-bridge report: cannot read the ledger ${file}: ${(e as Error).message}\n`);
    return 1;
  } finally {
    store.close();
  }
}

/** `7d`, `24h`, `30m`, `90s`: a period back from now. */
export function parseSince(text: string): number {
  const m = /^(\d+)\s*(d|h|m|s)$/.exec(text.trim());
  if (!m || Number(m[1]) === 0) throw new Error(`not a period: "${text}" (e.g. 7d, 24h, 30m)`);
  return Number(m[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }[m[2] as 'd' | 'h' | 'm' | 's'];
}
