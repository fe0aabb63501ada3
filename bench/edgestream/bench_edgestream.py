#!/usr/bin/env python3
"""edgestream benchmarks: a real edgecore (edgehub for the node certificate,
the fake metamanager of tests/edgehub, edgestream) against cloudsim's
cloudStream on 127.0.0.1, with the Python stand-in for the node's kubelet
endpoint of tests/edgestream (kubelet_standin.py). Requests go to cloudsim's
stream port as kube-apiserver's would.

  usage: bench_edgestream.py BUILD_DIR [--quick]

Prints
  BENCH edgestream.exec_echo_p50 <n> ms      a whole `exec echo` session (connect, 101, output, status)
  BENCH edgestream.exec_echo_p99 <n> ms
  BENCH edgestream.exec_stdin_rtt_p50 <n> ms one stdin message echoed back by `cat` in a live exec
  BENCH edgestream.exec_stdin_rtt_p99 <n> ms
  BENCH edgestream.logs_throughput <n> MB/s  one container log read through the tunnel
  BENCH edgestream.cpu_per_mb <n> ms/MB      edgecore's CPU time (user+system) per MB of that log
Details go to stderr."""
import os
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
build = os.path.abspath(sys.argv[1])
quick = "--quick" in sys.argv
os.environ.update({
    "EDGECORE_BIN": os.path.join(build, "kernel", "edgecore"),
    "CLOUDSIM_BIN": os.path.join(build, "tests", "cloudsim", "cloudsim"),
    "EDGEHUB_PLUGIN_DIR": os.path.join(build, "plugins", "edgehub"),
    "EDGESTREAM_PLUGIN_DIR": os.path.join(build, "plugins", "edgestream"),
    "FAKE_PLUGIN_DIR": os.path.join(build, "tests", "edgehub", "fake"),
    "METAMANAGER_PLUGIN_DIR": os.path.join(build, "plugins", "metamanager"),
    "EDGECORE_SYSTEM_CONFIG_DIRS": "",
    "EDGECORE_SYSTEM_PLUGIN_DIRS": "",
})
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "edgestream"))
import test_edgestream as t  # noqa: E402
import remotecommand as rc  # noqa: E402

SESSIONS = 50 if quick else 300
RTTS = 200 if quick else 2000
LOG_BYTES = (32 if quick else 256) << 20


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Cleanups:
    """What test_edgestream's helpers ask of a TestCase: addCleanup."""

    def __init__(self):
        self.fns = []

    def addCleanup(self, fn, *args):
        self.fns.append((fn, args))

    def run(self):
        for fn, args in reversed(self.fns):
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001
                log("cleanup:", e)


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    c = Cleanups()
    tmp = tempfile.TemporaryDirectory(prefix="bench-edgestream-")
    c.addCleanup(tmp.cleanup)
    kubelet = t.Kubelet(pods=("default/web",))
    c.addCleanup(kubelet.stop)
    try:
        cloud = t.eh.Cloud(c, tmp.name, "--tunnel-port", "0", "--stream-kubelet-port", str(kubelet.port)).start()
        tunnel = int(t.re.search(r"server=127\.0\.0\.1:(\d+)",
                                 t.read(os.path.join(cloud.dir, "edgestream.conf"))).group(1))
        api = int(t.re.search(r"stream server http://127\.0\.0\.1:(\d+)", cloud.output()).group(1))
        node = t.Node(c, tmp.name, cloud, tunnel).start()
        t.wait_for(lambda: cloud.events("stream-connect"), 60, "the tunnel")
        cloud.cmd(f"stream-pod default/web {t.NODE}")
        t.wait_for(lambda: cloud.events("command"), 10, "cloudsim to take the command")

        times = []
        for _ in range(SESSIONS):
            t0 = time.perf_counter()
            out, _, code = rc.RemoteCommand.open("127.0.0.1", api, "/exec/default/web/c1", command=["echo", "hi"],
                                                 method="POST").run()
            times.append((time.perf_counter() - t0) * 1000)
            assert out == b"hi\n" and code == 0, (out, code)
        log(f"exec echo: {SESSIONS} sessions")
        print(f"BENCH edgestream.exec_echo_p50 {pct(times, 50):.2f} ms")
        print(f"BENCH edgestream.exec_echo_p99 {pct(times, 99):.2f} ms")

        s = rc.RemoteCommand.open("127.0.0.1", api, "/exec/default/web/c1", command=["cat"], stdin=True,
                                  method="POST")
        s.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rtts = []
        for i in range(RTTS):
            msg = b"x%d\n" % i
            t0 = time.perf_counter()
            s.send_stdin(msg)
            got = b""
            while got != msg:
                got += s.recv()[1:]
            rtts.append((time.perf_counter() - t0) * 1000)
        s.send_stdin(b"EOF\n")
        s.run()
        print(f"BENCH edgestream.exec_stdin_rtt_p50 {pct(rtts, 50):.3f} ms")
        print(f"BENCH edgestream.exec_stdin_rtt_p99 {pct(rtts, 99):.3f} ms")

        cpu0 = cpu_seconds(node.proc.pid)
        t0 = time.perf_counter()
        status, _, body = t.http_get(api, f"/containerLogs/default/web/flood?limitBytes={LOG_BYTES}", timeout=120)
        dt = time.perf_counter() - t0
        cpu = cpu_seconds(node.proc.pid) - cpu0
        assert status == 200 and len(body) == LOG_BYTES, (status, len(body))
        mb = LOG_BYTES / 1e6
        log(f"logs: {mb:.0f} MB in {dt:.2f} s, edgecore CPU {cpu:.2f} s")
        print(f"BENCH edgestream.logs_throughput {mb / dt:.1f} MB/s")
        print(f"BENCH edgestream.cpu_per_mb {cpu * 1000 / mb:.2f} ms/MB")
        node.stop()
    finally:
        c.run()


if __name__ == "__main__":
    main()
