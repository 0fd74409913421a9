/**
 * Durations as a small log-scale histogram, so p50/p95 can be merged across batches, hours and
 * restarts without keeping every sample: 40 buckets, each √2 wider than the one before, from 0.1 ms
 * to ~74 s (the last takes everything above). A percentile is reported as its bucket's upper bound:
 * at most √2 (41%) above the true value, which is enough to see a route get slower.
 */
export const BUCKETS = 40;
const BASE_MS = 0.1;

export function bucketOf(ms: number): number {
  if (!(ms > BASE_MS)) return 0;
  const i = Math.ceil(2 * Math.log2(ms / BASE_MS));
  return i >= BUCKETS ? BUCKETS - 1 : i;
}

export function upperBoundMs(bucket: number): number {
  return BASE_MS * 2 ** (bucket / 2);
}

export function emptyHistogram(): number[] {
  return new Array<number>(BUCKETS).fill(0);
}

export function mergeInto(into: number[], from: readonly number[]): void {
  for (let i = 0; i < BUCKETS; i++) into[i]! += from[i] ?? 0;
}

/** The q-quantile (0..1) in ms, or null for an empty histogram. */
export function percentile(hist: readonly number[], q: number): number | null {
  let total = 0;
  for (const n of hist) total += n;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= rank) return Math.round(upperBoundMs(i) * 100) / 100;
  }
  return Math.round(upperBoundMs(hist.length - 1) * 100) / 100;
}

export function encodeHistogram(hist: readonly number[]): string {
  return hist.join(',');
}

export function decodeHistogram(text: string): number[] {
  const hist = emptyHistogram();
  const parts = text.split(',');
  for (let i = 0; i < BUCKETS && i < parts.length; i++) hist[i] = Number(parts[i]) || 0;
  return hist;
}
