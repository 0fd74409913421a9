/**
 * Who produced the response, as the access log shows it: `php→app` is PHP's 404 taken by the app,
 * `php→app→php` PHP's 404 that stands because the app declined too, `app→php` a claimed route the
 * app declined (404) and PHP served.
 */
export type ServedBy = 'php' | 'static' | 'app' | 'php→app' | 'php→app→php' | 'app→php' | 'bridge';

export interface AccessEntry {
  /** The bridge's request id (PHP's stderr lines of the request carry the same). */
  id?: number;
  method: string;
  url: string;
  status: number;
  bytes: number;
  durationMs: number;
  servedBy: ServedBy;
  remoteAddress: string;
}

export interface Logger {
  access(entry: AccessEntry): void;
  /**
   * A line PHP wrote to stderr (error_log, warnings), with the request it belongs to: `id` tells
   * apart two identical requests running at once.
   */
  phpStderr(method: string, url: string, line: string, id?: number): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string, err?: unknown): void;
}

export const silentLogger: Logger = {
  access() {},
  phpStderr() {},
  info() {},
  warn() {},
  error() {},
};
