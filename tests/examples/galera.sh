#!/usr/bin/env bash
# The pxc example's node image logic (examples/_base/mariadb with galera-entrypoint.sh) without
# an engine: two Galera nodes on loopback addresses (127.0.0.2 bootstraps, 127.0.0.3 joins with
# a mariabackup state transfer), the health check passes on both, rows written on one are read on
# the other, HAProxy's check user exists, a bootstrap node killed while it is the only member
# starts the cluster again on restart, and a bootstrap node stopped while the other keeps
# running rejoins on restart (instead of starting a second cluster) and gets the rows written
# while it was down.
. "$(dirname "$0")/lib.sh"
sandbox "$EXAMPLES/_base/mariadb" "$IN_SANDBOX"'
install -m 755 /src/docker-entrypoint.sh /src/galera-entrypoint.sh /src/galera-healthcheck.sh \
  /usr/local/bin/
install -m 644 /src/container.cnf /etc/mysql/mariadb.conf.d/99-container.cnf
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
export MYSQL_ROOT_PASSWORD=abc123456 CLUSTER_NAME=PXC XTRABACKUP_PASSWORD=xb-secret
export CLUSTER_MEMBERS=127.0.0.2,127.0.0.3
node() { # node N JOIN: starts node N (address 127.0.0.(N+1)) in the background
  local n=$1
  ( export NODE_ADDRESS=127.0.0.$((n + 1)) NODE_NAME=node$n DATADIR=/var/lib/mysql-n$n \
      WSREP_CNF=/etc/galera-n$n.cnf CLUSTER_JOIN=$2
    exec galera-entrypoint.sh mariadbd --defaults-extra-file=/etc/galera-n$n.cnf \
      --socket=/run/mysqld/n$n.sock --pid-file=/run/mysqld/n$n.pid ) >>/tmp/n$n.log 2>&1 &
}
healthy() { NODE_ADDRESS=127.0.0.$(($1 + 1)) galera-healthcheck.sh; }
sql() { local n=$1; shift; mariadb -h 127.0.0.$((n + 1)) -uroot -p"$MYSQL_ROOT_PASSWORD" -NB -e "$*"; }
stop() {
  local n=$1 pid; pid=$(cat /run/mysqld/n$n.pid)
  kill "$pid"; wait_for 60 "node$n to stop" bash -c "! kill -0 $pid"
}
node 1 ""
wait_for 90 "node1 (bootstrap) to be healthy" healthy 1 || { cat /tmp/n1.log; exit 1; }
grep -q "bootstrapping cluster PXC" /tmp/n1.log; ok "node1 bootstrapped the cluster and is healthy"
[ "$(sql 1 "SELECT COUNT(*) FROM mysql.user WHERE user=\"haproxy\" AND host=\"%\"")" = 1 ]
ok "the password-less haproxy check user exists"
pid=$(cat /run/mysqld/n1.pid); kill -KILL "$pid"; wait_for 30 "node1 to die" bash -c "! kill -0 $pid"
node 1 ""
wait_for 120 "node1 to come back after a crash" healthy 1 || { tail -40 /tmp/n1.log; exit 1; }
[ "$(grep -c "bootstrapping cluster PXC" /tmp/n1.log)" = 2 ] || { grep entrypoint /tmp/n1.log; exit 1; }
ok "node1 killed while it was the only member bootstraps the cluster again on restart"
node 2 127.0.0.2
wait_for 120 "node2 to join" healthy 2 || { tail -40 /tmp/n2.log; exit 1; }
[ "$(sql 2 "SHOW STATUS LIKE \"wsrep_cluster_size\"" | cut -f2)" = 2 ]; ok "node2 joined: cluster size 2"
sql 1 "CREATE DATABASE demo; CREATE TABLE demo.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO demo.t VALUES (1, \"one\")"
[ "$(sql 2 "SELECT v FROM demo.t WHERE id=1")" = one ]; ok "a row written on node1 is read on node2"
stop 1
sql 2 "INSERT INTO demo.t VALUES (2, \"while-down\")"
node 1 ""
wait_for 120 "node1 to come back" healthy 1 || { tail -40 /tmp/n1.log; exit 1; }
grep -q "joining cluster PXC at gcomm://127.0.0.2,127.0.0.3" /tmp/n1.log
ok "node1 restarted into the running cluster instead of bootstrapping a new one"
[ "$(sql 1 "SELECT v FROM demo.t WHERE id=2")" = while-down ]; ok "node1 has the row written while it was down"
[ "$(sql 1 "SHOW STATUS LIKE \"wsrep_cluster_size\"" | cut -f2)" = 2 ]; ok "cluster size 2 again"
'
echo "PASS: galera nodes"
