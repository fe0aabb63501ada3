#!/bin/sh
# run.sh BUILDDIR SOURCEDIR
#
# The third-party plugin story, end to end:
#   1. configure and install edgecore into a private prefix (a separate
#      build dir, so that the installed pkg-config file, the drop-in plugin
#      directory and the paths compiled into the host all agree);
#   2. build examples/hello-plugin out of tree with nothing but
#      `pkg-config edgecore-1` (its Makefile; also its meson.build);
#   3. drop hello.so into `pkg-config --variable=dropinplugindir edgecore-1`;
#   4. enable it with a conf.d file and check --list-plugins;
#   5. run the installed host and talk to hello through the control socket:
#      a sync `call` must come back with "<greeting>, <content>" and the
#      request's id as parent_msg_id; a `send` of a ping must be logged by
#      the plugin and answered with a pong to the sender; a `group` send must
#      reach it too;
#   6. stop the host with SIGTERM and check it stopped the plugin.
#
# BUILDDIR is not used beyond a sanity check: the test builds its own copy.
# Needs meson, ninja, make, a C compiler, pkg-config and python3.
set -eu

[ $# -ge 2 ] || { echo "usage: $0 BUILDDIR SOURCEDIR" >&2; exit 2; }
src=$(cd "$2" && pwd)
[ -f "$src/examples/hello-plugin/hello.c" ] || { echo "$src is not the edgecore source dir" >&2; exit 2; }

# A short path: the control socket's path must fit in sun_path (108 bytes).
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ec-hello.XXXXXX")
if [ ${#tmp} -gt 60 ]; then rm -rf "$tmp"; tmp=$(mktemp -d /tmp/ec-hello.XXXXXX); fi
host_pid=

cleanup () {
  status=$?
  if [ -n "$host_pid" ] && kill -0 "$host_pid" 2>/dev/null; then
    kill -TERM "$host_pid" 2>/dev/null || true
    i=0
    while kill -0 "$host_pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$host_pid" 2>/dev/null || true
  fi
  if [ $status -ne 0 ] && [ -z "${KEEP_TMP:-}" ]; then
    [ -f "$tmp/host.log" ] && { echo "---- host log ----" >&2; cat "$tmp/host.log" >&2; }
  fi
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail () { echo "hello-plugin: FAIL: $*" >&2; exit 1; }
step () { echo "hello-plugin: $*"; }

# The host must use its compiled-in plugin directories (the drop-in one in
# particular) and no system conf.d; meson test sets some of these.
unset EDGECORE_SYSTEM_PLUGIN_DIRS EDGECORE_PLUGIN_PATH EDGECORE_LOCALEDIR G_DEBUG || true
export EDGECORE_SYSTEM_CONFIG_DIRS=
export LC_ALL=C.UTF-8 LANGUAGE=

# ---- 1. a private installation ---------------------------------------------
prefix="$tmp/prefix"
step "configuring and installing edgecore into $prefix"
meson setup --buildtype=plain --prefix="$prefix" "$tmp/build" "$src" >"$tmp/setup.log" 2>&1 \
  || { cat "$tmp/setup.log" >&2; fail "meson setup failed"; }
# DESTDIR and a move: a file the project installs outside the prefix (say,
# a systemd unit) lands in $tmp/root instead of on this machine.
timeout 600 meson install -C "$tmp/build" --destdir "$tmp/root" >"$tmp/install.log" 2>&1 \
  || { tail -50 "$tmp/install.log" >&2; fail "meson install failed"; }
mv "$tmp/root$prefix" "$prefix"

pc=$(find "$prefix" -name edgecore-1.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "no edgecore-1.pc installed under $prefix"
export PKG_CONFIG_PATH="$(dirname "$pc")"
libdir=$(pkg-config --variable=libdir edgecore-1)
dropin=$(pkg-config --variable=dropinplugindir edgecore-1)
plugindir=$(pkg-config --variable=plugindir edgecore-1)
edgecore="$prefix/bin/edgecore"
[ -x "$edgecore" ] || fail "$edgecore not installed"
[ -f "$libdir/libedgecore-1.so.1" ] || fail "libedgecore-1.so.1 not in $libdir"
case $dropin in "$prefix"/*) ;; *) fail "dropinplugindir $dropin is outside the prefix $prefix" ;; esac
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# ---- 2. the plugin, built out of tree ---------------------------------------
step "building examples/hello-plugin with its Makefile"
cp -R "$src/examples/hello-plugin" "$tmp/hello"
rm -f "$tmp/hello/hello.so"
make -C "$tmp/hello" >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log" >&2; fail "make failed"; }
grep -qF -- "-I$src" "$tmp/make.log" && fail "the compile line uses headers from the source tree, not the installed ones"
if grep -qi 'warning' "$tmp/make.log"; then cat "$tmp/make.log" >&2; fail "hello.c compiles with warnings"; fi
exports=$(nm -D --defined-only "$tmp/hello/hello.so" | awk '{print $3}' | grep -v '^_' | sort | tr '\n' ' ')
[ "$exports" = "ec_plugin_descriptor " ] || fail "hello.so exports [$exports], expected only ec_plugin_descriptor"

step "building examples/hello-plugin with its meson.build"
cp -R "$src/examples/hello-plugin" "$tmp/hello-meson"
rm -f "$tmp/hello-meson/hello.so"
(meson setup "$tmp/hello-meson/build" "$tmp/hello-meson" && meson compile -C "$tmp/hello-meson/build") \
  >"$tmp/hello-meson.log" 2>&1 || { cat "$tmp/hello-meson.log" >&2; fail "meson build of the example failed"; }
nm -D --defined-only "$tmp/hello-meson/build/hello.so" | grep -q ' ec_plugin_descriptor$' \
  || fail "the meson-built hello.so does not export ec_plugin_descriptor"

# ---- 3. the drop-in directory ------------------------------------------------
mkdir -p "$dropin"
cp "$tmp/hello/hello.so" "$dropin/hello.so"

# ---- 4. conf.d and --list-plugins -----------------------------------------
greeting="Howdy from the hello test"
sock="$tmp/ctl.sock"
mkdir -p "$tmp/conf.d" "$tmp/data"
cat >"$tmp/conf.d/50-hello.conf" <<EOF
[core]
node-name=hello-test-node
data-dir=$tmp/data
control-socket=$sock
log-level=debug
stop-timeout=5

[database]
data-source=$tmp/data/edgecore.db

[hello]
enable=true
greeting=$greeting
EOF
# This node runs only the third-party plugin: the KubeEdge modules that are
# on by default (and would try to reach a cloud and a broker) are switched off.
for m in edged edgehub metamanager eventbus devicetwin edgestream metaserver; do
  printf '[%s]\nenable=false\n' "$m" >>"$tmp/conf.d/60-only-hello.conf"
done

ec () { timeout 30 "$edgecore" --config-dir "$tmp/conf.d" "$@"; }

ec --check-config >"$tmp/check.log" 2>&1 || { cat "$tmp/check.log" >&2; fail "--check-config rejects the conf.d"; }
ec --list-plugins >"$tmp/list.txt" 2>"$tmp/list.err" || { cat "$tmp/list.txt" "$tmp/list.err" >&2; fail "--list-plugins failed"; }
# NAME VERSION ABI STATE PATH
awk -v path="$dropin/hello.so" '$1 == "hello" && $2 == "1.0.0" && $4 == "enabled" && $5 == path { found = 1 }
     END { exit !found }' "$tmp/list.txt" \
  || { cat "$tmp/list.txt" >&2; fail "--list-plugins does not show hello 1.0.0 enabled at $dropin/hello.so"; }
# The in-tree plugins are found too, from the built-in directory, and are off.
if [ -d "$plugindir" ] && ls "$plugindir"/*.so >/dev/null 2>&1; then
  grep -qF "$plugindir/" "$tmp/list.txt" || { cat "$tmp/list.txt" >&2; fail "the built-in plugins of $plugindir are not listed"; }
fi

# ---- 5. the running host ------------------------------------------------------
step "starting $edgecore"
"$edgecore" --config-dir "$tmp/conf.d" >"$tmp/host.out" 2>"$tmp/host.log" &
host_pid=$!
i=0
until [ -S "$sock" ]; do
  kill -0 "$host_pid" 2>/dev/null || fail "the host exited early"
  [ $i -lt 200 ] || fail "no control socket $sock after 20 s"
  sleep 0.1; i=$((i + 1))
done

# Waits up to 10 s for a fixed string in the host's log.
wait_log () {
  j=0
  until grep -qF -- "$1" "$tmp/host.log"; do
    [ $j -lt 100 ] || fail "the host did not log \"$1\" within 10 s"
    sleep 0.1; j=$((j + 1))
  done
}
wait_log "hello started"

ec --ctl plugins >"$tmp/ctl-plugins.txt" || { cat "$tmp/ctl-plugins.txt" >&2; fail "--ctl plugins failed"; }
[ "$(head -n 1 "$tmp/ctl-plugins.txt")" = ok ] || fail "--ctl plugins does not answer ok"
awk -v path="$dropin/hello.so" '$1 == "hello" && $4 == "running" && $5 == path { found = 1 } END { exit !found }' \
  "$tmp/ctl-plugins.txt" || { cat "$tmp/ctl-plugins.txt" >&2; fail "the host does not report hello running"; }
ec --ctl members >"$tmp/ctl-members.txt" || fail "--ctl members failed"
grep -qE '^hello +hello ' "$tmp/ctl-members.txt" || { cat "$tmp/ctl-members.txt" >&2; fail "hello is not a bus member of group hello"; }

# A sync call. The control socket's bus member does the waiting.
call_id="hello-test-call-0001"
step "call hello"
ec --ctl "call hello 2000 {\"header\":{\"msg_id\":\"$call_id\",\"timestamp\":1},\"route\":{\"source\":\"hello-test\",\"group\":\"hello\",\"operation\":\"query\",\"resource\":\"hello-test/greeting\"},\"content\":\"world\"}" \
  >"$tmp/call.txt" || { cat "$tmp/call.txt" >&2; fail "--ctl call hello failed"; }
[ "$(sed -n 1p "$tmp/call.txt")" = ok ] || { cat "$tmp/call.txt" >&2; fail "the call does not answer ok"; }
sed -n 2p "$tmp/call.txt" >"$tmp/reply.json"
python3 - "$tmp/reply.json" "$call_id" "$greeting, world" <<'EOF' || fail "wrong reply: $(cat "$tmp/reply.json")"
import json, sys
path, call_id, want = sys.argv[1:]
m = json.load(open(path, encoding="utf-8"))
problems = []
if m["header"].get("parent_msg_id") != call_id:
    problems.append("parent_msg_id %r, want %r" % (m["header"].get("parent_msg_id"), call_id))
if m["header"].get("msg_id") in (None, "", call_id):
    problems.append("the reply needs its own msg_id, has %r" % m["header"].get("msg_id"))
if m.get("content") != want:
    problems.append("content %r, want %r" % (m.get("content"), want))
if m["route"].get("operation") != "response":
    problems.append("operation %r, want 'response'" % m["route"].get("operation"))
if m["route"].get("resource") != "hello-test/greeting":
    problems.append("resource %r" % m["route"].get("resource"))
for p in problems:
    print("reply:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
wait_log "received message $call_id from hello-test"

# A plain send of a ping. The pong goes to route.source: the control
# socket's own bus member, edgecore-ctl.
send_id="hello-test-send-0001"
step "send hello"
ec --ctl "send hello {\"header\":{\"msg_id\":\"$send_id\"},\"route\":{\"source\":\"edgecore-ctl\",\"operation\":\"ping\",\"resource\":\"hello-test/ping\"},\"content\":{\"n\":1}}" \
  >"$tmp/send.txt" || { cat "$tmp/send.txt" >&2; fail "--ctl send hello failed"; }
[ "$(sed -n 1p "$tmp/send.txt")" = ok ] || fail "the send does not answer ok"
wait_log "received message $send_id from edgecore-ctl: ping hello-test/ping, sync=false, content {\"n\":1}"
wait_log "to edgecore-ctl"
grep -F "sent pong" "$tmp/host.log" | grep -qF "to edgecore-ctl" || fail "hello did not send its pong"

# A group send reaches hello as member of group hello.
group_id="hello-test-group-0001"
step "group hello"
ec --ctl "group hello {\"header\":{\"msg_id\":\"$group_id\"},\"route\":{\"source\":\"hello-test\",\"operation\":\"update\",\"resource\":\"hello-test/group\"},\"content\":null}" \
  >"$tmp/group.txt" || { cat "$tmp/group.txt" >&2; fail "--ctl group hello failed"; }
wait_log "received message $group_id from hello-test"

# Errors come back as `error: ...` with a non-zero exit.
if ec --ctl "call no-such-module 500 {\"route\":{\"operation\":\"query\"}}" >"$tmp/err.txt" 2>&1; then
  fail "a call to a missing module succeeded: $(cat "$tmp/err.txt")"
fi
grep -q '^error: ' "$tmp/err.txt" || { cat "$tmp/err.txt" >&2; fail "a failed call does not answer error:"; }

# ---- 6. stop -----------------------------------------------------------------
step "stopping the host"
kill -TERM "$host_pid"
i=0
while kill -0 "$host_pid" 2>/dev/null; do
  [ $i -lt 150 ] || fail "the host did not exit within 15 s of SIGTERM"
  sleep 0.1; i=$((i + 1))
done
host_status=0
wait "$host_pid" || host_status=$?
host_pid=
[ $host_status -eq 0 ] || fail "the host exited with status $host_status"
grep -qF "hello stopped after 3 messages" "$tmp/host.log" || fail "hello did not stop cleanly after its 3 messages"
if grep -qE 'CRITICAL|WARNING' "$tmp/host.log"; then
  grep -E 'CRITICAL|WARNING' "$tmp/host.log" >&2
  fail "the host logged warnings"
fi
[ ! -e "$sock" ] || fail "the control socket was not removed"

step "ok"
