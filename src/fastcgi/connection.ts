import { connect, type Socket } from 'node:net';
import { connectOptions, formatAddress, type FcgiAddress } from './address.ts';
import { FcgiError } from './errors.ts';
import { RecordReader } from './reader.ts';
import { ProtocolStatus, RecordType } from './record.ts';
import { encodeRequestHead, encodeStdinEnd, stdinRecords } from './writer.ts';

/** The close of a connection with no request in progress: nobody gets this error, the pool only counts the close. */
const CLOSED_IDLE = new FcgiError('closed', 'php-fpm closed a connection with no request in progress');

/**
 * php-fpm serves the requests of one connection one after the other (it never multiplexes). Ids 1 and
 * 2 alternate so a record of the request before (stdout after its END_REQUEST) is never taken for
 * the current one's.
 */
const nextId = (id: number) => (id === 1 ? 2 : 1);

/** What the caller gets back from php-fpm, as it arrives. */
export interface ResponseSink {
  /**
   * A piece of stdout: a view of the shared read buffer, valid only during the call (a sink copies
   * what it keeps; one that writes it to a file at once needs no copy). Return false to stop reading
   * from php-fpm until `resume()` (backpressure).
   */
  onStdout(data: Buffer): boolean;
  /** A piece of stderr, a view valid only during the call, as stdout's. */
  onStderr(data: Buffer): void;
  /** FCGI_END_REQUEST with FCGI_REQUEST_COMPLETE; `appStatus` is the script's exit status. */
  onEnd(appStatus: number): void;
  onError(err: FcgiError): void;
}

/**
 * Every php-fpm socket reads into this one buffer (net's onread): no allocation per read. What is read
 * is parsed at once; stdout and stderr go to the sink as views of it, and what outlives the call (a
 * piece the client has not taken yet, a record split across reads) is copied out by whoever keeps it,
 * so the next read, on any connection, may overwrite it. What goes to the spool file is never copied.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

/** The first bytes a peer ever sent us look like an HTTP response (a web server, not php-fpm). */
function speaksHttp(chunk: Buffer, served: number, answered: boolean): boolean {
  return served === 0 && !answered && chunk.toString('latin1', 0, 5) === 'HTTP/';
}

export type RequestBody = readonly Buffer[] | AsyncIterable<Buffer>;

export interface Exchange {
  params: Buffer;
  body: RequestBody | null;
  sink: ResponseSink;
}

/**
 * One socket to php-fpm, kept alive across requests (FCGI_KEEP_CONN). It serves one request at a
 * time. The pool owns the connection; `onDone` and `onClose` report back to it.
 */
export class FcgiConnection {
  readonly socket: Socket;
  private readonly reader: RecordReader;
  /** The request being answered. */
  private current: Exchange | null = null;
  private currentId = 1;
  /** Any response byte seen for the current exchange (a retry is safe only before that). */
  private answered = false;
  private closed = false;
  private connected = false;
  /** Requests completed on this socket; > 0 means a reused connection. */
  served = 0;
  idleTimer: NodeJS.Timeout | null = null;

