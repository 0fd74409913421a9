import type { CgiHead } from '../php/cgi-response.ts';
import type { ResponseTap } from '../php/php-request.ts';
import type { CapturedResponse } from './compare.ts';

/**
 * A copy of PHP's answer taken on the side while it streams to the client (php-request.ts calls it):
 * the head, and the body up to `limit` bytes. Past the limit the body is no longer kept (the shadow
 * is then counted as skipped-large, not compared), so memory stays bounded whatever PHP sends.
 */
export class ResponseCapture implements ResponseTap {
  private status = 0;
  private headers: Array<readonly [string, string]> = [];
  private chunks: Buffer[] = [];
  private size = 0;
  /** PHP finished its answer (not cut, not failed). */
  ended = false;

  constructor(private readonly limit: number) {}

  get overLimit(): boolean {
    return this.size > this.limit;
  }

  head(head: CgiHead): void {
    this.status = head.status;
    this.headers = head.headers.map(([n, v]) => [n.toLowerCase(), v] as const);
  }

  body(chunk: Buffer): void {
    this.size += chunk.length;
    // Copied: stdout comes as slices of php-fpm's socket reads (fastcgi/reader.ts); a slice kept would
    // keep its whole read buffer alive.
    if (this.size <= this.limit) this.chunks.push(Buffer.from(chunk));
    else this.chunks = [];
  }

  end(): void {
    this.ended = true;
  }

  /** What PHP answered; only meaningful once ended and within the limit. */
  response(): CapturedResponse {
    return { status: this.status, headers: this.headers, body: Buffer.concat(this.chunks) };
  }
}
