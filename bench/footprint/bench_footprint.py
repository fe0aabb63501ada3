#!/usr/bin/env python3
"""The memory footprint of a connected node, measured as users run it.

  usage: bench_footprint.py BUILD_DIR [--quick] [--wait=S] [--settle=S]
                            [--objects=N] [--updates=N] [--no-burst]

edgecore from the build tree with the project's default conf.d (every
default plugin: edgehub, metamanager, eventbus, devicetwin) except edged,
which is switched off; joined to cloudsim --profile v1.9.2 over mutual TLS
with the v1.9.2 node certificate (a node taken over from a v1.9.2 install);
a real mosquitto on 127.0.0.1; a working set sent from the cloud (5 pods,
5 config maps, 1 secret, 3 devices with twins). After --wait seconds (60;
10 with --quick; FOOTPRINT_WAIT overrides) it reads /proc/PID/smaps_rollup,
/proc/PID/smaps and /proc/PID/status and prints

  BENCH footprint.connected.rss <kB> kB      Rss of smaps_rollup
  BENCH footprint.connected.pss <kB> kB      Pss (shared pages divided among their users)
  BENCH footprint.connected.private <kB> kB  Private_Clean + Private_Dirty: pages no
                                            other process maps (PSS depends on them)
  BENCH footprint.connected.anon <kB> kB     Anonymous (heap, stacks, anonymous mmaps)
  BENCH footprint.connected.heap <kB> kB     Rss of the [heap] mapping (brk arena)
  BENCH footprint.connected.threads <n> count
  BENCH footprint.connected.soup_stack <kB> kB  Rss of libsoup and the libraries only
                                            it pulls in (krb5/gssapi, psl, idn2,
                                            unistring, brotli, nghttp2): 0, none mapped

then the burst: --objects pods (10,000; 2,000 with --quick) flooded from the
cloud, stored and acked, and --updates twin updates (20,000; 4,000 with
--quick) published by a mapper on MQTT, each answered on update/result. Then

  BENCH footprint.burst.rss <kB> kB          Rss right after the burst
  BENCH footprint.after_burst.rss|pss|private|anon|heap <kB> kB   --settle s later (30; 10 --quick)
  BENCH footprint.after_burst.pss_delta <kB> kB   after_burst.pss - connected.pss
  BENCH footprint.after_burst.rss_delta <kB> kB

Details (the per-mapping table, the node's log on failure) go to stderr;
FOOTPRINT_SMAPS=1 prints the 15 largest mappings by Pss (=N: the N largest); FOOTPRINT_MALLOC_STATS=1
glibc's per-arena figures after the burst (gdb); FOOTPRINT_WRAP="heaptrack
-o FILE" runs the node under a profiler (its figures then include the
profiler's)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))
import harness  # noqa: E402
from harness import read  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "build")
QUICK = "--quick" in sys.argv


def opt(name, default):
    for a in sys.argv[1:]:
        if a.startswith(f"--{name}="):
            return float(a.split("=", 1)[1])
    return default


WAIT = float(os.environ.get("FOOTPRINT_WAIT", opt("wait", 10 if QUICK else 60)))
SETTLE = opt("settle", 10 if QUICK else 30)
OBJECTS = int(opt("objects", 2000 if QUICK else 10000))
UPDATES = int(opt("updates", 4000 if QUICK else 20000))
BURST = "--no-burst" not in sys.argv
EDGECORE = os.path.join(BUILD, "kernel", "edgecore")
CLOUDSIM = os.path.join(BUILD, "tests", "cloudsim", "cloudsim")
V192 = os.path.join(SRC, "tests", "data", "tls-v1.9.2")
PLUGINS = ["edgehub", "metamanager", "eventbus", "devicetwin"]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
NODE = "bench-node"
DEVICES = ["thermo-1", "pump-1", "valve-1"]


def log(*a):
    print("bench-footprint:", *a, file=sys.stderr, flush=True)


class BenchFailed(SystemExit):
    def __init__(self, message):
        super().__init__("bench-footprint: " + message)


def wait_for(pred, timeout, what):
    return harness.wait_for(pred, timeout, what, 0.05, BenchFailed)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory(pid):
    """Rss, Pss, Anonymous (smaps_rollup), [heap] Rss (smaps), in kB, and the
    thread count."""
    fig = {}
    for line in read(f"/proc/{pid}/smaps_rollup").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:", "Anonymous:", "Private_Clean:", "Private_Dirty:"):
            fig[parts[0][:-1].lower()] = int(parts[1])
    fig["anon"] = fig.pop("anonymous")
    fig["private"] = fig.pop("private_clean") + fig.pop("private_dirty")
    fig["heap"] = sum(m["Rss"] for m in mappings(pid) if m["name"] == "[heap]")
    for line in read(f"/proc/{pid}/status").splitlines():
        if line.startswith("Threads:"):
            fig["threads"] = int(line.split()[1])
    return fig


def mappings(pid):
    """One dict per mapping of /proc/PID/smaps: name and its kB fields."""
    out = []
    cur = None
    for line in read(f"/proc/{pid}/smaps").splitlines():
        parts = line.split()
        if parts and "-" in parts[0] and not parts[0].endswith(":"):
            cur = {"name": parts[5] if len(parts) > 5 else "[anon]", "perm": parts[1]}
            out.append(cur)
        elif cur is not None and len(parts) == 3 and parts[2] == "kB":
            cur[parts[0][:-1]] = int(parts[1])
    return out


def smaps_rows():
    """FOOTPRINT_SMAPS=N: the N largest mappings (1: 15)."""
    n = int(os.environ.get("FOOTPRINT_SMAPS", "1") or "1")
    return 15 if n <= 1 else n


def smaps_table(pid, n=15):
    """The n largest mapped objects by Pss, summed over their mappings."""
    by = {}
    for m in mappings(pid):
        name = os.path.basename(m["name"]) if m["name"].startswith("/") else m["name"]
        e = by.setdefault(name, [0, 0, 0])
        e[0] += m.get("Rss", 0)
        e[1] += m.get("Pss", 0)
        e[2] += m.get("Anonymous", 0)
    rows = sorted(by.items(), key=lambda kv: -kv[1][1])[:n]
    return "\n".join(f"  {name:40s} rss {v[0]:6d} pss {v[1]:6d} anon {v[2]:6d} kB" for name, v in rows)


# libsoup and the libraries only it pulls in (GSSAPI/Kerberos, PSL, IDN,
# Brotli, HTTP/2): a connected node in this configuration maps none of them
# since edgehub's websocket is its own (docs/footprint.md).
SOUP_STACK = ("libsoup-", "libkrb5.", "libkrb5support.", "libgssapi_krb5.", "libk5crypto.", "libcom_err.",
              "libkeyutils.", "libpsl.", "libidn2.", "libunistring.", "libbrotli", "libnghttp2.")


def soup_stack(pid):
    """Rss (kB) and names of the libsoup-stack libraries mapped."""
    names, rss = set(), 0
    for m in mappings(pid):
        base = os.path.basename(m["name"])
        if m["name"].startswith("/") and base.startswith(SOUP_STACK):
            names.add(base)
            rss += m.get("Rss", 0)
    return rss, sorted(names)


def malloc_stats(pid, node_log):
    """glibc's per-arena figures (malloc_stats() called in the node by gdb;
    it prints on the node's stderr)."""
    size = os.path.getsize(node_log)
    subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "call (void)malloc_stats()"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    time.sleep(0.5)
    with open(node_log, errors="replace") as f:
        f.seek(size)
        return "".join(l for l in f if "Arena" in l or "bytes" in l or "mmap" in l)


