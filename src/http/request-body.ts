import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';

/**
 * The whole request body, kept so it can be sent to PHP and then replayed to the app. Small bodies
 * stay in memory; past a threshold the body is spooled to a private temp file (nginx's
 * client_body_buffer_size / client_body_temp_path), so a 500 MiB upload costs bounded memory.
 */
export interface BufferedBody {
  size: number;
  /** The body in memory, or null when it was spooled to `file`. */
  chunks: readonly Buffer[] | null;
  file: string | null;
  /** A fresh read of the whole body each time it is iterated (a retry reads it again). */
  stream(): AsyncIterable<Buffer>;
  /** Removes the spool file, if any. */
  dispose(): Promise<void>;
}

export interface BodyLimits {
  /** Largest body accepted (413 beyond). */
  maxBody: number;
  /** Bodies larger than this go to a file in `spoolDir`. */
  memoryLimit: number;
  spoolDir: string;
  /** Fails with BodyTimeoutError when the client sends nothing for this long (0: never). */
  idleTimeoutMs?: number;
}

function memoryBody(chunks: Buffer[], size: number): BufferedBody {
  return {
    size,
    chunks,
    file: null,
    async *stream() {
      yield* chunks;
    },
    dispose: () => Promise.resolve(),
  };
}

function fileBody(file: string, size: number): BufferedBody {
  return {
    size,
    chunks: null,
    file,
    stream: () => createReadStream(file, { highWaterMark: 64 * 1024 }),
    dispose: () => unlink(file).catch(() => {}),
  };
}

export const EMPTY_BODY: BufferedBody = memoryBody([], 0);

export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
  constructor(readonly limit: number) {
    super(`request body larger than the ${limit}-byte limit (--max-body)`);
  }
}

export class BodyTimeoutError extends Error {
  override name = 'BodyTimeoutError';
  constructor(readonly ms: number) {
    super(`the client sent no body bytes for ${ms} ms (--body-timeout)`);
  }
}

/** True when the request carries a body (RFC 9112 6.3: Content-Length or Transfer-Encoding present). */
export function hasBody(req: IncomingMessage): boolean {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && cl !== '0';
}

/** Declared length beyond the limit: refuse before reading a byte (nginx client_max_body_size). */
export function declaredTooLarge(req: IncomingMessage, limit: number): boolean {
  const cl = req.headers['content-length'];
  return cl !== undefined && Number(cl) > limit;
}

let spoolCounter = 0;

/**
 * Reads the body, failing with BodyTooLargeError as soon as it passes `maxBody`. Reading from the
 * client pauses while the spool file catches up, so memory stays bounded.
 */
export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<BufferedBody> {
  if (!hasBody(req)) {
    req.resume();
    return Promise.resolve(EMPTY_BODY);
  }
  if (declaredTooLarge(req, limits.maxBody)) return Promise.reject(new BodyTooLargeError(limits.maxBody));
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    let spool: WriteStream | null = null;
    let spoolPath = '';
    // Between two reads, like nginx's client_body_timeout; not while we hold the client back.
    let waitingForSpool = false;
    const idleMs = limits.idleTimeoutMs ?? 0;
    let idle: NodeJS.Timeout | null = null;
    const armIdle = () => {
      if (idleMs <= 0) return;
      if (idle) idle.refresh();
      else idle = setTimeout(() => (waitingForSpool ? armIdle() : fail(new BodyTimeoutError(idleMs))), idleMs);
    };
    armIdle();
    const fail = (err: Error) => {
      cleanup();
      req.pause();
      if (spool) {
        // Unlinked once closed: the file is created asynchronously, an earlier unlink could miss it.
        const file = spoolPath;
        const remove = () => void unlink(file).catch(() => {});
        if (spool.closed) remove();
        else spool.once('close', remove);
        spool.destroy();
      }
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      armIdle();
      size += chunk.length;
      if (size > limits.maxBody) return fail(new BodyTooLargeError(limits.maxBody));
      if (!spool && size > limits.memoryLimit) {
        spoolPath = join(limits.spoolDir, `body-${process.pid}-${++spoolCounter}`);
        // 'wx' and 0600: a fresh private file, never one an attacker placed there.
        spool = createWriteStream(spoolPath, { flags: 'wx', mode: 0o600 });
        spool.on('error', fail);
        spool.on('drain', () => {
          waitingForSpool = false;
          armIdle();
          req.resume();
        });
        for (const c of chunks) spool.write(c);
        chunks = [];
      }
      if (spool) {
        if (!spool.write(chunk)) {
          waitingForSpool = true;
          req.pause();
        }
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = () => {
      cleanup();
      if (!spool) return resolve(memoryBody(chunks, size));
      const file = spoolPath;
      spool.end(() => resolve(fileBody(file, size)));
    };
    const onClose = () => {
      if (!req.complete) fail(new Error('client closed the connection while sending the body'));
    };
    const cleanup = () => {
      if (idle) clearTimeout(idle);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', fail);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', fail);
    req.on('close', onClose);
  });
}
