/** How to get php-fpm, for each platform people run fpm-bridge on. Printed when no binary is found. */
export const INSTALL_HINT = `Install php-fpm:
  Debian/Ubuntu:  sudo apt-get install php-fpm       (one version: sudo apt-get install php8.2-fpm)
  Fedora/RHEL:    sudo dnf install php-fpm
  Alpine:         apk add php82-fpm                  (the binary is php-fpm82)
  macOS:          brew install php                   (the binary is $(brew --prefix)/sbin/php-fpm)
Then run fpm-bridge again, or name the binary with --php-fpm-bin <path>,
or use a php-fpm you run yourself with --fpm <socket|host:port>.`;
