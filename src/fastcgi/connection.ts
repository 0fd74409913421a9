import { connect, type Socket } from 'node:net';
import { connectOptions, formatAddress, type FcgiAddress } from './address.ts';
import { FcgiError } from './errors.ts';
import { FastCGIProtocolError, RecordReader } from './reader.ts';
import { ProtocolStatus, RecordType } from './record.ts';
import { encodeRequestHead, encodeStdinEnd, stdinRecords } from './writer.ts';

/** php-fpm serves one request per connection at a time (it never multiplexes), so the id is fixed. */
const REQUEST_ID = 1;

/** What the caller gets back from php-fpm, as it arrives. */
export interface ResponseSink {
  /** A piece of stdout. Return false to stop reading from php-fpm until `resume()` (backpressure). */
  onStdout(data: Buffer): boolean;
  onStderr(data: Buffer): void;
  /** FCGI_END_REQUEST with FCGI_REQUEST_COMPLETE; `appStatus` is the script's exit status. */
  onEnd(appStatus: number): void;
  onError(err: FcgiError): void;
}

export type RequestBody = readonly Buffer[] | AsyncIterable<Buffer>;

export interface Exchange {
  params: Buffer;
  body: RequestBody | null;
  sink: ResponseSink;
}

/**
 * One socket to php-fpm, kept alive across requests (FCGI_KEEP_CONN) and used by one request at a time.
 * The pool owns it; it reports back through `onDone` whether it can be reused.
 */
export class FcgiConnection {
  readonly socket: Socket;
  private readonly reader: RecordReader;
  private exchange: Exchange | null = null;
  /** Any response byte seen for the current exchange (a retry is safe only before that). */
  private answered = false;
  private closed = false;
  private connected = false;
  /** Requests completed on this socket; > 0 means a reused connection. */
  served = 0;
  /** performance.now() at the last END_REQUEST. */
  lastEndAt = 0;
  idleTimer: NodeJS.Timeout | null = null;

  constructor(
    address: FcgiAddress,
    private readonly onDone: (conn: FcgiConnection, reusable: boolean) => void,
    /** The socket is gone. `exchange` is the request it was serving, if any: the pool retries or fails it. */
    private readonly onClose: (conn: FcgiConnection, exchange: Exchange | null, err: FcgiError, answered: boolean) => void,
  ) {
    this.reader = new RecordReader({
      onStream: (type, _id, data) => this.onStream(type, data),
      onRecord: (type, id, content) => this.onRecord(type, id, content),
    });
    this.socket = connect(connectOptions(address));
    this.socket.on('data', (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (err) {
        this.fail(new FcgiError('protocol', `bad FastCGI from ${formatAddress(address)}: ${(err as Error).message}`));
      }
    });
    this.socket.once('connect', () => (this.connected = true));
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      // socket.connecting is already false when a failed connect reports its error.
      const what = this.connected ? 'closed' : 'connect';
      this.closeWith(new FcgiError(what, `php-fpm at ${formatAddress(address)}: ${err.message}`, err.code));
    });
    this.socket.on('close', () => {
      this.closeWith(new FcgiError('closed', `php-fpm at ${formatAddress(address)} closed the connection`));
    });
    this.socket.on('end', () => this.socket.end());
  }

  get busy(): boolean {
    return this.exchange !== null;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends a request. The connection must be idle. */
  start(exchange: Exchange): void {
    this.exchange = exchange;
    this.answered = false;
    const { body, params } = exchange;
    const sync = body === null || Array.isArray(body);
    const chunks = sync ? ((body ?? []) as readonly Buffer[]) : [];
    const hasBody = chunks.some((c) => c.length > 0);
    const head = encodeRequestHead(REQUEST_ID, params, true, sync && !hasBody);
    if (sync && !hasBody) {
      this.socket.write(head);
      return;
    }
    this.socket.cork();
    this.socket.write(head);
    if (sync) {
      for (const c of chunks) if (c.length > 0) for (const piece of stdinRecords(REQUEST_ID, c)) this.socket.write(piece);
      this.socket.write(encodeStdinEnd(REQUEST_ID));
      this.socket.uncork();
      return;
    }
    this.socket.uncork();
    void this.streamBody(body as AsyncIterable<Buffer>, exchange);
  }

  /** Writes a large or file-backed body record by record, waiting for the socket to drain. */
  private async streamBody(body: AsyncIterable<Buffer>, exchange: Exchange): Promise<void> {
    try {
      for await (const c of body) {
        if (this.exchange !== exchange || this.closed) return;
        if (c.length === 0) continue;
        let ok = true;
        for (const piece of stdinRecords(REQUEST_ID, c)) ok = this.socket.write(piece);
        if (!ok) await new Promise<void>((resolve) => {
          const done = () => { this.socket.off('drain', done); this.socket.off('close', done); resolve(); };
          this.socket.on('drain', done);
          this.socket.on('close', done);
        });
      }
      if (this.exchange === exchange && !this.closed) this.socket.write(encodeStdinEnd(REQUEST_ID));
    } catch (err) {
      if (this.exchange === exchange) this.fail(new FcgiError('closed', `request body failed: ${(err as Error).message}`));
    }
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Drops the connection (client went away, timeout, protocol error). php-fpm ignores FCGI_ABORT_REQUEST. */
  destroy(): void {
    this.exchange = null;
    this.socket.destroy();
  }

  private onStream(type: number, data: Buffer): void {
    const ex = this.exchange;
    if (!ex) return this.fail(new FcgiError('protocol', 'php-fpm sent output with no request in progress'));
    this.answered = true;
    if (type === RecordType.Stdout) {
      if (!ex.sink.onStdout(data)) this.socket.pause();
    } else {
      ex.sink.onStderr(data);
    }
  }

  private onRecord(type: number, id: number, content: Buffer): void {
    const ex = this.exchange;
    if (!ex || id !== REQUEST_ID) {
      return this.fail(new FcgiError('protocol', `unexpected FastCGI record type ${type} for request ${id}`));
    }
    if (type !== RecordType.EndRequest || content.length < 5) {
      return this.fail(new FcgiError('protocol', `unexpected FastCGI record type ${type} (length ${content.length})`));
    }
    this.answered = true;
    const appStatus = content.readUInt32BE(0);
    const protocolStatus = content[4];
    this.exchange = null;
    if (protocolStatus !== ProtocolStatus.RequestComplete) {
      const kind = protocolStatus === ProtocolStatus.Overloaded ? 'overloaded' : 'protocol';
      ex.sink.onError(new FcgiError(kind, `php-fpm refused the request (protocol status ${String(protocolStatus)})`));
      this.onDone(this, false);
      this.socket.destroy();
      return;
    }
    this.served++;
    this.lastEndAt = performance.now();
    // The last stdout of this chunk may have paused the socket (a slow client) just before this
    // END_REQUEST was read from the same chunk: nothing will resume it now, so resume it here, or the
    // next request on this connection never hears back (and a close by php-fpm goes unnoticed).
    this.socket.resume();
    ex.sink.onEnd(appStatus);
    this.onDone(this, this.reader.atRecordBoundary && !this.closed);
  }

  /** Ends the exchange with `err` and drops the socket. */
  fail(err: FcgiError): void {
    this.closeWith(err);
    this.socket.destroy();
  }

  private closeWith(err: FcgiError): void {
    if (this.closed) return;
    this.closed = true;
    const ex = this.exchange;
    this.exchange = null;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.onClose(this, ex, err, this.answered);
  }
}
