<?php
// The legacy PHP app's home page. It links to pages PHP still serves and to URLs the new
// TypeScript app (../app.ts) has taken over: PHP answers those with 404 and the bridge hands them on.
$rows = [
    ['/', 'php', 'this page'],
    ['/form.php', 'php', 'a form that POSTs back to PHP'],
    ['/packages/?name=fpm-bridge', 'php', 'a package page PHP still owns'],
    ['/packages/?name=nope', 'php→app→php', 'PHP says 404 "Package nope does not exist"; the app declines too; PHP\'s 404 body reaches you'],
    ['/packages/?name=hello', 'php→app', 'PHP says 404; the app has taken this package over'],
    ['/hello', 'app', 'no PHP script here: the bridge goes straight to the app'],
    ['/api/time', 'app', 'a JSON endpoint of the new app'],
    ['/stream.php', 'php', 'streams with flush(): lines arrive one by one'],
    ['/assets/style.css', 'static', 'a static file'],
];
?><!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>fpm-bridge demo</title><link rel="stylesheet" href="/assets/style.css"></head>
<body>
<h1>fpm-bridge demo</h1>
<p>Served by PHP <?= htmlspecialchars(PHP_VERSION) ?> through <code><?= htmlspecialchars($_SERVER['SERVER_SOFTWARE'] ?? '?') ?></code>.
Watch the terminal: each request's log line says who served it.</p>
<table>
<tr><th>URL</th><th>served by</th><th>what it shows</th></tr>
<?php foreach ($rows as [$url, $who, $what]): ?>
<tr><td><a href="<?= htmlspecialchars($url) ?>"><?= htmlspecialchars($url) ?></a></td><td><?= htmlspecialchars($who) ?></td><td><?= htmlspecialchars($what) ?></td></tr>
<?php endforeach; ?>
</table>
<form method="post" action="/hello"><p>POST to the app (the body is replayed to it):
<input name="message" value="hi from a form"> <button>send</button></p></form>
</body>
</html>
