<?php
// ?mb= MiB (default 1024) in 64 KiB writes, unbuffered, for the slow-client check: the front must
// apply backpressure instead of buffering what the client has not read yet.
set_time_limit(0);
$mb = isset($_GET['mb']) ? max(0, (int) $_GET['mb']) : 1024;
$chunk = str_repeat('z', 65536);
header('Content-Type: application/octet-stream');
header('Content-Length: ' . ($mb * 1048576));
while (ob_get_level() > 0) {
    ob_end_flush();
}
for ($i = 0, $n = $mb * 16; $i < $n; $i++) {
    echo $chunk;
}
