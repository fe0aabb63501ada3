#!/usr/bin/env python3
"""edgestream end to end: requests to cloudsim's stream port (as
kube-apiserver's) through the tunnel to edged's real local endpoints and a
private containerd (tests/edged/with-runtime.sh; needs root), set up as
tests/edgestream/test_e2e.py does. Compare with bench/edged/bench_server.py
(the same endpoints without the tunnel). Prints

  BENCH edgestream.e2e_exec_echo_p50 <n> ms   a whole `exec echo x` session on containerd through
  BENCH edgestream.e2e_exec_echo_p99 <n> ms   the tunnel (connect, 101, output, status, close)
  BENCH edgestream.e2e_logs_throughput <n> MB/s  GET /containerLogs of a ~20 MB CRI log through the tunnel
  BENCH edgestream.e2e_cpu_per_mb <n> ms/MB   edgecore's CPU time (edged + edgestream) per MB of it

usage: bench/edgestream/bench_e2e.py BUILD_DIR [--quick]"""
import os
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    build = os.path.abspath(sys.argv[1])
    quick = "--quick" in sys.argv
    if "EDGED_TEST_CRI_SOCK" not in os.environ:
        wrapper = os.path.join(SRC, "tests", "edged", "with-runtime.sh")
        os.environ.setdefault("EDGED_TEST_TIMEOUT", "600")
        os.execv(wrapper, [wrapper, sys.executable] + sys.argv)
    plugins = os.path.join(build, "plugins")
    for k, v in {"EDGECORE_BIN": os.path.join(build, "kernel", "edgecore"),
                 "CLOUDSIM_BIN": os.path.join(build, "tests", "cloudsim", "cloudsim"),
                 "EDGED_PLUGIN_DIRS": ":".join(os.path.join(plugins, p)
                                               for p in ("edged", "edgehub", "metamanager", "edgestream")),
                 "EDGEHUB_PLUGIN_DIR": os.path.join(plugins, "edgehub"),
                 "EDGESTREAM_PLUGIN_DIR": os.path.join(plugins, "edgestream"),
                 "FAKE_PLUGIN_DIR": os.path.join(build, "tests", "edgehub", "fake"),
                 "METAMANAGER_PLUGIN_DIR": os.path.join(plugins, "metamanager"),
                 "EDGECORE_SYSTEM_CONFIG_DIRS": "", "EDGECORE_SYSTEM_PLUGIN_DIRS": ""}.items():
        os.environ.setdefault(k, v)
    sys.path.insert(0, os.path.join(SRC, "tests", "edgestream"))
    import test_e2e as e2e   # joins containerd's network namespace
    t, rc, es = e2e.t, e2e.rc, e2e.es

    n_exec = 30 if quick else 200
    lines = 50000 if quick else 200000      # 100 bytes each
    case = unittest.TestCase()
    with tempfile.TemporaryDirectory(prefix="ec-bench-e2e-") as root:
        port = e2e.srv.free_port()
        cloud, node = e2e.start(case, root, port)
        cloud.send_pod("insert", t.pod_obj("shell", "uid-shell", "sleep 3600"), 1)
        cloud.send_pod("insert", t.pod_obj("chatty", "uid-chatty", f"yes {'x' * 99} | head -n {lines}"), 1)
        for pod in ("shell", "chatty"):
            cloud.cmd(f"stream-pod default/{pod} {t.NODE}")
        t.wait_for(lambda: len(cloud.events("command")) >= 2, 10, "cloudsim to take the commands")
        t.wait_for(lambda: [s for s in cloud.pod_statuses("shell") if s["Status"]["phase"] == "Running"], 120,
                   "shell Running")
        path = rc.exec_path("default", "shell", "main", ["echo", "x"])
        times = []
        for _ in range(n_exec):
            t0 = time.monotonic()
            out, _, code = rc.RemoteCommand.connect("127.0.0.1", cloud.api_port, path).run()
            times.append((time.monotonic() - t0) * 1000)
            assert (out, code) == (b"x\n", 0), (out, code)
        print(f"BENCH edgestream.e2e_exec_echo_p50 {pct(times, 50):.1f} ms", flush=True)
        print(f"BENCH edgestream.e2e_exec_echo_p99 {pct(times, 99):.1f} ms", flush=True)

        t.wait_for(lambda: [s for s in cloud.pod_statuses("chatty") if s["Status"]["phase"] == "Succeeded"], 300,
                   "chatty Succeeded")
        pid = node.proc.pid

        def cpu_ms():
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) * 1000 / os.sysconf("SC_CLK_TCK")
        best = None
        for _ in range(3):
            c0, t0 = cpu_ms(), time.monotonic()
            status, _, body = es.http_get(cloud.api_port, "/containerLogs/default/chatty/main", timeout=300)
            dt, dc = time.monotonic() - t0, cpu_ms() - c0
            assert status == 200 and len(body) == lines * 100, (status, len(body))
            if best is None or dt < best[0]:
                best = (dt, dc, len(body))
        dt, dc, n = best
        print(f"BENCH edgestream.e2e_logs_throughput {n / dt / 1e6:.1f} MB/s", flush=True)
        print(f"BENCH edgestream.e2e_cpu_per_mb {dc / (n / 1e6):.2f} ms/MB", flush=True)
        for name in ("shell", "chatty"):
            cloud.send_pod("delete", t.pod_obj(name, f"uid-{name}", "true"), 2)
        for name in ("shell", "chatty"):
            node.wait_log(rf"pod default/{name} \(uid uid-{name}\) removed from the runtime", 60)
        case.doCleanups()


if __name__ == "__main__":
    main()
