/**
 * The route a request counts under in the ledger: the claim pattern it matched, or its path with the
 * query dropped (the event's path has none) and id-like segments collapsed to `:id`, so
 * `/packages/12345` and `/packages/67890` are one route. Segments are ids when they are numbers,
 * UUIDs, long hex (16+) or long base64/base64url (20+, letters and digits mixed), or just too long
 * to be a name (64+).
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = /^[0-9a-f]{16,}$/i;
const B64 = /^[A-Za-z0-9_+=-]{20,}$/;
const NUMBER = /^\d+$/;
/** A route key never grows past this (a 2 kB URL is one route, not a row of 2 kB). */
const MAX_KEY = 200;

export function collapsePath(path: string): string {
  let out = '';
  let start = 1;
  // Walk the segments without a split: this runs for every request the ledger counts.
  while (start <= path.length) {
    let end = path.indexOf('/', start);
    if (end < 0) end = path.length;
    const seg = path.slice(start, end);
    out += '/' + (isId(seg) ? ':id' : seg);
    start = end + 1;
  }
  if (out === '') out = '/';
  return out.length > MAX_KEY ? out.slice(0, MAX_KEY) + '…' : out;
}

function isId(seg: string): boolean {
  if (seg.length === 0) return false;
  if (seg.length >= 64) return true;
  if (NUMBER.test(seg) || UUID.test(seg) || HEX.test(seg)) return true;
  return B64.test(seg) && /\d/.test(seg) && /[A-Za-z]/.test(seg);
}
