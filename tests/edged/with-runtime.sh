#!/bin/sh
# with-runtime.sh COMMAND [ARG...]: runs COMMAND with a private containerd
# (runtime.sh) holding the local busybox image, then tears it all down.
# COMMAND sees EDGED_TEST_CRI_SOCK, EDGED_TEST_IMAGE, EDGED_TEST_CGROUP_PARENT,
# EDGED_TEST_RUNTIME_DIR and EDGED_TEST_RUNTIME_SH. Without root or the
# runtime packages it fails (it never skips). COMMAND gets
# EDGED_TEST_TIMEOUT seconds (default 150).
set -u
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then
  echo "with-runtime.sh: edged's runtime tests need root (containerd, runc, cgroups)" >&2
  exit 1
fi
for p in containerd runc ctr unshare busybox; do
  command -v $p >/dev/null || { echo "with-runtime.sh: $p missing: run scripts/deps.sh" >&2; exit 1; }
done
# short path: unix socket paths are limited to 107 bytes
dir=$(mktemp -d /tmp/ec-rt-XXXXXX) || exit 1
cleanup() {
  timeout 120 "$here/runtime.sh" stop "$dir/rt"
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$here/mkimage.sh" "$dir/img" >/dev/null || exit 1
sock=$(timeout 90 "$here/runtime.sh" start "$dir/rt" "$dir/img/image-oci.tar") || exit 1
export EDGED_TEST_CRI_SOCK="$sock"
export EDGED_TEST_IMAGE=localhost/edged-busybox:1
export EDGED_TEST_CGROUP_PARENT="$(cat "$dir/rt/cgroup-parent")"
export EDGED_TEST_RUNTIME_DIR="$dir/rt"
export EDGED_TEST_RUNTIME_SH="$here/runtime.sh"
# bounded here, so that the teardown still runs before meson's own timeout
timeout -k 5 "${EDGED_TEST_TIMEOUT:-150}" "$@"
