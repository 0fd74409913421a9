import { createReadStream, fstat, open, close, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decide, type Validators } from './conditional.ts';
import { fileHeaders, type CachedFile, type EncodedAs, type SmallFileCache } from './small-file-cache.ts';

/** An error the bridge answers for a file: its status, and headers to keep (416's Content-Range). */
export type StaticError = (status: number, err: Error, headers?: Record<string, string>) => void;

/**
 * Serves one file the route decision already found and vetted, by that file (its byte path), never
 * by decoding the URL again: a name that is not UTF-8 (`caf\xE9.txt`) is served like any other.
 * conditional.ts decides the HTTP part (304, 412, 206, 416); the headers are those `send` gave
 * (small-file-cache.ts, fileHeaders). Small files come from memory in one write; larger ones are
 * streamed from the file descriptor the validators were read from, and a file that shrinks while it
 * is sent (`cp` over a live file) cuts the connection, as nginx does ("file has been truncated"):
 * the response declared its length, and anything else would put the next response inside its body.
 */
/**
 * `as`: the file is a precompressed copy of another (its type, its coding). `keep`: headers of another
 * answer that replace the file's own of the same name or join them (X-Sendfile: PHP's Content-Type,
 * Content-Disposition, Set-Cookie...).
 */
export function serveStatic(req: IncomingMessage, res: ServerResponse, file: string, cache: SmallFileCache | null, onError: StaticError, as?: EncodedAs, keep?: readonly string[]): void {
  if (cache) {
    const cached = cache.get(file, as);
    if (!(cached instanceof Promise)) return sendFromMemory(req, res, cached, onError);
    cached.then(
      (c) => (c ? sendFromMemory(req, res, c, onError) : sendFromDisk(req, res, file, onError, as, keep)),
      (err: Error) => onError(500, err),
    );
    return;
  }
  sendFromDisk(req, res, file, onError, as, keep);
}

/** The file's headers with `keep`'s: same names replaced where they stand (the 304 keeps its first four), others appended. */
function withKept(headers: string[], keep: readonly string[] | undefined): string[] {
  if (!keep || keep.length === 0) return headers;
  const kept = new Map<string, string[]>();
  for (let i = 0; i + 1 < keep.length; i += 2) {
    const name = keep[i]!.toLowerCase();
    kept.set(name, [...(kept.get(name) ?? []), keep[i]!, keep[i + 1]!]);
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const mine = kept.get(headers[i]!.toLowerCase());
    if (!mine) out.push(headers[i]!, headers[i + 1]!);
    else {
      out.push(headers[i]!, mine[1]!);
      // Repeats of that name (several Set-Cookie) follow at the end.
      kept.set(headers[i]!.toLowerCase(), mine.slice(2));
    }
  }
  for (const rest of kept.values()) out.push(...rest);
  return out;
}

/** Writes the head for `v` as decided; the byte range to send, or null when no body follows. */
function head(req: IncomingMessage, res: ServerResponse, v: Validators & { headers: string[] }, onError: StaticError): { start: number; end: number } | null {
  const d = decide(req.headers, v);
  switch (d.kind) {
    case 'precondition-failed':
      onError(412, new Error('precondition failed'));
      return null;
    case 'unsatisfiable':
      onError(416, new Error('range not satisfiable'), { 'content-range': `bytes */${v.size}` });
      return null;
    case 'not-modified':
      // Accept-Ranges, Cache-Control, Last-Modified, ETag: no content fields on a 304.
      res.writeHead(304, v.headers.slice(0, 8));
      res.end();
      return null;
    case 'range':
      res.writeHead(206, [...v.headers, 'Content-Range', `bytes ${d.start}-${d.end}/${v.size}`, 'Content-Length', String(d.end - d.start + 1)]);
      break;
    case 'full':
      res.writeHead(200, [...v.headers, 'Content-Length', String(v.size)]);
  }
  if (req.method === 'HEAD') {
    res.end();
    return null;
  }
  return d.kind === 'range' ? { start: d.start, end: d.end } : { start: 0, end: v.size - 1 };
}

function sendFromMemory(req: IncomingMessage, res: ServerResponse, file: CachedFile, onError: StaticError): void {
  const h = req.headers;
  // The common case first: nothing conditional, the whole file in one write.
  if (h.range === undefined && h['if-match'] === undefined && h['if-unmodified-since'] === undefined && h['if-none-match'] === undefined && h['if-modified-since'] === undefined) {
    res.writeHead(200, [...file.headers, 'Content-Length', String(file.body.length)]);
    if (req.method === 'HEAD') res.end();
    else res.end(file.body);
    return;
  }
  const range = head(req, res, { ...file, size: file.body.length }, onError);
  if (range) res.end(file.body.subarray(range.start, range.end + 1));
}

function sendFromDisk(req: IncomingMessage, res: ServerResponse, file: string, onError: StaticError, as?: EncodedAs, keep?: readonly string[]): void {
  open(Buffer.from(file, 'latin1'), 'r', (err, fd) => {
    if (err) return onError(statusOf(err), err);
    fstat(fd, (err2, st) => {
      if (err2 || !st.isFile()) {
        close(fd, () => {});
        return onError(err2 ? 500 : 404, err2 ?? new Error('not a file'));
      }
      if (res.destroyed) return close(fd, () => {});
      const own = fileHeaders(file, st, as);
      const range = head(req, res, { ...own, headers: withKept(own.headers, keep), size: st.size }, onError);
      if (!range || range.end < range.start) {
        close(fd, () => {});
        if (range) res.end();
        return;
      }
      stream(res, fd, st, range, file, onError);
    });
  });
}

function stream(res: ServerResponse, fd: number, st: Stats, range: { start: number; end: number }, file: string, onError: StaticError): void {
  const expected = range.end - range.start + 1;
  let sent = 0;
  const input = createReadStream('', { fd, start: range.start, end: range.end, autoClose: true });
  input.on('data', (chunk) => {
    sent += chunk.length;
    if (!res.write(chunk)) input.pause();
  });
  res.on('drain', () => input.resume());
  res.once('close', () => input.destroy());
  input.once('error', (err) => onError(500, err));
  input.once('end', () => {
    if (sent === expected) {
      res.end();
      return;
    }
    // Headers and `sent` bytes are out; the error response cuts the connection (error-response.ts).
    onError(500, new Error(`${file} has been truncated while it was sent: ${sent} of ${expected} bytes (it was ${st.size} bytes)`));
  });
}

function statusOf(err: NodeJS.ErrnoException): number {
  if (err.code === 'ENOENT' || err.code === 'ENOTDIR' || err.code === 'ENAMETOOLONG') return 404;
  if (err.code === 'EACCES' || err.code === 'EPERM') return 403;
  return 500;
}
