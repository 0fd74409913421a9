import { DEFAULTS } from '../bridge/options.ts';
import { SERVER_DEFAULTS } from '../http/listen.ts';
import { SHUTDOWN_TIMEOUT_MS } from './args.ts';

export const USAGE = 'usage: fpm-bridge [-t|--root <dir>] [--app <module>] [-p|--listen [host:]port] [--fpm <socket|host:port>] [options]';

export const HELP = `${USAGE}

One HTTP server in front of php-fpm and a new TypeScript/JavaScript app. Every request goes to PHP
first; when PHP answers 404, the app gets the same request (body included); when the app answers 404
too, the client gets PHP's original 404.

Without --fpm, fpm-bridge starts its own php-fpm (a private pool on a unix socket, sized to the machine)
and stops it on exit. With --fpm, it uses the php-fpm you run.

  -t, --root <dir>         document root (default: the current directory, like php -S)
  --app <module>           the app: .js/.mjs/.ts module whose default export is a (req, res) listener
                           (Express, Connect, Koa's callback()) or an object with fetch(request) (Hono)
  -p, --port, --listen [host:]port
                           where to listen (default 127.0.0.1:8080); repeatable, and http:// or
                           https:// before the address chooses per listener

HTTPS (see the README):
  --https                  serve HTTPS on the --listen addresses without a scheme, with a certificate
                           from a local CA made on first use in ~/.config/fpm-bridge (XDG_CONFIG_HOME);
                           it covers localhost, *.localhost, 127.0.0.1, ::1. Trust the CA once with
                           \`fpm-bridge trust\` (and remove it with \`fpm-bridge untrust\`)
  --host <name>            one more name for that certificate (app.test, *.app.test), repeatable
  --cert <file> --key <file>
                           your own certificate (chain, leaf first) and its key instead (implies --https)
  --redirect-https         HTTP listeners answer 308 to the same URL on the HTTPS listener
  --index <script>         front controller for paths that are no file (try_files ... /index.php)
  --max-body <size>        largest request body (default ${DEFAULTS.maxBody / 1024 / 1024}m); larger gets 413. The spawned
                           php-fpm gets the same post_max_size and upload_max_filesize
  --body-memory <size>     memory for request bodies in flight, all connections together (default
                           ${DEFAULTS.bodyMemoryBudget / 1024 / 1024}m); beyond it, and for any body over 1m, they spool to a private
                           0700 directory in TMPDIR
  --param NAME=VALUE       extra FastCGI param, repeatable (sent after the built-in ones)
  --server-name <name>     SERVER_NAME (default: the Host header's name)
  --env-file <file>        variables from a .env file (dotenv syntax), repeatable (a later file wins; the
                           real environment wins over all): for the app's process.env and the spawned PHP pool
  --config <file.json>     flags from a JSON file ({"root": "public", "rewrite": [...]}); flags given
                           here win; paths in it are relative to the file

Responses:
  --no-compress            send responses as they are; by default PHP, static and app responses of text
                           types (1 KiB and more) are compressed with br, zstd or gzip by Accept-Encoding
  --sendfile-root PREFIX=DIR
                           PHP may answer X-Accel-Redirect: PREFIX/file or X-Sendfile: DIR/file and the
                           bridge sends that file (Range, HEAD); repeatable; nothing outside DIR is sent

Routing (nginx equivalents in the README):
  --path-info              with --index: every path that is no .php script runs the front controller
                           with the path as PATH_INFO (aurweb, CodeIgniter 3, Kohana)
  --path-info-static       in that mode, serve existing static files first
  --follow-symlinks        serve and run files that symlinks in the root lead to outside it (nginx's
                           default); without it such paths are 404
  --rewrite 'REGEX TARGET [last|break|redirect|permanent]'
                           nginx-style rewrite, repeatable, applied in order; $1..$9 from the match;
                           the query is appended unless TARGET ends with ?

The spawned php-fpm:
  --php-fpm-bin <path>     the php-fpm binary (default: php-fpm, else the newest php-fpmX.Y, on PATH
                           or in /usr/sbin, /usr/local/sbin, /opt/homebrew/sbin)
  --php-ini KEY=VALUE      a php.ini setting, repeatable (php_value in the pool; opcache.*, xdebug.*,
                           extension and the like go on php-fpm's command line as -d). php.ini syntax
  --php-fpm-conf <file>    pool directives appended to the generated pool (pm.*, env[...], php_admin_value[...])
  --php-env NAME[=VALUE]   a variable for PHP, repeatable: its own value, or without one the bridge's.
                           The pool clears the rest of the environment (clear_env = yes): PHP sees
                           PATH, --env-file variables and these, not the bridge's secrets
  --xdebug                 load Xdebug (php8.2-xdebug) for step debugging: xdebug.mode=debug,develop,
                           start_with_request=trigger, client 127.0.0.1:9003 (--php-ini xdebug.* wins)

A php-fpm of your own:
  --fpm <addr>             its address: a unix socket path (/run/php/php8.2-fpm.sock) or host:port;
                           repeatable ('10.0.0.2:9000 weight=2'): several pools, least outstanding
                           requests first, one that cannot be reached skipped until it answers again

Times <t> are 500ms, 5s, 2m, 1h (plain numbers are seconds); 0 turns any timeout off.

Connections to php-fpm:
  --fpm-connections <n>    kept-alive connections (default: the spawned pool's workers, or ${DEFAULTS.fpmConnections} with
                           --fpm). Each holds a php-fpm worker even when idle: keep it at most the pool's
                           pm.max_children (with the spawned pool, larger is lowered to it)
  --fpm-queue <n>          requests that may wait for a connection (default ${DEFAULTS.fpmQueue}); beyond, 503
  --fpm-queue-timeout <t>  longest wait for a connection (default ${DEFAULTS.fpmQueueTimeoutMs / 1000}s; 0: none); then 503
  --connect-timeout <t>    connecting to php-fpm (default ${DEFAULTS.connectTimeoutMs / 1000}s); on timeout, 504
  --fpm-timeout <t>        waiting for PHP's response headers (default ${DEFAULTS.responseTimeoutMs / 1000}s); then 504
  --idle-timeout <t>       an idle kept-alive php-fpm connection is closed after (default ${DEFAULTS.idleTimeoutMs / 1000}s)
  --send-timeout <t>       a client that takes no byte of a PHP response for this long is cut (default
                           ${DEFAULTS.sendTimeoutMs / 1000}s, nginx send_timeout; 0: none)

Hardening (see SECURITY.md):
  --trust-proxy <list>     proxies whose X-Forwarded-For/-Proto/-Host become REMOTE_ADDR, HTTPS and
                           HTTP_HOST: addresses or CIDR ranges, comma-separated or repeated, or
                           loopback, linklocal, uniquelocal (default: none; the headers pass as HTTP_X_*)
  --max-header-size <size> request line and headers (default ${SERVER_DEFAULTS.maxHeaderSize / 1024}k); larger gets 431
  --max-headers <n>        header fields (default ${SERVER_DEFAULTS.maxHeaders}); more gets 431
  --header-timeout <t>     the request head must arrive within (default ${SERVER_DEFAULTS.headerTimeoutMs / 1000}s); then 408
  --body-timeout <t>       a request body that sends nothing for this long (default ${DEFAULTS.bodyTimeoutMs / 1000}s); then 408
  --keepalive-timeout <t>  an idle client connection is closed after (default ${SERVER_DEFAULTS.keepAliveTimeoutMs / 1000}s)
  --app-timeout <t>        the app must start its answer within, and never go quiet for longer (default
                           ${DEFAULTS.appTimeoutMs / 1000}s); else 504, or the connection is cut mid-response
  --shutdown-timeout <t>   on SIGTERM, in-flight requests get this long to finish (default ${SHUTDOWN_TIMEOUT_MS / 1000}s)

Processes:
  --workers <n|auto>       n processes share the port (auto: one per core), one php-fpm for all;
                           --fpm-connections is then split between them. SIGHUP starts new workers
                           (the app loaded afresh) and retires the old ones once they finish; a
                           worker that dies is replaced. Default 1: this process serves

Operators:
  --admin-listen <addr>    [host:]port for /healthz (alive), /readyz (php-fpm answers; else 503) and
                           /metrics (Prometheus); off by default, never on the --listen port
  --fpm-ping-path <path>   php-fpm's ping.path: /readyz asks a php-fpm worker instead of only connecting
  --fpm-status-path <path> php-fpm's pm.status_path: /metrics includes its active/idle workers, listen
                           queue and max children reached

Serving the app to nginx:
  --fastcgi-listen <addr>  also serve the app over FastCGI on a socket path or [host:]port, for an nginx
                           kept in front (error_page 404 = @app; location @app { fastcgi_pass ...; })

Migrating to the app (README "Migrating an application"):
  --claim 'PATTERN'        a route the app owns, repeatable (also "claim" in --config, and
                           export const claims = [...] in the app module): [!][METHODS ]/path with
                           :param segments and a trailing *, e.g. 'GET,HEAD /packages/:name', '/api/*'.
                           The app answers first; its 404 gives the request to PHP (body replayed),
                           unless the pattern starts with ! (strict: the app's 404 stands)
  --order <order>          php-first (default) or app-first: every request to the app first, PHP
                           (and the docroot) on its 404
  --shadow 'PATTERN'       run the app beside PHP on these routes, repeatable (also "shadow" in
                           --config): the client gets PHP's answer, the app a replay in the background,
                           and the two answers are compared (a mismatch logs one line with a diff).
                           Same patterns as --claim, GET, HEAD and OPTIONS only; a trailing @RATE
                           samples that route ('GET /api/* @0.1': a tenth of its requests)
  --shadow-rate <r>        the share shadowed for patterns without @RATE, 0 to 1 or 10% (default 1)
  --shadow-unsafe          shadow every method (the app runs a POST a second time: staging copies only)
  --shadow-headers <list>  response headers compared (default content-type,location,cache-control)
  --shadow-ignore-json <p> a JSON pointer left out of the comparison, repeatable (/meta/time;
                           * for any key or index: /items/*/updated_at)
  --shadow-ignore-text RE  a regex whose matches are left out of text bodies, JSON strings and the
                           compared headers, repeatable ('name="csrf" value="[^"]*"')
  --shadow-concurrency <n> most shadows at once (default 4); beyond, skipped and counted. Bodies past
                           1 MiB are not compared; an app that hangs is cut by --app-timeout
  --shadow-noise           ask PHP twice (GET, HEAD, OPTIONS without a body) and leave out of the
                           comparison what differs between its two answers (times, tokens, ids)
  --ledger <file>          count who served every request, by route and hour, in this SQLite file
                           (default .fpm-bridge/ledger.sqlite under the working directory; Node 22.5+)
  --no-ledger              keep no ledger
  fpm-bridge report [--ledger FILE] [--since 7d] [--json]
                           what is left to migrate: routes by traffic, the share PHP and the app
                           served, when PHP last served each, shadow match rates, ready to claim

Development and output:
  --watch                  reload the app when a .ts/.js/.json file under its directory changes
                           (node_modules, vendor and dot-folders aside): new requests get the new
                           code, in-flight ones finish on the old; php-fpm and the socket stay. A
                           broken file is reported once and the last good app keeps serving
  --dev, --no-dev          development mode (default: on with a spawned php-fpm or --watch, off with
                           --fpm): PHP's errors displayed (display_errors=On, error_reporting=E_ALL); off,
                           they are hidden (display_errors=Off) and only logged
  --open                   open the URL in the browser once listening
  --log-format <fmt>       text (default; coloured on a terminal) or json (one object per line)
  --quiet                  no access log
  -h, --help               this help
  -v, --version            the version

Sizes take k, m, g; times take ms, s, m (a bare number is seconds).
Exit codes: 0 after a clean stop (SIGINT/SIGTERM; SIGHUP too, without --workers), 1 when start-up fails, 2 for bad flags.`;
