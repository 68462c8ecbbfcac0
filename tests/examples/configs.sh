#!/usr/bin/env bash
# The examples' proxy configurations, checked by the programs that read them: `haproxy -c` on the
# PXC HAProxy config (three and five nodes), `nginx -t` on the lb balancer and the web replica
# configs, and `apache2ctl configtest` on the WordPress site. Then the nginx pair runs on
# loopback: three "replicas" (one nginx per loopback address, answering its own name) behind the
# balancer, and 30 requests through it reach all three.
. "$(dirname "$0")/lib.sh"
sandbox "$EXAMPLES" "$IN_SANDBOX"'
for n in 3 5; do
  out=$(STATS_USER=admin STATS_PASSWORD=x PXC_NET=172.18.0 PXC_NODES=$n \
        haproxy -c -V -f /src/pxc/haproxy/haproxy.cfg 2>&1) || { echo "$out"; exit 1; }
  ok "haproxy -c accepts the PXC config with PXC_NODES=$n"
done
rm -f /etc/nginx/sites-enabled/*
cp /src/lb/nginx/default.conf /etc/nginx/conf.d/default.conf
echo "127.0.0.1 web" >> /etc/hosts
nginx -t 2>&1 | grep -q "test is successful"; ok "nginx -t accepts the balancer config"
rm /etc/nginx/conf.d/default.conf
cp /src/lb/web/hostname.conf /etc/nginx/conf.d/hostname.conf
nginx -t 2>&1 | grep -q "test is successful"; ok "nginx -t accepts the web replica config"
rm /etc/nginx/conf.d/hostname.conf
a2dissite -q 000-default >/dev/null
cp /src/wordpress/wordpress/wordpress-site.conf /etc/apache2/sites-available/wordpress.conf
a2ensite -q wordpress >/dev/null
apache2ctl configtest 2>&1 | grep -q "Syntax OK"; ok "apache2ctl configtest accepts the WordPress site"
# Three replicas on 127.0.0.11-13, each answering a distinct name, and the balancer on :80 with
# `web` resolving (through /etc/hosts here, DNS under berth) to all three.
for i in 1 2 3; do
  mkdir -p /tmp/web$i
  sed -e "s/listen 80 default_server;/listen 127.0.0.1$i:80;/" -e "s/\$hostname/web-replica-$i/" \
    /src/lb/web/hostname.conf > /tmp/web$i/site.conf
  printf "pid /tmp/web$i/pid;\nevents {}\nhttp { include /tmp/web$i/site.conf; }\n" > /tmp/web$i/nginx.conf
  nginx -c /tmp/web$i/nginx.conf
done
sed -i "/ web$/d" /etc/hosts
printf "127.0.0.11 web\n127.0.0.12 web\n127.0.0.13 web\n" >> /etc/hosts
sed "s/listen 80 default_server;/listen 127.0.0.1:80;/" /src/lb/nginx/default.conf > /tmp/lb-site.conf
printf "pid /tmp/lb.pid;\nevents {}\nhttp { include /tmp/lb-site.conf; }\n" > /tmp/lb.conf
nginx -c /tmp/lb.conf
wait_for 10 "the balancer" curl -fsS http://127.0.0.1/
for i in $(seq 30); do curl -fsS http://127.0.0.1/; done | sort | uniq -c > /tmp/spread
cat /tmp/spread
[ "$(wc -l < /tmp/spread)" = 3 ]; ok "30 requests through the balancer reached all 3 replicas"
'
echo "PASS: proxy configs"
