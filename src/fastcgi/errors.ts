/**
 * Why a FastCGI request failed. Each kind maps to the status nginx gives in the same case:
 * an unreachable or broken upstream is 502, a timed-out one 504, a full pool or an overloaded
 * php-fpm 503.
 */
export type FcgiErrorKind =
  | 'connect' // could not connect (ENOENT, ECONNREFUSED, EACCES...)
  | 'connect-timeout'
  | 'response-timeout' // no response header in time
  | 'closed' // php-fpm closed the connection before END_REQUEST
  | 'protocol' // broken framing or an unexpected record
  | 'overloaded' // END_REQUEST with FCGI_OVERLOADED
  | 'busy' // our own pool queue is full
  | 'queue-timeout' // waited in our queue past its deadline
  | 'closing'; // the client is shutting down

export class FcgiError extends Error {
  override name = 'FcgiError';
  constructor(
    readonly kind: FcgiErrorKind,
    message: string,
    /** errno code from the socket, when there was one (ECONNREFUSED, ENOENT, EPIPE...). */
    readonly code?: string,
  ) {
    super(message);
  }

  get httpStatus(): 502 | 503 | 504 {
    switch (this.kind) {
      case 'connect-timeout':
      case 'response-timeout':
        return 504;
      case 'overloaded':
      case 'busy':
      case 'queue-timeout':
      case 'closing':
        return 503;
      default:
        return 502;
    }
  }
}
