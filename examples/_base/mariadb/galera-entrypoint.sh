#!/bin/bash
# Galera node start-up (the entrypoint of the pxc example's nodes): writes the wsrep settings
# from CLUSTER_NAME / CLUSTER_JOIN / CLUSTER_MEMBERS / XTRABACKUP_PASSWORD, then hands over to
# the MariaDB entrypoint, docker-entrypoint.sh (which initialises the data directory on first
# start and execs the server).
#
# Who bootstraps: a node with an empty CLUSTER_JOIN starts a new cluster on its first start. On a
# later start it rejoins the others (CLUSTER_MEMBERS) unless Galera marked its state
# safe_to_bootstrap, in which case it starts the cluster again: Galera does so while the node is
# the only member of the primary component, so a node that was the last to stop, or that died
# before any other node joined, bootstraps again.
# A node with CLUSTER_JOIN set always joins (state transfer with mariabackup on first start).
#
# NODE_ADDRESS (optional) pins the node's SQL, Galera, IST and SST listeners to one address;
# NODE_NAME (optional) names it in the cluster (default: the host name).
set -euo pipefail

DATADIR=${DATADIR:-/var/lib/mysql}
CLUSTER_NAME=${CLUSTER_NAME:-PXC}
CLUSTER_JOIN=${CLUSTER_JOIN:-}
CLUSTER_MEMBERS=${CLUSTER_MEMBERS:-$CLUSTER_JOIN}
WSREP_CNF=${WSREP_CNF:-/etc/mysql/mariadb.conf.d/60-wsrep.cnf}
EXTRA_ARGS=()

log() { echo "galera-entrypoint: $*" >&2; }

if [ -z "${XTRABACKUP_PASSWORD:-}" ]; then
  log "error: XTRABACKUP_PASSWORD is not set (the state-transfer user's password)"
  exit 1
fi

sst_escape() { printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g"; }

# The users every node of the cluster needs; created once, on the bootstrapping node, and
# copied to the joiners by the state transfer.
extra_init_sql() {
  echo "CREATE USER 'xtrabackup'@'localhost' IDENTIFIED BY '$(sst_escape "$XTRABACKUP_PASSWORD")';"
  echo "GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'xtrabackup'@'localhost';"
  # HAProxy's `option mysql-check user haproxy`: a password-less user with no privileges.
  echo "CREATE USER 'haproxy'@'%';"
}

# A data directory without a finished initialisation (docker-entrypoint.sh's `initialised`,
# which is sourced only later): node1 then bootstraps, as on its first start.
fresh() { [ ! -d "$DATADIR/mysql" ] || [ -e "$DATADIR/.init-incomplete" ]; }

safe_to_bootstrap() {
  [ -f "$DATADIR/grastate.dat" ] && grep -q '^safe_to_bootstrap: *1' "$DATADIR/grastate.dat"
}

address() {
  if [ -n "$CLUSTER_JOIN" ]; then
    echo "gcomm://${CLUSTER_MEMBERS:-$CLUSTER_JOIN}"
  elif fresh || safe_to_bootstrap || [ -z "$CLUSTER_MEMBERS" ]; then
    echo "gcomm://"
  else
    echo "gcomm://$CLUSTER_MEMBERS"
  fi
}

write_wsrep_config() {
  local addr=$1
  mkdir -p "$(dirname "$WSREP_CNF")"
  cat > "$WSREP_CNF" <<CNF
# Written by galera-entrypoint.sh from the CLUSTER_* environment.
[galera]
wsrep_on = ON
wsrep_provider = /usr/lib/galera/libgalera_smm.so
wsrep_cluster_name = $CLUSTER_NAME
wsrep_cluster_address = $addr
wsrep_node_name = ${NODE_NAME:-$(hostname)}
wsrep_sst_method = mariabackup
wsrep_sst_auth = xtrabackup:$XTRABACKUP_PASSWORD
binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
CNF
  if [ -n "${NODE_ADDRESS:-}" ]; then
    cat >> "$WSREP_CNF" <<CNF
bind-address = $NODE_ADDRESS
wsrep_node_address = $NODE_ADDRESS
wsrep_sst_receive_address = $NODE_ADDRESS:4444
wsrep_provider_options = "gmcast.listen_addr=tcp://$NODE_ADDRESS:4567;ist.recv_addr=$NODE_ADDRESS:4568"
CNF
  fi
  # The server and its state-transfer scripts read it as the mysql user.
  chmod 640 "$WSREP_CNF"; chgrp mysql "$WSREP_CNF"
}

if [ "${1:0:1}" = '-' ]; then set -- mariadbd "$@"; fi
if [ "$1" = mariadbd ] || [ "$1" = mysqld ]; then
  addr=$(address)
  if [ -n "$CLUSTER_JOIN" ] && fresh; then
    # A joiner gets everything (users included) from its donor.
    SKIP_INIT=1
  fi
  write_wsrep_config "$addr"
  if [ "$addr" = "gcomm://" ]; then
    log "bootstrapping cluster $CLUSTER_NAME"
    EXTRA_ARGS+=(--wsrep-new-cluster)
  else
    log "joining cluster $CLUSTER_NAME at $addr"
  fi
fi
SKIP_INIT=${SKIP_INIT:-0}
. /usr/local/bin/docker-entrypoint.sh "$@"
