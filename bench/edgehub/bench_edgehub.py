#!/usr/bin/env python3
"""edgehub benchmarks: a real edgecore (edgehub + the fake metamanager from
tests/edgehub, which stores into the shared sqlite file and acks after the
commit) against cloudsim on 127.0.0.1, default edgehub settings.

  usage: bench_edgehub.py BUILD_DIR [--quick] [--repeat=N]

Prints
  BENCH edgehub.pods_acked <n> msg/s         1 KB pod inserts, cloud -> stored -> acked
  BENCH edgehub.pods_cpu <n> us/msg          edgecore's CPU time (user + system) per pod of
                                             that flood (the best run): steadier than the
                                             rate on a loaded machine
  BENCH edgehub.reconnect_first_msg <n> ms   cloud back (listening) -> first message from the node
  BENCH edgehub.idle_rss <n> kB              edgecore's RSS, connected and idle
Details go to stderr."""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "lib"))
import harness  # noqa: E402
from harness import read  # noqa: E402

build = os.path.abspath(sys.argv[1])
quick = "--quick" in sys.argv
repeat = 1
for a in sys.argv[2:]:
    if a.startswith("--repeat="):
        repeat = max(1, int(a.split("=", 1)[1]))
EDGECORE = os.path.join(build, "kernel", "edgecore")
CLOUDSIM = os.path.join(build, "tests", "cloudsim", "cloudsim")
if not os.path.exists(CLOUDSIM):
    CLOUDSIM = os.path.join(build, "tests", "edgehub", "cloudsim")
PLUGINS = [os.path.join(build, "plugins", "edgehub"), os.path.join(build, "tests", "edgehub", "fake")]
N = 20000 if quick else 100000
WINDOW = 2000


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class BenchFailed(SystemExit):
    def __init__(self, message):
        super().__init__("bench-edgehub: " + message)


def wait_for(pred, timeout, what):
    return harness.wait_for(pred, timeout, what, 0.02, BenchFailed)


class Cloud:
    def __init__(self, root, port=0, https_port=None):
        self.dir = os.path.join(root, "cloud")
        self.out_path = os.path.join(root, "cloud.out")
        args = ["--port", str(port)]
        if https_port is not None:
            args += ["--https-port", str(https_port)]
        self.proc, self.out = harness.start_cloudsim(CLOUDSIM, self.dir, self.out_path, args, 15, "cloudsim",
                                                     0.02, BenchFailed)
        self.port, self.https_port, self.token = harness.cloud_addresses(self.dir)

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def events(self, kind):
        return harness.cloud_events(self.dir, kind)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)
        self.proc.stdin.close()
        self.out.close()


def start_node(root, cloud):
    confd = os.path.join(root, "conf.d")
    os.makedirs(confd, exist_ok=True)
    certs = os.path.join(root, "kubeedge")
    with open(os.path.join(confd, "00-bench.conf"), "w") as f:
        f.write(f"[core]\ncontrol-socket=\ndata-dir={root}\nnode-name=bench-node\nlog-level=warning\n"
                f"[database]\ndata-source={root}/edgecore.db\n"
                f"[edgehub]\ntls-ca-file={certs}/ca/rootCA.crt\n"
                f"tls-cert-file={certs}/certs/server.crt\ntls-private-key-file={certs}/certs/server.key\n"
                f"token-file=\nwebsocket-server=127.0.0.1:{cloud.port}\n"
                f"http-server=https://127.0.0.1:{cloud.https_port}\ntoken={cloud.token}\n"
                "[fake-metamanager]\nenable=true\nverbose=false\n")
    args = [EDGECORE, "--config-dir", confd]
    for d in PLUGINS:
        args += ["--plugin-dir", d]
    env = dict(os.environ, EDGECORE_SYSTEM_CONFIG_DIRS="", EDGECORE_SYSTEM_PLUGIN_DIRS="")
    logf = open(os.path.join(root, "node.log"), "w")
    return subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, env=env), logf


def cpu_s(pid):
    """User + system CPU seconds of a process."""
    f = read(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    for line in read(f"/proc/{pid}/status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main():
    with tempfile.TemporaryDirectory(prefix="ec-bench-edgehub-") as root:
        cloud = Cloud(root)
        node, logf = start_node(root, cloud)
        try:
            wait_for(lambda: cloud.events("connect"), 20, "the node to connect")
            time.sleep(2)
            rss = rss_kb(node.pid)

            best = 0.0
            best_cpu = None
            for r in range(repeat):
                before = len(cloud.events("flood-done"))
                cpu0 = cpu_s(node.pid)
                cloud.cmd(f"flood {N} 1024 {WINDOW}")
                done = wait_for(lambda: len(cloud.events("flood-done")) > before
                                and cloud.events("flood-done")[-1], 300, "the flood to be acked")
                cpu_us = (cpu_s(node.pid) - cpu0) * 1e6 / max(done["count"], 1)
                log(f"bench-edgehub: {done['count']} pods of 1 KB stored and acked in "
                    f"{done['us'] / 1e6:.2f} s ({done['rate']:.0f} msg/s, {done['resends']} resends, "
                    f"{cpu_us:.1f} us CPU each)")
                best = max(best, done["rate"])
                best_cpu = cpu_us if best_cpu is None else min(best_cpu, cpu_us)
            print(f"BENCH edgehub.pods_acked {best:.0f} msg/s", flush=True)
            print(f"BENCH edgehub.pods_cpu {best_cpu:.1f} us/msg", flush=True)

            # the cloud goes away for 5 s and comes back on the same ports
            port, https = cloud.port, cloud.https_port
            cloud.stop()
            time.sleep(2 if quick else 5)
            cloud = Cloud(root, port=port, https_port=https)
            start = [e for e in cloud.events("start")][-1]["t"]
            first = wait_for(lambda: [e for e in cloud.events("recv") if e["t"] >= start], 60,
                             "the first message after the cloud came back")[0]
            ms = first["t"] - start
            log(f"bench-edgehub: cloud back -> first message {ms} ms (default backoff 1 s..30 s, jitter 0.2)")
            print(f"BENCH edgehub.reconnect_first_msg {ms} ms", flush=True)
            print(f"BENCH edgehub.idle_rss {rss} kB", flush=True)
        finally:
            node.send_signal(signal.SIGTERM)
            try:
                node.wait(timeout=20)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()
            logf.close()
            if cloud.proc.poll() is None:
                cloud.stop()
            if os.environ.get("BENCH_EDGEHUB_LOG"):
                log(read(os.path.join(root, "node.log"))[-3000:])


if __name__ == "__main__":
    main()
