import { realpath } from 'node:fs/promises';
import { isAbsolute, normalize, resolve, sep } from 'node:path';

/** A bad `--sendfile-root` (start-up error, exit 2 from the CLI). */
export class SendfileRootError extends Error {}

interface Root {
  /** URL prefix PHP names files under (`/private/`), always ending in `/`. */
  prefix: string;
  /** The directory it maps to, absolute, ending in the path separator. */
  dir: string;
}

/** What PHP asked to send: a file of a configured root, or why it is refused. */
export type SendfileTarget = { file: string } | { refused: string };

/**
 * X-Sendfile and X-Accel-Redirect: PHP answers with a header naming a file, and the bridge sends that
 * file as a static one (Range, conditional requests, HEAD), with PHP's Content-Type,
 * Content-Disposition, Set-Cookie, Cache-Control and Expires kept, as nginx keeps them. Only files
 * under the configured roots (`--sendfile-root /private=/srv/files`: nginx's `internal` location with
 * an `alias`) are ever sent: a traversal, a symlink leading out, or a path outside every root is
 * refused with a 404 and a warning. PHP is told through the request headers Symfony's and Laravel's
 * BinaryFileResponse read: `X-Sendfile-Type: X-Accel-Redirect` and `X-Accel-Mapping: DIR=PREFIX`.
 */
export class SendfileRoots {
  private readonly roots: Root[];

  constructor(specs: readonly string[]) {
    this.roots = specs.map(parseRoot).sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The FastCGI params that tell PHP's frameworks to hand files over (X-Sendfile-Type, X-Accel-Mapping). */
  params(): Array<[string, string]> {
    return [
      ['HTTP_X_SENDFILE_TYPE', 'X-Accel-Redirect'],
      ['HTTP_X_ACCEL_MAPPING', this.roots.map((r) => `${r.dir}=${r.prefix}`).join(',')],
    ];
  }

  /** True when PHP's head asks for a file to be sent (X-Accel-Redirect or X-Sendfile). */
  static asks(headers: ReadonlyArray<readonly [string, string]>): boolean {
    for (const [name] of headers) {
      const n = name.toLowerCase();
      if (n === 'x-accel-redirect' || n === 'x-sendfile') return true;
    }
    return false;
  }

  /** The file PHP's head names, confined to the roots (symlinks resolved), or why not. */
  async target(headers: ReadonlyArray<readonly [string, string]>): Promise<SendfileTarget> {
    let accel: string | undefined;
    let sendfile: string | undefined;
    for (const [name, value] of headers) {
      const n = name.toLowerCase();
      if (n === 'x-accel-redirect') accel = value.trim();
      else if (n === 'x-sendfile') sendfile = value.trim();
    }
    let candidate: { file: string; root: Root } | { refused: string };
    if (accel !== undefined) candidate = this.fromUri(accel);
    else if (sendfile !== undefined) candidate = this.fromPath(sendfile);
    else return { refused: 'no X-Accel-Redirect or X-Sendfile' };
    if ('refused' in candidate) return candidate;
    // Symlinks resolved on both sides: a link under the root that leads out is refused too.
    let real: string;
    let realDir: string;
    try {
      [real, realDir] = await Promise.all([realpath(candidate.file), realpath(candidate.root.dir)]);
    } catch (err) {
      return { refused: `${candidate.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
    if (!(real + sep).startsWith(realDir.endsWith(sep) ? realDir : realDir + sep) || real === realDir) {
      return { refused: `${candidate.file} leads out of ${candidate.root.dir} (to ${real})` };
    }
    return { file: real };
  }

  /** `X-Accel-Redirect: /private/report.pdf` (a URI: percent-decoded, query dropped). */
  private fromUri(uri: string): { file: string; root: Root } | { refused: string } {
    const path = uri.split('?')[0]!;
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return { refused: `X-Accel-Redirect ${uri}: not a valid URI path` };
    }
    if (!decoded.startsWith('/') || decoded.includes('\0') || decoded.split('/').some((s) => s === '..')) {
      return { refused: `X-Accel-Redirect ${uri}: not a clean absolute path` };
    }
    const root = this.roots.find((r) => decoded.startsWith(r.prefix));
    if (!root) return { refused: `X-Accel-Redirect ${uri}: under no --sendfile-root prefix` };
    return { file: root.dir + decoded.slice(root.prefix.length), root };
  }

  /** `X-Sendfile: /srv/files/report.pdf` (an absolute file path). */
  private fromPath(path: string): { file: string; root: Root } | { refused: string } {
    if (!isAbsolute(path) || path.includes('\0') || path.split('/').some((s) => s === '..')) {
      return { refused: `X-Sendfile ${path}: not a clean absolute path` };
    }
    const file = normalize(path);
    const root = this.roots.find((r) => file.startsWith(r.dir));
    if (!root) return { refused: `X-Sendfile ${path}: in no --sendfile-root directory` };
    return { file, root };
  }
}

/** `/private=/srv/files` → prefix `/private/`, dir `/srv/files/` (relative dirs from the working directory). */
function parseRoot(spec: string): Root {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new SendfileRootError(`--sendfile-root wants PREFIX=DIR, a URL prefix and a directory (got "${spec}")`);
  let prefix = spec.slice(0, eq);
  const dir = spec.slice(eq + 1);
  if (!prefix.startsWith('/') || prefix.split('/').some((s) => s === '..' || s === '.')) throw new SendfileRootError(`--sendfile-root ${spec}: the prefix must be a clean URL path starting with / (e.g. /private)`);
  if (dir === '') throw new SendfileRootError(`--sendfile-root ${spec}: no directory after =`);
  if (!prefix.endsWith('/')) prefix += '/';
  const abs = resolve(dir);
  return { prefix, dir: abs.endsWith(sep) ? abs : abs + sep };
}

/** The headers of PHP's answer nginx keeps on the file it sends instead (lower-case names). */
export const KEPT_FROM_PHP: ReadonlySet<string> = new Set(['content-type', 'content-disposition', 'accept-ranges', 'set-cookie', 'cache-control', 'expires']);
