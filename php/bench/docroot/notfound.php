<?php
// PHP declines the URL: the fronts under test hand it to the app (or, for the reference, pass the 404 on).
http_response_code(404);
echo 'Package X does not exist';
