<?php
// Streams five lines a quarter second apart: each flush() reaches the browser at once.
header('Content-Type: text/plain; charset=utf-8');
header('X-Accel-Buffering: no');
while (ob_get_level() > 0) ob_end_flush();
for ($i = 1; $i <= 5; $i++) {
    echo "line $i of 5 at " . date('H:i:s') . substr(sprintf('%.3f', microtime(true)), -4) . "\n";
    flush();
    usleep(250000);
}
