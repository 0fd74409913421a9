import { FCGI_VERSION_1, HEADER_LENGTH, RecordType } from './record.ts';

/** A peer broke the FastCGI framing: the connection cannot be trusted any more. */
export class FastCGIProtocolError extends Error {
  override name = 'FastCGIProtocolError';
}

export interface RecordSink {
  /**
   * Content of an FCGI_STDOUT or FCGI_STDERR record, delivered as it arrives: one record may come in
   * several pieces, and a piece never spans two records. Zero-copy views of the pushed chunk, valid
   * only during the call: the chunk's memory may be read into again after push() (the connection
   * reads into one shared buffer), so a sink copies what it keeps.
   */
  onStream(type: typeof RecordType.Stdout | typeof RecordType.Stderr, requestId: number, data: Buffer): void;
  /** Any other record, delivered whole once its content is complete. */
  onRecord(type: number, requestId: number, content: Buffer): void;
}

const enum State {
  Header,
  Content,
  Padding,
}

/**
 * Incremental FastCGI record parser. Accepts the byte stream in chunks of any size (a header split
 * across socket reads included) and never buffers stream content: stdout is passed on as it arrives,
 * so a large response costs no more memory than one socket read.
 */
export class RecordReader {
  private state = State.Header;
  private readonly header = Buffer.alloc(HEADER_LENGTH);
  private headerFill = 0;
  private type = 0;
  private requestId = 0;
  private contentLeft = 0;
  private paddingLeft = 0;
  /** Pieces of a non-stream record's content, joined when it is complete. */
  private pieces: Buffer[] = [];

  constructor(private readonly sink: RecordSink) {}

  /** Throws FastCGIProtocolError on a bad version byte; the caller must then drop the connection. */
  push(chunk: Buffer): void {
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      switch (this.state) {
        case State.Header: {
          // Fast path: the whole header is in this chunk.
          if (this.headerFill === 0 && end - at >= HEADER_LENGTH) {
            this.startRecord(chunk, at);
            at += HEADER_LENGTH;
          } else {
            const n = Math.min(HEADER_LENGTH - this.headerFill, end - at);
            chunk.copy(this.header, this.headerFill, at, at + n);
            this.headerFill += n;
            at += n;
            if (this.headerFill === HEADER_LENGTH) {
              this.headerFill = 0;
              this.startRecord(this.header, 0);
            }
          }
          break;
        }
        case State.Content: {
          const n = Math.min(this.contentLeft, end - at);
          this.content(chunk.subarray(at, at + n));
          at += n;
          this.contentLeft -= n;
          if (this.contentLeft === 0) this.endContent();
          break;
        }
        case State.Padding: {
          const n = Math.min(this.paddingLeft, end - at);
          at += n;
          this.paddingLeft -= n;
          if (this.paddingLeft === 0) this.state = State.Header;
          break;
        }
      }
    }
  }

  /** True when the stream stopped between records (a truncated record otherwise). */
  get atRecordBoundary(): boolean {
    return this.state === State.Header && this.headerFill === 0;
  }

  private startRecord(buf: Buffer, at: number): void {
    const version = buf[at];
    if (version !== FCGI_VERSION_1) {
      throw new FastCGIProtocolError(`unsupported FastCGI version byte ${String(version)}`);
    }
    this.type = buf[at + 1]!;
    this.requestId = buf.readUInt16BE(at + 2);
    this.contentLeft = buf.readUInt16BE(at + 4);
    this.paddingLeft = buf[at + 6]!;
    if (this.contentLeft > 0) {
      this.state = State.Content;
    } else {
      this.endContent();
    }
  }

  private isStream(): boolean {
    return this.type === RecordType.Stdout || this.type === RecordType.Stderr;
  }

  private content(data: Buffer): void {
    if (this.isStream()) {
      this.sink.onStream(this.type as typeof RecordType.Stdout, this.requestId, data);
    } else {
      // Copied: the chunk's memory may be reused once push() returns (a shared read buffer).
      this.pieces.push(Buffer.from(data));
    }
  }

  private endContent(): void {
    this.state = this.paddingLeft > 0 ? State.Padding : State.Header;
    if (this.isStream()) return;
    const content = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces);
    this.pieces = [];
    this.sink.onRecord(this.type, this.requestId, content);
  }
}
