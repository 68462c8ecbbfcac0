#!/usr/bin/env bash
# One command on a fresh Debian machine (root, no Docker, no access to Docker Hub): installs the
# few Debian packages berth needs, builds berth, makes the Debian base image if the engine does
# not have it yet, brings up the WordPress example and prints the URL to open.
#
#   examples/quickstart.sh            # WordPress on port 8080 (WORDPRESS_PORT to change)
#
# Needs a Rust toolchain (https://rustup.rs; Debian's rustc is too old for edition 2024) and a
# Debian package mirror (MIRROR, default http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "quickstart: run as root (the engine needs namespaces and mounts)" >&2; exit 1; }
command -v cargo >/dev/null || {
  echo "quickstart: cargo not found (hint: install Rust with https://rustup.rs, then re-run)" >&2
  exit 1
}
missing=()
for tool in debootstrap:debootstrap nft:nftables ip:iproute2 curl:curl; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" debian-archive-keyring ca-certificates
fi
cargo build --release -p berth
BERTH=$PWD/target/release/berth
if ! "$BERTH" image ls -q --filter reference=berth/debian:bookworm | grep -q .; then
  "$BERTH" image bootstrap berth/debian:bookworm --variant minbase \
    --mirror "${MIRROR:-http://deb.debian.org/debian}"
fi
cd examples/wordpress
"$BERTH" build
"$BERTH" up -d --wait
echo "WordPress is up: http://$(hostname -I | awk '{print $1}'):${WORDPRESS_PORT:-8080}/"
