/**
 * "Did you mean": the known names closest to what was typed. Distance is the optimal string alignment
 * (Levenshtein plus swapping two neighbours, so `prot` is one step from `port`); a name the typed text
 * starts (`list` for `listen`) counts as close too.
 */
export function closest(typed: string, known: Iterable<string>): string[] {
  const t = typed.toLowerCase();
  const limit = t.length <= 4 ? 1 : 2;
  let best = Infinity;
  let found: string[] = [];
  for (const name of known) {
    const d = name.startsWith(t) && t.length >= 3 ? 1 : distance(t, name);
    if (d > limit || d > best) continue;
    if (d < best) {
      best = d;
      found = [];
    }
    found.push(name);
  }
  return found;
}

function distance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
