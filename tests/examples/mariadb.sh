#!/usr/bin/env bash
# The database image logic (examples/_base/mariadb, the wordpress example's `db`), without an engine: the entrypoint initialises an
# empty data directory from MYSQL_ROOT_PASSWORD / MYSQL_DATABASE / MYSQL_USER / MYSQL_PASSWORD,
# the compose health check passes, the users can (and a wrong password cannot) log in over TCP,
# and a restart on the kept data directory skips the initialisation.
. "$(dirname "$0")/lib.sh"
sandbox "$EXAMPLES/_base/mariadb" "$IN_SANDBOX"'
install -m 755 /src/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
install -m 644 /src/container.cnf /etc/mysql/mariadb.conf.d/99-container.cnf
rm -rf /var/lib/mysql/*
export MYSQL_ROOT_PASSWORD="r00t pass" MYSQL_DATABASE=wordpress MYSQL_USER=wordpress MYSQL_PASSWORD=wp
( exec docker-entrypoint.sh mariadbd ) >/tmp/db1.log 2>&1 &
wait_for 60 "the health check (mysqladmin ping over TCP)" mysqladmin ping -h 127.0.0.1 --silent \
  || { cat /tmp/db1.log; exit 1; }
ok "health check passes"
grep -q "entrypoint: initialised" /tmp/db1.log; ok "entrypoint initialised the data directory"
[ "$(mariadb -h 127.0.0.1 -uwordpress -pwp wordpress -NBe "SELECT DATABASE()")" = wordpress ]
ok "MYSQL_USER reaches MYSQL_DATABASE over TCP"
mariadb -h 127.0.0.1 -uroot -p"r00t pass" -NBe "SELECT 1" >/dev/null; ok "root logs in with MYSQL_ROOT_PASSWORD"
if mariadb -h 127.0.0.1 -uroot -pwrong -e "SELECT 1" 2>/dev/null; then echo "FAIL: wrong password accepted"; exit 1; fi
ok "a wrong password is refused"
mariadb -h 127.0.0.1 -uwordpress -pwp wordpress -e "CREATE TABLE t (v INT); INSERT INTO t VALUES (42)"
mariadb-admin -h 127.0.0.1 -uroot -p"r00t pass" shutdown
wait_for 30 "the server to stop" bash -c "! pgrep -x mariadbd"
( exec docker-entrypoint.sh mariadbd ) >/tmp/db2.log 2>&1 &
wait_for 60 "the restarted server" mysqladmin ping -h 127.0.0.1 --silent || { cat /tmp/db2.log; exit 1; }
! grep -q "initialising" /tmp/db2.log; ok "restart skips the initialisation"
[ "$(mariadb -h 127.0.0.1 -uwordpress -pwp wordpress -NBe "SELECT v FROM t")" = 42 ]; ok "data kept"
unset MYSQL_ROOT_PASSWORD
rm -rf /tmp/empty && mkdir /tmp/empty
if DATADIR=/tmp/empty docker-entrypoint.sh mariadbd >/tmp/db3.log 2>&1; then echo "FAIL: started without a root password"; exit 1; fi
grep -q "MYSQL_ROOT_PASSWORD" /tmp/db3.log; ok "no root password: a clear error and a non-zero exit"
'
echo "PASS: mariadb entrypoint"
