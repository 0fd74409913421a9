/** Where the ledger lives unless told (`--ledger FILE`): under the working directory, like a project's own state. */
export const DEFAULT_LEDGER = '.fpm-bridge/ledger.sqlite';