def message(op, resource, content, source="edgecontroller", group="resource", rv=None):
    m = {"header": {}, "route": {"source": source, "group": group, "operation": op, "resource": resource},
         "content": content}
    if rv is not None:
        m["header"]["resourceversion"] = str(rv)
    return json.dumps(m)


def pod(i):
    name = f"web-{i}"
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"0b5c2a7e-0000-4000-8000-00000000000{i}",
                         "resourceVersion": str(100 + i), "labels": {"app": "web", "pod-template-hash": "5d8f"},
                         "annotations": {"kubernetes.io/config.seen": "2026-01-01T00:00:00Z"}},
            "spec": {"nodeName": NODE, "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                     "schedulerName": "default-scheduler", "terminationGracePeriodSeconds": 30,
                     "tolerations": [{"key": "node-role.kubernetes.io/edge", "operator": "Exists",
                                      "effect": "NoSchedule"}],
                     "volumes": [{"name": "conf", "configMap": {"name": f"conf-{i}"}}],
                     "containers": [{"name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                                     "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                     "env": [{"name": "MODE", "value": "edge"}],
                                     "resources": {"limits": {"cpu": "200m", "memory": "64Mi"}},
                                     "volumeMounts": [{"name": "conf", "mountPath": "/etc/web"}]}]},
            "status": {"phase": "Pending", "qosClass": "Burstable"}}


def configmap(i):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"conf-{i}", "namespace": "default", "uid": f"cm-uid-{i}",
                         "resourceVersion": str(200 + i)},
            "data": {"web.conf": "listen 80;\n" * 20, "mode": "edge"}}


def device(d):
    return {"id": d, "name": d,
            "twin": {"temperature": {"expected": {"value": "20"}, "metadata": {"type": "string"},
                                     "expected_version": {"cloud": 1, "edge": 0}},
                     "state": {"expected": {"value": "on"}, "metadata": {"type": "string"},
                               "expected_version": {"cloud": 1, "edge": 0}}}}


