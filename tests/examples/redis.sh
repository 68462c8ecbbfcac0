#!/usr/bin/env bash
# The redis example's logic without an engine: a primary and a replica started with the
# example's redis.conf (the replica with `--replicaof`, on loopback ports instead of service
# names), the compose health checks pass, and a key set on the primary is read from the replica.
. "$(dirname "$0")/lib.sh"
sandbox "$EXAMPLES/redis" "$IN_SANDBOX"'
install -m 644 /src/redis/redis.conf /etc/redis/redis.conf
mkdir -p /data/p /data/r && chown redis:redis /data/p /data/r
su -s /bin/sh redis -c "cd /data/p && exec redis-server /etc/redis/redis.conf --dir /data/p" >/tmp/p.log 2>&1 &
wait_for 20 "the primary health check (redis-cli ping)" redis-cli ping || { cat /tmp/p.log; exit 1; }
ok "primary answers PING"
su -s /bin/sh redis -c "cd /data/r && exec redis-server /etc/redis/redis.conf --dir /data/r --port 6380 --replicaof 127.0.0.1 6379" >/tmp/r.log 2>&1 &
wait_for 30 "the replica health check (master_link_status:up)" \
  bash -c "redis-cli -p 6380 info replication | grep -q \"^master_link_status:up\"" || { cat /tmp/r.log; exit 1; }
ok "replica linked to the primary"
redis-cli set berth-example "replicated $$" >/dev/null
wait_for 10 "the key on the replica" bash -c "[ \"\$(redis-cli -p 6380 get berth-example)\" = \"replicated $$\" ]"
ok "a key set on the primary is read from the replica"
if redis-cli -p 6380 set x y 2>&1 | grep -q READONLY; then ok "the replica is read-only"; else echo "FAIL: replica accepted a write"; exit 1; fi
'
echo "PASS: redis primary/replica"
