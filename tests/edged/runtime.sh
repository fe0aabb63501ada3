#!/bin/sh
# runtime.sh: a private containerd for edged's tests, as the runtime lab
# runs it on these machines (Debian 12, cgroup v1, no CAP_SYS_RESOURCE).
#
#   runtime.sh start DIR IMAGE_TAR   start containerd with everything under DIR,
#                                    in a private network namespace, import the
#                                    image into the CRI namespace k8s.io
#   runtime.sh kill DIR              stop containerd only (containers stay)
#   runtime.sh restart DIR           start containerd again on the same DIR
#   runtime.sh stop DIR              kill every container of DIR, stop
#                                    containerd, unmount, remove the cgroups
#
# The socket is DIR/containerd.sock. Pods of the tests use the cgroup parent
# written to DIR/cgroup-parent (one per DIR), so that the teardown removes
# only this instance's cgroups. Every step is bounded in time. Needs root,
# unshare, containerd, runc, ctr.
set -u
cmd=${1:?usage: runtime.sh start|kill|restart|stop DIR [IMAGE_TAR]}
dir=${2:?DIR}
sock="$dir/containerd.sock"
export CONTAINERD_ADDRESS="$sock"
export CONTAINERD_NAMESPACE=k8s.io
image_name=localhost/edged-busybox:1

die() { echo "runtime.sh: $*" >&2; exit 1; }

# up: waits until containerd answers (at most 20 s).
up() {
  i=0
  while [ $i -lt 100 ]; do
    timeout 2 ctr version >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$dir/containerd.pid")" 2>/dev/null || break
    sleep 0.2; i=$((i + 1))
  done
  tail -5 "$dir/containerd.log" >&2
  return 1
}

launch() {
  [ "$(id -u)" = 0 ] || die "needs root (containerd, runc, cgroups)"
  for p in unshare containerd runc ctr; do
    command -v $p >/dev/null || die "$p not found (scripts/deps.sh installs it)"
  done
  # setsid: its own process group, so that the test's kill reaches nobody else
  setsid unshare -n sh -c 'ip link set lo up 2>/dev/null; exec containerd --config "$0"' \
    "$dir/containerd.toml" >> "$dir/containerd.log" 2>&1 &
  echo $! > "$dir/containerd.pid"
  up || die "containerd did not start (log: $dir/containerd.log)"
}

stop_containerd() {
  [ -f "$dir/containerd.pid" ] || return 0
  pid=$(cat "$dir/containerd.pid")
  kill "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
  kill -9 "$pid" 2>/dev/null
  rm -f "$dir/containerd.pid"
}

case "$cmd" in
start)
  tar=${3:?IMAGE_TAR}
  mkdir -p "$dir/root" "$dir/state" "$dir/runc" "$dir/cni/net.d" || exit 1
  # unique per instance (DIR is <mktemp dir>/rt): a teardown kills only its own
  echo "/edgecore-test-$(basename "$(dirname "$dir")")-$(basename "$dir")" > "$dir/cgroup-parent"
  cat > "$dir/containerd.toml" <<TOML
version = 2
root = "$dir/root"
state = "$dir/state"
[grpc]
  address = "$sock"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$image_name"
    restrict_oom_score_adj = true
    disable_apparmor = true
    netns_mounts_under_state_dir = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$dir/cni/net.d"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"
      snapshotter = "overlayfs"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          Root = "$dir/runc"
TOML
  launch
  timeout 60 ctr images import "$tar" >/dev/null || die "image import failed"
  echo "$sock"
  ;;
kill)
  stop_containerd
  ;;
restart)
  launch
  ;;
stop)
  parent=$(cat "$dir/cgroup-parent" 2>/dev/null)
  ids=""
  if [ -f "$dir/containerd.pid" ] && timeout 2 ctr version >/dev/null 2>&1; then
    ids=$(timeout 10 ctr containers ls -q 2>/dev/null)
    for id in $ids; do
      timeout 10 ctr tasks kill -s SIGKILL "$id" >/dev/null 2>&1
    done
    for id in $ids; do
      timeout 10 ctr tasks delete -f "$id" >/dev/null 2>&1
      timeout 10 ctr containers delete "$id" >/dev/null 2>&1
    done
  fi
  stop_containerd
  # what is left of this instance: processes in its cgroups, its shims
  if [ -n "$parent" ]; then
    for procs in $(find /sys/fs/cgroup/pids"$parent" -name cgroup.procs 2>/dev/null); do
      for p in $(cat "$procs"); do kill -9 "$p" 2>/dev/null; done
    done
  fi
  for c in /proc/[0-9]*/cmdline; do
    if { tr '\0' ' ' < "$c"; } 2>/dev/null | grep -qF -- "-address $sock "; then
      p=${c#/proc/}; kill -9 "${p%/cmdline}" 2>/dev/null
    fi
  done
  sleep 0.2
  # mounts under DIR (rootfs, netns, shm), deepest first
  grep -F " $dir/" /proc/mounts | cut -d' ' -f2 | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
  # cgroups: this instance's parent tree and its containers under k8s.io
  for ctl in /sys/fs/cgroup/*; do
    [ -n "$parent" ] && [ -d "$ctl$parent" ] &&
      find "$ctl$parent" -depth -type d -exec rmdir {} \; 2>/dev/null
    for id in $ids; do
      [ -d "$ctl/k8s.io/$id" ] && rmdir "$ctl/k8s.io/$id" 2>/dev/null
    done
  done
  rm -rf "$dir/root" "$dir/state" "$dir/runc" 2>/dev/null
  exit 0
  ;;
*)
  die "unknown command $cmd"
  ;;
esac
