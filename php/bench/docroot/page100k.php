<?php
// About 100 KiB of HTML (a listing page, the kind compression is for), the same bytes every time.
header('Content-Type: text/html; charset=utf-8');
$out = "<!doctype html><title>Packages</title><table>\n";
for ($i = 0; strlen($out) < 102400; $i++) {
    $out .= '<tr><td><a href="/packages/pkg-' . $i . '">pkg-' . $i . '</a></td><td>' . (($i * 7919) % 10007) . " downloads</td><td>maintained</td></tr>\n";
}
echo substr($out, 0, 102400);
