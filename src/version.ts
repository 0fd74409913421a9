/** Kept equal to package.json's version (a unit test checks). */
export const VERSION = '0.1.0';
export const SERVER_SOFTWARE = `fpm-bridge/${VERSION}`;
