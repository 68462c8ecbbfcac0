#!/bin/bash
# Healthy when the node answers on TCP and Galera says it is Synced (wsrep_local_state 4) and
# part of the primary component.
set -euo pipefail
q() {
  mariadb -h "${NODE_ADDRESS:-127.0.0.1}" -uroot -p"${MYSQL_ROOT_PASSWORD:-}" -N -B \
    -e "SHOW GLOBAL STATUS LIKE '$1'" 2>/dev/null | awk '{print $2}'
}
[ "$(q wsrep_local_state)" = 4 ] && [ "$(q wsrep_cluster_status)" = Primary ]
