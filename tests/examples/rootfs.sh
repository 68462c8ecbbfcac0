#!/usr/bin/env bash
# Builds (once per machine) the Debian root filesystem the example checks run in: a debootstrap
# minbase tree plus every package the examples' Dockerfiles install, cached under
# ${BERTH_TEST_CACHE:-/var/cache/berth-test}/examples. Prints the tree's path.
# Needs root, debootstrap and the Debian mirror (MIRROR, default http://deb.debian.org/debian).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "rootfs.sh: needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "rootfs.sh: apt-get install debootstrap" >&2; exit 1; }
CACHE=${BERTH_TEST_CACHE:-/var/cache/berth-test}/examples
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PACKAGES="mariadb-server mariadb-client galera-4 mariadb-backup socat iproute2 \
  apache2 libapache2-mod-php php-mysql php-xml wordpress wordpress-theme-twentytwentythree curl ca-certificates \
  haproxy nginx-light redis-server keepalived procps"
STAMP=$(echo "$MIRROR $PACKAGES" | sha256sum | cut -c1-12)
TREE=$CACHE/rootfs-$STAMP
if [ -f "$TREE/.complete" ]; then echo "$TREE"; exit 0; fi
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"; flock 9
if [ -f "$TREE/.complete" ]; then echo "$TREE"; exit 0; fi
if [ ! -d "$CACHE/base" ]; then
  rm -rf "$CACHE/base.tmp"
  debootstrap --variant=minbase bookworm "$CACHE/base.tmp" "$MIRROR" >&2
  mv "$CACHE/base.tmp" "$CACHE/base"
fi
rm -rf "$TREE.tmp"; cp -a "$CACHE/base" "$TREE.tmp"
cleanup() { umount -l "$TREE.tmp/proc" 2>/dev/null || true; }
trap cleanup EXIT
mount -t proc proc "$TREE.tmp/proc"
cp /etc/resolv.conf "$TREE.tmp/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$TREE.tmp/usr/sbin/policy-rc.d"; chmod 755 "$TREE.tmp/usr/sbin/policy-rc.d"
chroot "$TREE.tmp" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
chroot "$TREE.tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PACKAGES >&2
chroot "$TREE.tmp" apt-get clean
umount -l "$TREE.tmp/proc"; trap - EXIT
touch "$TREE.tmp/.complete"
mv "$TREE.tmp" "$TREE"
# Trees made for an older package list are not used any more.
for old in "$CACHE"/rootfs-*; do
  case $old in "$TREE" | *.tmp) ;; *) rm -rf "$old" ;; esac
done
echo "$TREE"
