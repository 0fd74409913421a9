// What may differ between nginx + php-fpm and the bridge on one pool, and why: shared by the
// $_SERVER parity tests (params-parity and path-info-parity).

/** Keys that differ between the two fronts on purpose. */
export const EXPECTED_DIFFERENCES: Record<string, string> = {
  REMOTE_PORT: "the client's ephemeral port: a different connection to each front",
  SERVER_PORT: 'each front listens on its own port',
  REQUEST_TIME: 'set by PHP when the request starts: the requests are not simultaneous',
  REQUEST_TIME_FLOAT: 'same',
  SERVER_SOFTWARE: '"nginx/1.x" versus "fpm-bridge/x.y.z"',
  SERVER_NAME: "nginx sends its server_name (localhost); the bridge, without --server-name, the Host header's name",
};

/** Keys whose value differs in a known part only; compared after this normalisation. */
export const NORMALISE: Record<string, [reason: string, fn: (v: string) => string]> = {
  HTTP_HOST: ["the Host header carries each front's own port", (v) => v.replace(/:\d+$/, ':PORT')],
};