  constructor(
    address: FcgiAddress,
    private readonly onDone: (conn: FcgiConnection, reusable: boolean) => void,
    /** The socket is gone. `current` is the request it was answering, if any (the pool retries or fails it). */
    private readonly onClose: (conn: FcgiConnection, current: Exchange | null, answered: boolean, err: FcgiError) => void,
  ) {
    this.reader = new RecordReader({
      onStream: (type, id, data) => this.onStream(type, id, data),
      onRecord: (type, id, content) => this.onRecord(type, id, content),
    });
    this.socket = connect({
      ...connectOptions(address),
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number) => {
          const chunk = READ_BUFFER.subarray(0, n);
          try {
            this.reader.push(chunk);
          } catch (err) {
            this.fail(new FcgiError('protocol', speaksHttp(chunk, this.served, this.answered)
              ? `${formatAddress(address)} answered in HTTP, not FastCGI: is --fpm pointing at a web server instead of php-fpm?`
              : `bad FastCGI from ${formatAddress(address)}: ${(err as Error).message}`));
          }
          // Backpressure pauses the socket itself (pause()), not through this return value.
          return true;
        },
      },
    });
    this.socket.once('connect', () => (this.connected = true));
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      // socket.connecting is already false when a failed connect reports its error.
      const what = this.connected ? 'closed' : 'connect';
      this.closeWith(new FcgiError(what, `php-fpm at ${formatAddress(address)}: ${err.message}`, err.code));
    });
    this.socket.on('close', () => {
      if (this.closed) return;
      // Most closes end no exchange (a connection retired after a POST, an idle one): they share one
      // error, since an Error made per close captures a stack (about 10 µs of a POST in a profile).
      this.closeWith(this.current ? new FcgiError('closed', `php-fpm at ${formatAddress(address)} closed the connection`) : CLOSED_IDLE);
    });
    this.socket.on('end', () => this.socket.end());
  }

  /** The request being answered, if any. */
  get exchange(): Exchange | null {
    return this.current;
  }

  get busy(): boolean {
    return this.current !== null;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends a request: the connection must be idle. */
  start(exchange: Exchange): void {
    this.current = exchange;
    this.answered = false;
    const id = this.currentId;
    const { body, params } = exchange;
    const sync = body === null || Array.isArray(body);
    const chunks = sync ? ((body ?? []) as readonly Buffer[]) : [];
    const hasBody = chunks.some((c) => c.length > 0);
    const head = encodeRequestHead(id, params, true, sync && !hasBody);
    if (sync && !hasBody) {
      this.socket.write(head);
      return;
    }
    this.socket.cork();
    this.socket.write(head);
    if (sync) {
      for (const c of chunks) if (c.length > 0) for (const piece of stdinRecords(id, c)) this.socket.write(piece);
      this.socket.write(encodeStdinEnd(id));
      this.socket.uncork();
      return;
    }
    this.socket.uncork();
    void this.streamBody(body as AsyncIterable<Buffer>, exchange, id);
  }

  private stillSending(exchange: Exchange): boolean {
    return !this.closed && this.current === exchange;
  }

  /**
   * Writes a large or file-backed body record by record. Each chunk is handed to the socket (its
   * write done) before the next is asked for: backpressure, and the body may reuse one buffer for
   * every chunk (BufferedBody.streamReused).
   */
  private async streamBody(body: AsyncIterable<Buffer>, exchange: Exchange, id: number): Promise<void> {
    try {
      for await (const c of body) {
        if (!this.stillSending(exchange)) return;
        if (c.length === 0) continue;
        await new Promise<void>((resolve) => {
          const done = () => { this.socket.off('close', done); resolve(); };
          this.socket.on('close', done);
          const pieces = stdinRecords(id, c);
          const last = pieces.length - 1;
          for (let i = 0; i < last; i++) this.socket.write(pieces[i]!);
          this.socket.write(pieces[last]!, done);
        });
      }
      if (this.stillSending(exchange)) this.socket.write(encodeStdinEnd(id));
    } catch (err) {
      if (this.stillSending(exchange)) this.fail(new FcgiError('closed', `request body failed: ${(err as Error).message}`));
    }
  }

  /** Backpressure from `exchange`'s client; ignored unless it is the one being answered. */
  pause(exchange: Exchange): void {
    if (exchange !== this.current) return;
    this.socket.pause();
  }

  resume(exchange: Exchange): void {
    if (exchange !== this.current) return;
    this.socket.resume();
  }

  /**
   * Drops the connection because `exchange` is over for its caller (client gone, timeout). php-fpm
   * ignores FCGI_ABORT_REQUEST, so the socket goes.
   */
  abort(exchange: Exchange): void {
    if (this.current !== exchange) return;
    this.current = null;
    this.socket.destroy();
  }

  /** Closes the connection; only for an idle one (or a pool shutting down). */
  destroy(): void {
    this.socket.destroy();
  }

  private onStream(type: number, id: number, data: Buffer): void {
    const ex = this.current;
    if (!ex || id !== this.currentId) return this.fail(new FcgiError('protocol', `php-fpm sent output for request ${id} with none of ours in progress`));
    this.answered = true;
    // `data` is a view of the shared read buffer: the sink copies what it keeps.
    if (type === RecordType.Stdout) {
      if (!ex.sink.onStdout(data)) this.pause(ex);
    } else {
      ex.sink.onStderr(data);
    }
  }

  private onRecord(type: number, id: number, content: Buffer): void {
    const ex = this.current;
    if (!ex || id !== this.currentId) {
      return this.fail(new FcgiError('protocol', `unexpected FastCGI record type ${type} for request ${id}`));
    }
    if (type !== RecordType.EndRequest || content.length < 5) {
      return this.fail(new FcgiError('protocol', `unexpected FastCGI record type ${type} (length ${content.length})`));
    }
    const appStatus = content.readUInt32BE(0);
    const protocolStatus = content[4];
    if (protocolStatus !== ProtocolStatus.RequestComplete) {
      const kind = protocolStatus === ProtocolStatus.Overloaded ? 'overloaded' : 'protocol';
      this.current = null;
      ex.sink.onError(new FcgiError(kind, `php-fpm refused the request (protocol status ${String(protocolStatus)})`));
      this.onDone(this, false);
      this.socket.destroy();
      return;
    }
    this.served++;
    this.current = null;
    this.currentId = nextId(this.currentId);
    this.answered = false;
    // The last stdout of this chunk may have paused the socket (a slow client) just before this
    // END_REQUEST was read from the same chunk: nothing will resume it now, so resume it here, or the
    // next request on this connection never hears back (and a close by php-fpm goes unnoticed).
    this.socket.resume();
    ex.sink.onEnd(appStatus);
    this.onDone(this, this.reader.atRecordBoundary && !this.closed);
  }

  /** Ends the exchanges with `err` and drops the socket. */
  fail(err: FcgiError): void {
    this.closeWith(err);
    this.socket.destroy();
  }

  private closeWith(err: FcgiError): void {
    if (this.closed) return;
    this.closed = true;
    const current = this.current;
    this.current = null;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.onClose(this, current, this.answered, err);
  }
}
