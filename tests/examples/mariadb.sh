#!/usr/bin/env bash
# The database image logic (examples/_base/mariadb, the wordpress example's `db`), without an engine: the entrypoint initialises an
# empty data directory from MYSQL_ROOT_PASSWORD / MYSQL_DATABASE / MYSQL_USER / MYSQL_PASSWORD,
# the compose health check passes, the users can (and a wrong password cannot) log in over TCP,
# a restart on the kept data directory skips the initialisation, and a failed initialisation
# says why (with the server's log), exits non-zero and is redone on the next start.
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
export MYSQL_ROOT_PASSWORD=second
mkdir /tmp/half
if DATADIR=/tmp/half docker-entrypoint.sh mariadbd --no-such-option >/tmp/db4.log 2>&1; then
  echo "FAIL: started although the server died while initialising"; exit 1
fi
grep -q "the server stopped while initialising" /tmp/db4.log && grep -q "no-such-option" /tmp/db4.log \
  || { cat /tmp/db4.log; exit 1; }
ok "a server dying while initialising: the reason and the server log, a non-zero exit"
[ -d /tmp/half/mysql ] && [ -e /tmp/half/.init-incomplete ]
( exec env DATADIR=/tmp/half docker-entrypoint.sh mariadbd --port=3307 --socket=/run/mysqld/half.sock \
    --pid-file=/run/mysqld/half.pid ) >/tmp/db5.log 2>&1 &
wait_for 60 "the server on the half-initialised directory" mysqladmin ping -h 127.0.0.1 -P 3307 --silent \
  || { cat /tmp/db5.log; exit 1; }
grep -q "did not finish; starting it again" /tmp/db5.log
[ "$(mariadb -h 127.0.0.1 -P 3307 -uroot -psecond -NBe "SELECT 1")" = 1 ] && [ ! -e /tmp/half/.init-incomplete ]
ok "a half-initialised data directory is initialised again on the next start"
'
echo "PASS: mariadb entrypoint"
