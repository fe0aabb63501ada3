#!/usr/bin/env python3
"""metaserver's connection handling, against a real edgecore (metaserver +
metamanager, the small seeded database of tests/metaserver): one client
LISTing /api/v1/namespaces/default/pods as fast as it can for S seconds,

  metaserver.list_new_conn_rps      a new connection per request, HTTP/1.1
                                    kept alive and closed by the client
                                    after the answer (Python's http.client)
  metaserver.list_keepalive_rps     every request on one kept-alive connection
  metaserver.new_conn_fds_left      edgecore's descriptors above its baseline
                                    after the new-connection run (then up to
                                    5 s to settle): 0 is no leak

usage: bench/metaserver/bench_conns.py BUILD_DIR [--quick] [--plugin-dir=DIR]
(--plugin-dir: another build's metaserver plugin, for a before/after figure)"""
import http.client
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
PATH = "/api/v1/namespaces/default/pods"


def main():
    build = os.path.abspath(sys.argv[1])
    seconds = 1.0 if "--quick" in sys.argv else 3.0
    ms_dir = os.path.join(build, "plugins", "metaserver")
    for a in sys.argv[2:]:
        if a.startswith("--plugin-dir="):
            ms_dir = os.path.abspath(a.split("=", 1)[1])
    os.environ.setdefault("EDGECORE_BIN", os.path.join(build, "kernel", "edgecore"))
    os.environ["METASERVER_PLUGIN_DIR"] = ms_dir
    os.environ.setdefault("METAMANAGER_PLUGIN_DIR", os.path.join(build, "plugins", "metamanager"))
    os.environ.setdefault("FAKECLOUD_PLUGIN_DIR", os.path.join(build, "tests", "metaserver", "fakecloud"))
    os.environ.setdefault("EDGECORE_SYSTEM_CONFIG_DIRS", "")
    os.environ.setdefault("EDGECORE_SYSTEM_PLUGIN_DIRS", "")
    sys.path.insert(0, os.path.join(SRC, "tests", "metaserver"))
    import test_metaserver as tm

    case = unittest.TestCase()
    node = tm.Node(case, extra_conf="").start()
    try:
        port, pid = node.port, node.proc.pid

        def fds():
            return len(os.listdir(f"/proc/{pid}/fd"))

        def one(conn):
            conn.request("GET", PATH)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise SystemExit(f"bench_conns: status {r.status}")

        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        one(c)
        c.close()
        time.sleep(0.2)
        baseline = fds()

        n, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < seconds:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            one(c)
            c.close()
            n += 1
        new_rps = n / (time.monotonic() - t0)
        deadline = time.monotonic() + 5
        while fds() > baseline and time.monotonic() < deadline:
            time.sleep(0.05)
        left = max(0, fds() - baseline)

        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        n, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < seconds:
            one(c)
            n += 1
        keep_rps = n / (time.monotonic() - t0)
        c.close()
        print(f"bench_conns: {ms_dir}, baseline {baseline} descriptors", file=sys.stderr)
        print(f"BENCH metaserver.list_new_conn_rps {new_rps:.0f} req/s")
        print(f"BENCH metaserver.list_keepalive_rps {keep_rps:.0f} req/s")
        print(f"BENCH metaserver.new_conn_fds_left {left} fds")
        sys.stdout.flush()
    finally:
        node.close()


if __name__ == "__main__":
    main()
