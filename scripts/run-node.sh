#!/bin/bash
# Sets up a fresh Debian 12 machine (as root), builds and installs edgecore
# under /usr/local, and runs the node in the foreground with the installed
# default configuration (/usr/local/share/edgecore/conf.d; yours goes in
# /etc/edgecore/conf.d). Stop it with Ctrl-C.
#
# Unless /etc/edgecore/conf.d names a cloud (an [edgehub] websocket-server)
# or EDGECORE_NO_CLOUDSIM=1 is set, it also starts cloudsim, the project's
# stand-in for KubeEdge's CloudHub, on 127.0.0.1:10000 (hub) and :10002
# (certificates), and points the node at it through a runtime drop-in in
# /run/edgecore/conf.d: the node bootstraps its certificate from a join
# token and connects, as it would to a real CloudCore. cloudsim's CA, the
# node's certificates and what the cloud received (record.jsonl) are kept in
# /var/lib/edgecore/cloudsim.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
[ -f build/build.ninja ] || meson setup build --prefix=/usr/local
ninja -C build
meson install -C build --quiet
ldconfig

cloud_pid=
if [ -z "${EDGECORE_NO_CLOUDSIM:-}" ] && ! grep -qs '^websocket-server=.' /etc/edgecore/conf.d/*.conf; then
  dir=/var/lib/edgecore/cloudsim
  mkdir -p "$dir/node" /run/edgecore/conf.d
  rm -f "$dir/edgehub.conf"
  build/tests/cloudsim/cloudsim --dir "$dir" --port 10000 --node "$(hostname | tr 'A-Z' 'a-z')" \
    >"$dir/cloudsim.log" 2>&1 &
  cloud_pid=$!
  trap 'kill $cloud_pid 2>/dev/null || true' EXIT INT TERM
  i=0
  while [ ! -s "$dir/edgehub.conf" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  [ -s "$dir/edgehub.conf" ] || { cat "$dir/cloudsim.log" >&2; echo "cloudsim did not start" >&2; exit 1; }
  {
    echo "# written by scripts/run-node.sh: the node's cloud is the local cloudsim"
    cat "$dir/edgehub.conf"
    echo "tls-ca-file=$dir/node/rootCA.crt"
    echo "tls-cert-file=$dir/node/server.crt"
    echo "tls-private-key-file=$dir/node/server.key"
  } >/run/edgecore/conf.d/50-cloudsim.conf
  echo "run-node: cloudsim is the cloud (log: $dir/cloudsim.log, traffic: $dir/record.jsonl)"
fi

# eventbus's default MQTT broker (external mode, tcp://127.0.0.1:1883): start
# Debian's mosquitto on loopback when no broker answers there.
broker_pid=
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && command -v mosquitto >/dev/null; then
  mkdir -p /run/edgecore
  printf 'listener 1883 127.0.0.1\nallow_anonymous true\n' >/run/edgecore/mosquitto.conf
  mosquitto -c /run/edgecore/mosquitto.conf >/run/edgecore/mosquitto.log 2>&1 &
  broker_pid=$!
  trap 'kill $cloud_pid $broker_pid 2>/dev/null || true' EXIT INT TERM
  sleep 0.3
fi

/usr/local/bin/edgecore "$@" || status=$?
exit "${status:-0}"
