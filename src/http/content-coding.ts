import * as zlib from 'node:zlib';

/** The content codings fpm-bridge produces (zstd only where this Node's zlib has it: 22.15+, 23.8+). */
export type Coding = 'br' | 'zstd' | 'gzip';

export const HAS_ZSTD = typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function';

/** Best first: on a tie of q-values the first wins (brotli is smaller than gzip for the same CPU). */
export const DEFAULT_CODINGS: readonly Coding[] = HAS_ZSTD ? ['br', 'zstd', 'gzip'] : ['br', 'gzip'];

/** Text, JSON, JS, XML, SVG and the like; not images, video, archives or fonts that are compressed already. */
const COMPRESSIBLE =
  /^(?:text\/|application\/(?:json|javascript|x-javascript|ecmascript|xml|xhtml\+xml|rss\+xml|atom\+xml|ld\+json|manifest\+json|geo\+json|wasm|x-www-form-urlencoded|graphql-response\+json|vnd\.api\+json)|image\/(?:svg\+xml|x-icon|vnd\.microsoft\.icon|bmp)|font\/(?:ttf|otf)|[a-z]+\/[^;]*\+(?:json|xml)\s*(?:;|$))/i;

export function isCompressible(contentType: string | undefined): boolean {
  return contentType !== undefined && COMPRESSIBLE.test(contentType.trimStart());
}

/**
 * The coding to use for an Accept-Encoding value, or null for identity (RFC 9110 12.5.3): q=0 refuses
 * a coding; `*` stands for any coding not named; `x-gzip` is gzip; no header means identity.
 */
export function chooseCoding(accept: string | undefined, offered: readonly Coding[] = DEFAULT_CODINGS): Coding | null {
  if (!accept) return null;
  const q = new Map<string, number>();
  for (const part of accept.split(',')) {
    const [rawName, ...params] = part.split(';');
    const name = rawName!.trim().toLowerCase();
    if (!name) continue;
    let weight = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*(\S*)\s*$/i.exec(p);
      // A qvalue RFC 9110 does not allow counts as 0, as nginx reads it.
      if (m) weight = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(m[1]!) ? Number(m[1]) : 0;
    }
    const key = name === 'x-gzip' ? 'gzip' : name;
    q.set(key, Math.max(q.get(key) ?? -1, weight));
  }
  let best: Coding | null = null;
  let bestQ = 0;
  for (const coding of offered) {
    const weight = q.get(coding) ?? q.get('*') ?? 0;
    if (weight > bestQ) {
      best = coding;
      bestQ = weight;
    }
  }
  return best;
}
