<?php
// A 1 MiB response without Content-Length, like a typical generated page: the front must stream it.
echo str_repeat('x', 1048576);
