<?php
// PHP hello: the per-request cost of the front, with almost no PHP work.
echo 'Hello from PHP';
