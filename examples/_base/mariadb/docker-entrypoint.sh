#!/bin/bash
# The official mysql/mariadb images' start-up contract on Debian's MariaDB: on an empty data
# directory, initialise it with MYSQL_ROOT_PASSWORD (or MYSQL_ALLOW_EMPTY_PASSWORD /
# MYSQL_RANDOM_ROOT_PASSWORD), create MYSQL_DATABASE and MYSQL_USER/MYSQL_PASSWORD, run
# /docker-entrypoint-initdb.d/*.sql and *.sh; then exec the server as PID 1.
set -euo pipefail

DATADIR=${DATADIR:-/var/lib/mysql}
SOCKET=/run/mysqld/init.sock
EXTRA_ARGS=("${EXTRA_ARGS[@]}")
# Seconds the temporary server of the initialisation may take to answer (a loaded machine can
# need minutes); past them the start fails with the server's log.
INIT_TIMEOUT=${INIT_TIMEOUT:-300}
# Present while the initialisation runs: a data directory that still has it was left half-made
# (the container died or the disk filled up), and the next start initialises it again.
INIT_MARKER=.init-incomplete
INIT_LOG=/run/mysqld/init-server.log

log() { echo "entrypoint: $*" >&2; }

# True when the data directory holds a finished initialisation.
initialised() { [ -d "$DATADIR/mysql" ] && [ ! -e "$DATADIR/$INIT_MARKER" ]; }

# `docker run IMAGE --some-flag` means the server with that flag.
if [ "${1:0:1}" = '-' ]; then set -- mariadbd "$@"; fi

sql_escape() { printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g"; }

init_database() {
  if [ -z "${MYSQL_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] \
     && [ -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
    log "error: database is uninitialized and the root password is not set"
    log "  set one of MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD or MYSQL_RANDOM_ROOT_PASSWORD"
    exit 1
  fi
  if [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
    MYSQL_ROOT_PASSWORD=$(head -c 18 /dev/urandom | base64)
    log "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
  fi
  if [ -e "$DATADIR/$INIT_MARKER" ]; then
    log "a previous initialisation of $DATADIR did not finish; starting it again"
    find "$DATADIR" -mindepth 1 -maxdepth 1 ! -name lost+found ! -name "$INIT_MARKER" \
      -exec rm -rf {} +
  fi
  touch "$DATADIR/$INIT_MARKER"
  log "initialising $DATADIR"
  local out
  out=$(mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db --skip-name-resolve \
    --auth-root-authentication-method=normal 2>&1) || {
    echo "$out" >&2; log "error: mariadb-install-db failed (output above)"; exit 1; }
  "$@" --user=mysql --datadir="$DATADIR" --skip-networking --socket="$SOCKET" \
    --wsrep-on=OFF >"$INIT_LOG" 2>&1 &
  INIT_PID=$!
  local deadline=$((SECONDS + INIT_TIMEOUT))
  until mariadb-admin --socket="$SOCKET" ping --silent 2>/dev/null; do
    kill -0 "$INIT_PID" 2>/dev/null || init_failed "the server stopped while initialising"
    [ "$SECONDS" -lt "$deadline" ] \
      || init_failed "the server did not answer within ${INIT_TIMEOUT}s (INIT_TIMEOUT)"
    sleep 0.5
  done
  local root_pw; root_pw=$(sql_escape "${MYSQL_ROOT_PASSWORD:-}")
  init_sql "$root_pw" | mariadb --socket="$SOCKET" -uroot \
    || init_failed "the initial SQL (root password, database, users) failed"
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) log "running $f"; . "$f" ;;
      *.sql) log "running $f"; mariadb --socket="$SOCKET" -uroot -p"${MYSQL_ROOT_PASSWORD:-}" \
               ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} < "$f" || init_failed "$f failed" ;;
      *) ;;
    esac
  done
  mariadb-admin --socket="$SOCKET" -uroot -p"${MYSQL_ROOT_PASSWORD:-}" shutdown \
    || init_failed "the initialisation server did not shut down"
  wait "$INIT_PID" || true
  rm -f "$INIT_LOG" "$DATADIR/$INIT_MARKER"
  log "initialised"
}

# Stops the initialisation with the reason and the temporary server's log; the marker stays, so
# the next start initialises again.
init_failed() {
  log "error: initialising $DATADIR: $1; the server's log:"
  cat "$INIT_LOG" >&2 || true
  kill "$INIT_PID" 2>/dev/null && wait "$INIT_PID" 2>/dev/null || true
  exit 1
}

# The statements that set the root password and create MYSQL_DATABASE / MYSQL_USER.
init_sql() {
  local root_pw=$1
  {
    echo "SET @@SESSION.SQL_LOG_BIN=0;"
    echo "DELETE FROM mysql.user WHERE user='' OR (user='root' AND host NOT IN ('localhost'));"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$root_pw';"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY '$root_pw';"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "${MYSQL_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\`;"
    fi
    if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
      echo "CREATE USER '$(sql_escape "$MYSQL_USER")'@'%' IDENTIFIED BY '$(sql_escape "$MYSQL_PASSWORD")';"
      if [ -n "${MYSQL_DATABASE:-}" ]; then
        echo "GRANT ALL ON \`$MYSQL_DATABASE\`.* TO '$(sql_escape "$MYSQL_USER")'@'%';"
      fi
    fi
    # Extra statements from images built on this one (the Galera node adds its users here).
    if declare -F extra_init_sql >/dev/null; then extra_init_sql; fi
    echo "FLUSH PRIVILEGES;"
  }
}

if [ "$1" = mariadbd ] || [ "$1" = mysqld ]; then
  mkdir -p /run/mysqld "$DATADIR"
  chown mysql:mysql /run/mysqld "$DATADIR"
  if ! initialised; then
    if declare -F before_init >/dev/null; then before_init; fi
    if [ "${SKIP_INIT:-}" != 1 ]; then init_database "$@"; fi
  fi
  if declare -F before_start >/dev/null; then before_start "$@"; fi
  exec "$@" --user=mysql --datadir="$DATADIR" "${EXTRA_ARGS[@]}"
fi
exec "$@"
