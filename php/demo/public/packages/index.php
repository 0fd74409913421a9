<?php
// The package page, as in the aurweb patch this project grew from: an unknown package is a 404
// with a useful body. The new app takes over some packages; for the rest PHP's 404 stands.
$known = ['fpm-bridge' => 'Bridges PHP and TypeScript, one endpoint at a time.'];
$name = (string)($_GET['name'] ?? '');
if (!isset($known[$name])) {
    http_response_code(404);
    header('Content-Type: text/plain; charset=utf-8');
    echo "Package " . $name . " does not exist\n";
    exit;
}
?><!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title><?= htmlspecialchars($name) ?></title><link rel="stylesheet" href="/assets/style.css"></head>
<body><h1>Package <?= htmlspecialchars($name) ?></h1><p><?= htmlspecialchars($known[$name]) ?></p><p><a href="/">back</a></p></body></html>
