import type { IncomingMessage } from 'node:http';

/** The whole request body, kept so it can be sent to PHP and then replayed to the app. */
export interface BufferedBody {
  chunks: Buffer[];
  size: number;
}

export const EMPTY_BODY: BufferedBody = { chunks: [], size: 0 };

export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
  constructor(readonly limit: number) {
    super(`request body larger than the ${limit}-byte limit (--max-body)`);
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

/** Reads the body into memory, failing with BodyTooLargeError as soon as it passes `limit`. */
export function readBody(req: IncomingMessage, limit: number): Promise<BufferedBody> {
  if (!hasBody(req)) {
    req.resume();
    return Promise.resolve(EMPTY_BODY);
  }
  if (declaredTooLarge(req, limit)) return Promise.reject(new BodyTooLargeError(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve({ chunks, size });
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onAborted = () => onError(new Error('client closed the connection while sending the body'));
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onClose = () => {
      if (!req.complete) onAborted();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
