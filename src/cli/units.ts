import { MAX_TIMEOUT_MS } from '../bridge/options.ts';

/** `64m`, `1.5G`, `512k`, `1048576` → bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: "${text}" (e.g. 512k, 64m, 1g)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.floor(Number(m[1]) * mult);
}

/** `500ms`, `5s`, `2m`, `5` (seconds) → milliseconds; `0` is off for every timeout. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a duration: "${text}" (e.g. 500ms, 5s, 2m; 0 for none)`);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's').toLowerCase() as 'ms' | 's' | 'm' | 'h'];
  const ms = Math.round(Number(m[1]) * mult);
  if (ms > MAX_TIMEOUT_MS) throw new Error(`"${text}" is longer than ${MAX_TIMEOUT_MS} ms (24.8 days), the longest a timer can wait; 0 turns it off`);
  return ms;
}
