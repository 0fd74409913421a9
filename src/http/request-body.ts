import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { SpoolError, type SpoolDir, type SpoolFile } from './spool.ts';

/**
 * The whole request body, kept so it can be sent to PHP and then replayed to the app. Small bodies
 * stay in memory while the bridge's body budget allows; past `memoryLimit`, or when the bodies in
 * flight across all connections fill the budget, the body is spooled to a private temp file
 * (nginx's client_body_buffer_size / client_body_temp_path), so neither one 500 MiB upload nor 300
 * slow 1 MiB ones cost more than the budget.
 */
export interface BufferedBody {
  size: number;
  /** The body in memory, or null when it was spooled to `file`. */
  chunks: readonly Buffer[] | null;
  file: string | null;
  /** A fresh read of the whole body each time it is iterated (a retry reads it again). */
  stream(): AsyncIterable<Buffer>;
  /**
   * Like stream(), with each chunk valid only until the next is asked for: a spooled body is read
   * into one reused buffer (SpoolFile.readReused). For the FastCGI writer.
   */
  streamReused(): AsyncIterable<Buffer>;
  /**
   * Gives the memory back to the budget, or closes every read of the spool file and removes it.
   * Called once the response ended or the client left; more calls do nothing.
   */
  dispose(): void;
}

/**
 * Bytes of request bodies held in memory, across all connections of one bridge. A counter, nothing
 * more: a small body pays one addition when it arrives and one subtraction when its response ends.
 */
export class MemoryBudget {
  used = 0;
  constructor(readonly limit: number) {}
}

export interface BodyLimits {
  /** Largest body accepted (413 beyond). */
  maxBody: number;
  /** Bodies larger than this go to a spool file whatever the budget. */
  memoryLimit: number;
  /** Shared by all requests: once full, further bodies go to a spool file. */
  budget: MemoryBudget;
  spool: SpoolDir;
  /** Fails with BodyTimeoutError when the client sends nothing for this long (0: never). */
  idleTimeoutMs?: number;
}

function memoryBody(chunks: Buffer[], size: number, budget: MemoryBudget | null): BufferedBody {
  let held = budget;
  return {
    size,
    chunks,
    file: null,
    async *stream() {
      yield* chunks;
    },
    async *streamReused() {
      yield* chunks;
    },
    dispose() {
      if (held) held.used -= size;
      held = null;
    },
  };
}

function fileBody(file: SpoolFile): BufferedBody {
  return {
    size: file.size,
    chunks: null,
    file: file.path,
    stream: () => file.read(),
    streamReused: () => file.readReused(),
    dispose: () => file.dispose(),
  };
}

export const EMPTY_BODY: BufferedBody = memoryBody([], 0, null);

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

const transfer = (ArrayBuffer.prototype as { transfer?: (this: ArrayBuffer, length: number) => ArrayBuffer }).transfer;

/**
 * Frees a body chunk's memory once the spool file has it, instead of whenever V8 gets to it. Node's
 * HTTP parser gives each chunk (up to 64 KiB) a memory block of its own, outside V8's heap, and
 * Node 24 collects those late: a bare Node 24 server draining a 500 MiB upload held 65 MiB of them
 * (Node 20: 33). Detaching the block (ArrayBuffer.prototype.transfer, Node 22+) releases it at once.
 * Only for a request Node parsed from a socket, and only a chunk that owns its whole block: a request
 * made up in code (a test's inject, a proxy's stream) may hand us buffers it still uses.
 */
function freeChunk(chunk: Buffer): void {
  const block = chunk.buffer;
  if (transfer && chunk.byteOffset === 0 && chunk.byteLength === block.byteLength && block instanceof ArrayBuffer) transfer.call(block, 0);
}

function parserChunks(req: IncomingMessage): boolean {
  return transfer !== undefined && req instanceof IncomingMessage && req.socket instanceof Socket;
}

/**
 * Reads the body, failing with BodyTooLargeError as soon as it passes `maxBody`. Spool writes are
 * synchronous (see SpoolFile), so what does not fit the budget leaves memory as it arrives. A spool
 * file that cannot be written fails with SpoolError (its status says 507 or 503), never as if the
 * client had gone.
 */
export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<BufferedBody> {
  if (!hasBody(req)) {
    req.resume();
    return Promise.resolve(EMPTY_BODY);
  }
  if (declaredTooLarge(req, limits.maxBody)) return Promise.reject(new BodyTooLargeError(limits.maxBody));
  const { budget } = limits;
  // A body declared bigger than its memory share goes to the file from its first byte.
  const declared = Number(req.headers['content-length'] ?? NaN);
  const spoolAtOnce = declared > limits.memoryLimit;
  const owned = parserChunks(req);
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    /** Bytes of this body counted in the budget (until it spools, or its dispose). */
    let held = 0;
    let spool: SpoolFile | null = null;
    let settled = false;
    // Between two reads, like nginx's client_body_timeout.
    const idleMs = limits.idleTimeoutMs ?? 0;
    let idle: NodeJS.Timeout | null = null;
    const armIdle = () => {
      if (idleMs <= 0) return;
      if (idle) idle.refresh();
      else idle = setTimeout(() => fail(new BodyTimeoutError(idleMs)), idleMs);
    };
    armIdle();
    const release = () => {
      budget.used -= held;
      held = 0;
    };
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      cleanup();
      release();
      chunks = [];
      // A client still sending is drained, not paused, so it reads our answer instead of a reset.
      if (err instanceof SpoolError) req.resume();
      else req.pause();
      spool?.dispose();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      armIdle();
      size += chunk.length;
      if (size > limits.maxBody) return fail(new BodyTooLargeError(limits.maxBody));
      try {
        if (spool) {
          spool.write(chunk);
          if (owned) freeChunk(chunk);
          return;
        }
        if (!spoolAtOnce && size <= limits.memoryLimit && budget.used + chunk.length <= budget.limit) {
          budget.used += chunk.length;
          held += chunk.length;
          chunks.push(chunk);
          return;
        }
        spool = limits.spool.create();
        for (const c of chunks) spool.write(c);
        spool.write(chunk);
        if (owned) for (const c of [...chunks, chunk]) freeChunk(c);
        chunks = [];
        release();
      } catch (err) {
        fail(err instanceof SpoolError ? err : new SpoolError(limits.spool.base, err as NodeJS.ErrnoException));
      }
    };
    const onEnd = () => {
      cleanup();
      settled = true;
      if (spool) {
        try {
          spool.end();
        } catch (err) {
          settled = false;
          return fail(new SpoolError(spool.dir, err as NodeJS.ErrnoException));
        }
        return resolve(fileBody(spool));
      }
      // One buffer instead of many small socket reads: fewer live allocations while it waits. Reads
      // of 16 KiB or more on average are kept as they are: copying a 1 MiB body cost a copy and a
      // 1 MiB allocation a request, and its external memory a mark-compact every few requests.
      if (chunks.length > 1 && size / chunks.length < 16 * 1024) chunks = [Buffer.concat(chunks, size)];
      resolve(memoryBody(chunks, size, held > 0 ? budget : null));
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
