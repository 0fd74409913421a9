/**
 * Start-up failures of the spawned php-fpm. The message is meant for a terminal: it says what is wrong
 * and how to fix it, so the CLI prints it as is and exits 1.
 */
export class FpmStartError extends Error {
  override name = 'FpmStartError';
}

/** No php-fpm binary: the message carries the install commands. */
export class PhpFpmNotFoundError extends FpmStartError {
  override name = 'PhpFpmNotFoundError';
}
