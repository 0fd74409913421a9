import type { ServerResponse } from 'node:http';

/**
 * Node's own response methods, called with the response as `this`. Used to write to a response whose
 * public methods were replaced (see app/fallback-response.ts).
 */
export interface ResponseMethods {
  writeHead(this: ServerResponse, status: number, statusMessage: string, headers: string[]): unknown;
  write(this: ServerResponse, chunk: Buffer): boolean;
  end(this: ServerResponse, chunk?: Buffer): unknown;
}

export function ownMethods(res: ServerResponse): ResponseMethods {
  return { writeHead: res.writeHead, write: res.write, end: res.end } as unknown as ResponseMethods;
}
