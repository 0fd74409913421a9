import mri from 'mri';
import { DEFAULT_LEDGER } from '../cli/args.ts';
import { parseDuration } from '../cli/units.ts';
import { LedgerOpenError, LedgerStore } from '../ledger/ledger-store.ts';
import { readReport } from './report-data.ts';
import { reportText } from './report-text.ts';

export const REPORT_USAGE = 'usage: fpm-bridge report [--ledger FILE] [--since 7d] [--json]';

/**
 * `fpm-bridge report`: reads the ledger (read-only; a running bridge may keep writing) and prints
 * the table, or the JSON of report-data.ts. Exit 0, 1 when the ledger cannot be read, 2 for bad flags.
 */
export function reportCommand(argv: readonly string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  const a = mri(argv as string[], { string: ['ledger', 'since'], boolean: ['json', 'help'] });
  const unknown = Object.keys(a).find((k) => !['ledger', 'since', 'json', 'help', '_'].includes(k));
  const usage = (message: string) => {
    err.write(`fpm-bridge report: ${message}\n${REPORT_USAGE}\n`);
    return 2;
  };
  if (unknown) return usage(`unknown flag --${unknown}`);
  if (a._.length > 0) return usage(`unexpected argument "${a._[0]}"`);
  if (a.help) {
    out.write(`${REPORT_USAGE}\n\n  --ledger FILE   the ledger (default ${DEFAULT_LEDGER})\n  --since T       the period: 7d (default), 24h, 30m...\n  --json          the data as JSON (shape in README "Migrating an application")\n`);
    return 0;
  }
  let sinceMs: number;
  try {
    sinceMs = Date.now() - parseSince(typeof a.since === 'string' ? a.since : '7d');
  } catch (e) {
    return usage(`--since: ${(e as Error).message}`);
  }
  const file = typeof a.ledger === 'string' && a.ledger !== '' ? a.ledger : DEFAULT_LEDGER;
  let store: LedgerStore;
  try {
    store = new LedgerStore(file, { readonly: true });
  } catch (e) {
    if (!(e instanceof LedgerOpenError)) throw e;
    err.write(`fpm-bridge report: ${e.message}\n`);
    return 1;
  }
  try {
    const data = readReport(store, sinceMs);
    out.write(a.json ? JSON.stringify(data, null, 2) + '\n' : reportText(data) + '\n');
    return 0;
  } catch (e) {
    err.write(`fpm-bridge report: cannot read ${file}: ${(e as Error).message}\n`);
    return 1;
  } finally {
    store.close();
  }
}

/** `7d`, `24h`, or what parseDuration takes (`30m`, `90s`). */
function parseSince(text: string): number {
  const d = /^(\d+)d$/.exec(text);
  if (d) return Number(d[1]) * 86_400_000;
  const h = /^(\d+)h$/.exec(text);
  if (h) return Number(h[1]) * 3_600_000;
  return parseDuration(text);
}
