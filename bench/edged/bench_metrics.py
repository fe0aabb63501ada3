#!/usr/bin/env python3
"""Benchmark of edged's GET /metrics: edgecore with edgehub, metamanager,
edged (no container runtime) and metaserver against cloudsim, and eventbus
with mosquitto when it is installed, so that every plugin's registered
metrics (libedgecore 1.3) are rendered.

Prints BENCH lines:
  BENCH metrics.render_us <n> us    edgecore's CPU time per GET /metrics, less
                                    that of a GET /healthz (the rendering)
  BENCH metrics.get_us <n> us       wall time of a GET /metrics (median)
  BENCH metrics.bytes <n> B         size of the answer

CPU time (/proc/PID/stat) rather than wall time, so that a busy machine
changes the figure little.

usage: bench/edged/bench_metrics.py BUILD_DIR [--quick]"""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "lib"))
import harness  # noqa: E402
from harness import read  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    f = read(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def timed_gets(port, path, n):
    """n GETs on one kept-alive connection: their wall times in s."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = []
    size = 0
    for _ in range(n):
        t = time.perf_counter()
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        out.append(time.perf_counter() - t)
        assert r.status == 200, (path, r.status)
        size = len(body)
    c.close()
    return out, size


def main():
    build = os.path.abspath(sys.argv[1])
    quick = "--quick" in sys.argv
    n = 300 if quick else 2000
    edgecore = os.path.join(build, "kernel", "edgecore")
    cloudsim = os.path.join(build, "tests", "cloudsim", "cloudsim")
    plugins = [os.path.join(build, "plugins", p) for p in ("edgehub", "metamanager", "edged", "metaserver")]
    mosquitto = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    with tempfile.TemporaryDirectory(prefix="ec-bench-metrics-") as root:
        cloud_dir = os.path.join(root, "cloud")
        os.makedirs(cloud_dir)
        cloud, cloud_out = harness.start_cloudsim(cloudsim, cloud_dir, os.path.join(root, "cloud.out"),
                                                  ["--port", "0"], 20, "cloudsim", 0.05, SystemExit)
        broker = None
        port, ms_port = free_port(), free_port()
        extra = ""
        if mosquitto:
            bport = free_port()
            with open(os.path.join(root, "mosquitto.conf"), "w") as f:
                f.write(f"listener {bport} 127.0.0.1\nallow_anonymous true\npersistence false\n")
            broker = subprocess.Popen([mosquitto, "-c", os.path.join(root, "mosquitto.conf")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            plugins.append(os.path.join(build, "plugins", "eventbus"))
            extra = f"[eventbus]\nenable=true\nmqtt-mode=2\nmqtt-server-external=tcp://127.0.0.1:{bport}\n"
        confd = os.path.join(root, "conf.d")
        os.makedirs(confd)
        certs = os.path.join(root, "kubeedge")
        with open(os.path.join(confd, "00-bench.conf"), "w") as f:
            f.write(f"[core]\ncontrol-socket=\ndata-dir={root}\nnode-name=bench-metrics\nlog-level=warning\n"
                    f"[database]\ndata-source={root}/edgecore.db\n"
                    f"[edgehub]\ntls-ca-file={certs}/ca/rootCA.crt\ntls-cert-file={certs}/certs/server.crt\n"
                    f"tls-private-key-file={certs}/certs/server.key\ntoken-file=\n"
                    f"[metamanager]\nenable=true\n"
                    f"[edged]\nenable=true\nroot-directory={root}/kubelet\n"
                    f"container-runtime-endpoint=unix://{root}/absent.sock\n"
                    f"image-service-endpoint=unix://{root}/absent.sock\n"
                    f"node-ip=127.0.0.1\naddress=127.0.0.1\nread-only-port={port}\n"
                    f"[metaserver]\nenable=true\nserver=127.0.0.1:{ms_port}\n" + extra)
        with open(os.path.join(confd, "10-cloud.conf"), "w") as f:
            f.write(read(os.path.join(cloud_dir, "edgehub.conf")))
        args = [edgecore, "--config-dir", confd]
        for d in plugins:
            args += ["--plugin-dir", d]
        env = dict(os.environ, EDGECORE_SYSTEM_CONFIG_DIRS="", EDGECORE_SYSTEM_PLUGIN_DIRS="")
        logf = open(os.path.join(root, "node.log"), "w")
        node = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, env=env)
        try:
            def up():
                try:
                    return timed_gets(port, "/healthz", 1)
                except OSError:
                    return None
            harness.wait_for(up, 30, "edged's local endpoints", 0.1, SystemExit)
            harness.wait_for(lambda: harness.cloud_events(cloud_dir, "connect"), 30, "the node to connect",
                             0.1, SystemExit)
            time.sleep(1)
            timed_gets(port, "/metrics", 50)          # warm up
            tck = os.sysconf("SC_CLK_TCK")
            c0 = cpu_ticks(node.pid)
            hz, _ = timed_gets(port, "/healthz", n)
            c1 = cpu_ticks(node.pid)
            mt, size = timed_gets(port, "/metrics", n)
            c2 = cpu_ticks(node.pid)
            render = ((c2 - c1) - (c1 - c0)) / tck / n * 1e6
            mt.sort()
            log(f"bench-metrics: {n} GET /healthz: {(c1 - c0) / tck * 1000:.0f} ms CPU; {n} GET /metrics: "
                f"{(c2 - c1) / tck * 1000:.0f} ms CPU, {size} bytes each")
            print(f"BENCH metrics.render_us {max(render, 0):.0f} us", flush=True)
            print(f"BENCH metrics.get_us {mt[len(mt) // 2] * 1e6:.0f} us", flush=True)
            print(f"BENCH metrics.bytes {size} B", flush=True)
        finally:
            node.send_signal(signal.SIGTERM)
            try:
                node.wait(timeout=20)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()
            logf.close()
            harness.stop_process(cloud)
            cloud.stdin.close()
            cloud_out.close()
            if broker:
                harness.stop_process(broker)


if __name__ == "__main__":
    main()