class Run:
    def __init__(self, root):
        self.root = root
        self.procs = []
        self.files = []
        self.node = None

    def start(self):
        # the broker
        self.mqtt_port = free_port()
        conf = os.path.join(self.root, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.mqtt_port} 127.0.0.1\nallow_anonymous true\n"
                    "max_queued_messages 0\nmax_inflight_messages 0\n")
        self.broker = self.spawn([MOSQUITTO, "-c", conf], "mosquitto.log")
        wait_for(lambda: self.port_open(self.mqtt_port), 10, "mosquitto to listen")

        # the cloud, as a default v1.9.2 CloudCore
        cdir = os.path.join(self.root, "cloud")
        os.makedirs(cdir)
        self.cloud, out = harness.start_cloudsim(CLOUDSIM, cdir, os.path.join(self.root, "cloud.out"),
                                                 ["--port", "0", "--profile", "v1.9.2"], 20, "cloudsim",
                                                 0.05, BenchFailed)
        self.files.append(out)
        self.cloud_dir = cdir
        port, https, _ = harness.cloud_addresses(cdir)

        # the node: a v1.9.2 node's certificate, kept as it is
        certs = os.path.join(self.root, "kubeedge")
        for src, dst in (("ca.crt", "ca/rootCA.crt"), ("edge-v192.crt", "certs/server.crt"),
                         ("edge-v192.key", "certs/server.key")):
            os.makedirs(os.path.dirname(os.path.join(certs, dst)), exist_ok=True)
            shutil.copy(os.path.join(V192, src), os.path.join(certs, dst))
        confd = os.path.join(self.root, "conf.d")
        os.makedirs(confd)
        self.sock = os.path.join(self.root, "ctl.sock")
        with open(os.path.join(confd, "60-bench.conf"), "w") as f:
            f.write(f"[core]\ncontrol-socket={self.sock}\ndata-dir={self.root}\nnode-name={NODE}\n"
                    f"[database]\ndata-source={self.root}/edgecore.db\n"
                    f"[edged]\nenable=false\n"
                    f"[edgehub]\ntls-ca-file={certs}/ca/rootCA.crt\n"
                    f"tls-cert-file={certs}/certs/server.crt\ntls-private-key-file={certs}/certs/server.key\n"
                    f"token=\ntoken-file=\nwebsocket-server=127.0.0.1:{port}\n"
                    f"http-server=https://127.0.0.1:{https}\n"
                    f"[eventbus]\nmqtt-server-external=tcp://127.0.0.1:{self.mqtt_port}\n")
        args = os.environ.get("FOOTPRINT_WRAP", "").split() + [EDGECORE, "--config-dir", os.path.join(SRC, "conf.d"), "--config-dir", confd]
        for p in PLUGINS:
            args += ["--plugin-dir", os.path.join(BUILD, "plugins", p)]
        env = dict(os.environ, EDGECORE_SYSTEM_CONFIG_DIRS="", EDGECORE_SYSTEM_PLUGIN_DIRS="",
                   EDGECORE_PLUGIN_PATH="", LC_ALL="C")
        self.node = self.spawn(args, "node.log", env=env)
        self.log_path = os.path.join(self.root, "node.log")
        wait_for(lambda: self.cloud_events("connect") or self.node.poll() is not None, 30,
                 "the node to connect over mutual TLS")
        if self.node.poll() is not None:
            raise BenchFailed("edgecore exited:\n" + read(self.log_path)[-3000:])
        wait_for(self.mqtt_connected, 15,
                 "eventbus to connect to the broker")

    def mqtt_connected(self):
        return "New client connected" in read(os.path.join(self.root, "mosquitto.log"))

    def spawn(self, args, logname, env=None):
        f = open(os.path.join(self.root, logname), "w")
        self.files.append(f)
        p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, env=env)
        self.procs.append(p)
        return p

    @staticmethod
    def port_open(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def cloud_cmd(self, line):
        self.cloud.stdin.write(line + "\n")
        self.cloud.stdin.flush()

    def cloud_events(self, kind):
        return harness.cloud_events(self.cloud_dir, kind)

    def acked(self):
        return len([e for e in self.cloud_events("recv") if e["msg"]["route"].get("operation") == "response"])

    def db(self, sql):
        import sqlite3
        con = sqlite3.connect(os.path.join(self.root, "edgecore.db"), timeout=10)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def working_set(self):
        before = self.acked()
        for i in range(5):
            self.cloud_cmd("send " + message("insert", f"default/pod/web-{i}", pod(i), rv=100 + i))
            self.cloud_cmd("send " + message("insert", f"default/configmap/conf-{i}", configmap(i), rv=200 + i))
        self.cloud_cmd("send " + message("insert", "default/secret/web-tls",
                                         {"metadata": {"name": "web-tls", "namespace": "default"},
                                          "type": "kubernetes.io/tls", "data": {"tls.crt": "QUJD" * 200}}, rv=300))
        self.cloud_cmd("send " + message("update", f"node/{NODE}/membership",
                                         {"event_id": "m1", "timestamp": int(time.time() * 1000),
                                          "added_devices": [device(d) for d in DEVICES], "removed_devices": None},
                                         source="devicecontroller", group="twin"))
        wait_for(lambda: self.acked() >= before + 11, 30, "the working set to be stored and acked")
        wait_for(lambda: self.db("SELECT count(*) FROM device")[0][0] >= len(DEVICES), 30,
                 "the devices to be stored")

    def burst(self):
        """OBJECTS pods from the cloud, then UPDATES twin updates from a mapper."""
        t0 = time.time()
        before = len(self.cloud_events("flood-done"))
        self.cloud_cmd(f"flood {OBJECTS} 1024 1000")
        done = wait_for(lambda: len(self.cloud_events("flood-done")) > before and self.cloud_events("flood-done")[-1],
                        600, "the flood to be stored and acked")
        log(f"{done['count']} pods of 1 KB stored and acked in {time.time() - t0:.1f} s")

        t0 = time.time()
        topic = f"$hw/events/device/{DEVICES[0]}/twin/update"
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(self.mqtt_port), "-h", "127.0.0.1",
                                "-t", topic + "/result", "-C", str(UPDATES), "-q", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)   # SUBACK
        lines = "".join(json.dumps({"event_id": f"u{i}", "timestamp": 1700000000000 + i,
                                    "twin": {"temperature": {"actual": {"value": str(i % 400)},
                                                             "metadata": {"type": "string"}}}}) + "\n"
                        for i in range(UPDATES))
        subprocess.run(["mosquitto_pub", "-p", str(self.mqtt_port), "-h", "127.0.0.1", "-t", topic, "-l", "-q", "1"],
                       input=lines.encode(), check=True, timeout=600)
        try:
            sub.wait(timeout=600)
        except subprocess.TimeoutExpired:
            sub.kill()
            sub.wait()
            raise BenchFailed(f"not every one of {UPDATES} twin updates was answered")
        log(f"{UPDATES} twin updates answered in {time.time() - t0:.1f} s")

    def close(self):
        for p in reversed(self.procs):
            harness.stop_process(p)
        if self.cloud:
            harness.stop_process(self.cloud)
            self.cloud.stdin.close()
        for f in self.files:
            f.close()


