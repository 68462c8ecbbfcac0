#!/bin/bash
# The official wordpress image's start-up contract on Debian's package: WORDPRESS_DB_HOST,
# WORDPRESS_DB_USER, WORDPRESS_DB_PASSWORD, WORDPRESS_DB_NAME (and WORDPRESS_TABLE_PREFIX,
# WORDPRESS_DEBUG) become /etc/wordpress/config-default.php, which Debian's wp-config.php loads for
# any host name; the keys and salts are made once per container. Then Apache runs as PID 1.
set -euo pipefail

CONFIG=${WORDPRESS_CONFIG_FILE:-/etc/wordpress/config-default.php}
SALTS=/etc/wordpress/salts.php

php_quote() { printf "'%s'" "$(printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g")"; }

write_config() {
  local dir; dir=$(dirname "$CONFIG")
  mkdir -p "$dir"
  if [ ! -s "$SALTS" ]; then
    {
      echo "<?php"
      local key
      for key in AUTH_KEY SECURE_AUTH_KEY LOGGED_IN_KEY NONCE_KEY AUTH_SALT SECURE_AUTH_SALT \
                 LOGGED_IN_SALT NONCE_SALT; do
        echo "define('$key', '$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')');"
      done
    } > "$SALTS"
    chmod 640 "$SALTS"; chgrp www-data "$SALTS"
  fi
  {
    echo "<?php"
    echo "/* Written by docker-entrypoint.sh from the WORDPRESS_* environment. */"
    echo "define('DB_NAME', $(php_quote "${WORDPRESS_DB_NAME:-wordpress}"));"
    echo "define('DB_USER', $(php_quote "${WORDPRESS_DB_USER:-wordpress}"));"
    echo "define('DB_PASSWORD', $(php_quote "${WORDPRESS_DB_PASSWORD:-}"));"
    echo "define('DB_HOST', $(php_quote "${WORDPRESS_DB_HOST:-mysql}"));"
    echo "define('DB_CHARSET', 'utf8mb4');"
    echo "define('WP_CONTENT_DIR', '/var/lib/wordpress/wp-content');"
    echo "define('FS_METHOD', 'direct');"
    if [ -n "${WORDPRESS_DEBUG:-}" ]; then echo "define('WP_DEBUG', true);"; fi
    echo "\$table_prefix = $(php_quote "${WORDPRESS_TABLE_PREFIX:-wp_}");"
    echo "require '$SALTS';"
  } > "$CONFIG.tmp"
  chmod 640 "$CONFIG.tmp"; chgrp www-data "$CONFIG.tmp"
  mv "$CONFIG.tmp" "$CONFIG"
}

if [ "$1" = apache2-foreground ]; then
  write_config
  chown www-data:www-data /var/lib/wordpress/wp-content
  # Apache's environment, as Debian's init script would set it.
  set +u
  . /etc/apache2/envvars
  set -u
  mkdir -p "$APACHE_RUN_DIR" "$APACHE_LOCK_DIR" "$APACHE_LOG_DIR"
  rm -f "$APACHE_PID_FILE"
  exec apache2 -DFOREGROUND
fi
exec "$@"
