# Shared by the example checks: run a script inside the examples' Debian root filesystem in a
# throwaway sandbox — new mount, PID, UTS and network namespaces (loopback only), an overlay so
# the cached tree is never changed, fresh /proc, a minimal /dev, tmpfs /run and /tmp, and the
# example's directory bind-mounted read-only at /src. Everything it starts dies with it (PID
# namespace) and its mounts vanish with its mount namespace; the overlay's upper layer is removed
# on exit. Source this file; needs root.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EXAMPLES=$(cd "$HERE/../../examples" && pwd)

[ "$(id -u)" = 0 ] || { echo "FAIL: the example checks need root (namespaces, chroot)" >&2; exit 1; }
ROOTFS=${BERTH_EXAMPLES_ROOTFS:-$("$HERE/rootfs.sh")}

# sandbox SRC_DIR SCRIPT: runs bash SCRIPT in the sandbox with SRC_DIR at /src.
sandbox() {
  local src=$1 script=$2 work rc=0
  work=$(mktemp -d /tmp/berth-example-check.XXXXXX)
  mkdir -p "$work/upper" "$work/work" "$work/merged"
  printf '%s\n' "$script" > "$work/script.sh"
  # Its own session: daemons that signal their process group (Apache) stay inside.
  ROOTFS=$ROOTFS W=$work SRC=$src setsid --wait unshare --mount --pid --fork --uts --net --propagation private \
    bash -euo pipefail -c '
      m=$W/merged
      mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$W/upper,workdir=$W/work" "$m"
      mount -t proc proc "$m/proc"
      mount -t tmpfs -o mode=755,nosuid tmpfs "$m/dev"
      for d in null zero full random urandom tty; do
        touch "$m/dev/$d"; mount --bind "/dev/$d" "$m/dev/$d"
      done
      mkdir -p "$m/dev/shm" "$m/dev/pts"
      mount -t tmpfs -o mode=1777 tmpfs "$m/dev/shm"
      ln -s /proc/self/fd "$m/dev/fd"; ln -s /proc/self/fd/0 "$m/dev/stdin"
      ln -s /proc/self/fd/1 "$m/dev/stdout"; ln -s /proc/self/fd/2 "$m/dev/stderr"
      mount -t tmpfs -o mode=755 tmpfs "$m/run"; mkdir -p "$m/run/lock"; chmod 1777 "$m/run/lock"
      mount -t tmpfs -o mode=1777 tmpfs "$m/tmp"
      mkdir -p "$m/src"; mount --bind "$SRC" "$m/src"; mount -o remount,bind,ro "$m/src"
      cp "$W/script.sh" "$m/run/check.sh"
      ip link set lo up
      hostname example-check
      printf "127.0.0.1\tlocalhost\n127.0.1.1\texample-check\n" > "$m/etc/hosts"
      exec chroot "$m" /bin/bash -euo pipefail /run/check.sh
    ' || rc=$?
  rm -rf "$work"
  return $rc
}

# Helpers for the scripts that run inside the sandbox (prepended to each script).
# shellcheck disable=SC2016
IN_SANDBOX='
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds
  local n=$(( $1 * 4 )) what=$2; shift 2
  while ! "$@" >/dev/null 2>&1; do
    n=$((n - 1)); [ $n -gt 0 ] || { echo "FAIL: timed out waiting for $what" >&2; return 1; }
    sleep 0.25
  done
}
ok() { echo "ok: $*"; }
'