def main():
    for exe in (EDGECORE, CLOUDSIM):
        if not os.path.exists(exe):
            raise BenchFailed(f"{exe} not built")
    with tempfile.TemporaryDirectory(prefix="ec-bench-footprint-") as root:
        run = Run(root)
        run.cloud = None
        try:
            run.start()
            run.working_set()
            pid = run.node.pid
            log(f"connected; waiting {WAIT:g} s")
            time.sleep(WAIT)
            conn = memory(pid)
            for k in ("rss", "pss", "private", "anon", "heap"):
                print(f"BENCH footprint.connected.{k} {conn[k]} kB", flush=True)
            print(f"BENCH footprint.connected.threads {conn['threads']} count", flush=True)
            soup_rss, soup_libs = soup_stack(pid)
            print(f"BENCH footprint.connected.soup_stack {soup_rss} kB", flush=True)
            if soup_libs:
                log("libsoup stack mapped: " + ", ".join(soup_libs))
            if os.environ.get("FOOTPRINT_SMAPS"):
                log("largest mappings, connected:\n" + smaps_table(pid, smaps_rows()))
            if not BURST:
                return
            run.burst()
            peak = memory(pid)
            print(f"BENCH footprint.burst.rss {peak['rss']} kB", flush=True)
            time.sleep(SETTLE)
            after = memory(pid)
            for k in ("rss", "pss", "private", "anon", "heap"):
                print(f"BENCH footprint.after_burst.{k} {after[k]} kB", flush=True)
            print(f"BENCH footprint.after_burst.pss_delta {after['pss'] - conn['pss']} kB", flush=True)
            print(f"BENCH footprint.after_burst.rss_delta {after['rss'] - conn['rss']} kB", flush=True)
            if os.environ.get("FOOTPRINT_SMAPS"):
                log("largest mappings, after the burst:\n" + smaps_table(pid, smaps_rows()))
            if os.environ.get("FOOTPRINT_MALLOC_STATS"):
                log("malloc arenas, after the burst:\n" + malloc_stats(pid, os.path.join(root, "node.log")))
            if run.node.poll() is not None:
                raise BenchFailed("edgecore exited during the run")
        except BaseException:
            if run.node is not None:
                log("node log:\n" + read(os.path.join(root, "node.log"))[-3000:])
            raise
        finally:
            run.close()


if __name__ == "__main__":
    main()
