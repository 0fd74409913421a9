/**
 * FastCGI 1.0 record layout and constants.
 * Spec: https://fastcgi-archives.github.io/FastCGI_Specification.html (section 3.3, 8).
 *
 *   version(1) type(1) requestId(2, BE) contentLength(2, BE) paddingLength(1) reserved(1)
 *   contentData[contentLength] paddingData[paddingLength]
 */
export const FCGI_VERSION_1 = 1;
export const HEADER_LENGTH = 8;
/** contentLength is 16 bits, so one record carries at most this many bytes (spec 3.3). */
export const MAX_CONTENT_LENGTH = 0xffff;

export const RecordType = {
  BeginRequest: 1,
  AbortRequest: 2,
  EndRequest: 3,
  Params: 4,
  Stdin: 5,
  Stdout: 6,
  Stderr: 7,
  Data: 8,
  GetValues: 9,
  GetValuesResult: 10,
  UnknownType: 11,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export const Role = { Responder: 1 } as const;
/** FCGI_KEEP_CONN: the application must not close the connection after the request (spec 5.1). */
export const FLAG_KEEP_CONN = 1;

/** protocolStatus of FCGI_END_REQUEST (spec 5.5). */
export const ProtocolStatus = {
  RequestComplete: 0,
  CantMultiplex: 1,
  Overloaded: 2,
  UnknownRole: 3,
} as const;

/** Writes a record header into `target` at `offset`. */
export function writeHeader(
  target: Buffer,
  offset: number,
  type: RecordType,
  requestId: number,
  contentLength: number,
  paddingLength: number,
): void {
  target[offset] = FCGI_VERSION_1;
  target[offset + 1] = type;
  target[offset + 2] = (requestId >> 8) & 0xff;
  target[offset + 3] = requestId & 0xff;
  target[offset + 4] = (contentLength >> 8) & 0xff;
  target[offset + 5] = contentLength & 0xff;
  target[offset + 6] = paddingLength;
  target[offset + 7] = 0;
}

/** Padding that rounds a record's content up to 8 bytes, as the spec recommends (3.3) and nginx does. */
export function paddingFor(contentLength: number): number {
  return (8 - (contentLength & 7)) & 7;
}
