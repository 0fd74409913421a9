/** Who produced the response, as the access log shows it. */
export type ServedBy = 'php' | 'static' | 'app' | 'php→app' | 'bridge';

export interface AccessEntry {
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
  /** A line PHP wrote to stderr (error_log, warnings), with the request it belongs to. */
  phpStderr(method: string, url: string, line: string): void;
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
