<?php
// Reads the whole request body and answers its length: the front must pass 1 MiB of body to PHP.
echo strlen(file_get_contents('php://input'));
