<?php
// A classic PHP form handler: the POST body is parsed by PHP into $_POST.
$name = $_POST['name'] ?? null;
?><!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Form</title><link rel="stylesheet" href="/assets/style.css"></head>
<body>
<h1>A PHP form</h1>
<?php if ($name !== null): ?>
<p>PHP received your POST: hello, <strong><?= htmlspecialchars($name) ?></strong>.</p>
<?php endif; ?>
<form method="post"><input name="name" placeholder="your name"> <button>send</button></form>
<p><a href="/">back</a></p>
</body></html>
