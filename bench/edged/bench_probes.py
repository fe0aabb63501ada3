#!/usr/bin/env python3
"""The cost of edged's httpGet probes over HTTP and HTTPS, with probe-run
(tests/edged/probe-run.c: edged's probe code outside edgecore) against
servers on 127.0.0.1 (tests/edged/probe_servers.py; HTTPS with a
self-signed certificate, the server in Python). Prints BENCH lines:

  edged.probe_http_ms / edged.probe_https_ms
                          median wall time of one attempt (connect, TLS
                          handshake, GET, answer), N attempts one after
                          another in one process, the first left out
  edged.probe_http_cpu_ms / edged.probe_https_cpu_ms
                          probe-run's CPU time per attempt in that run
                          (user + system, less a run of one attempt)
  edged.probe_https_first_rss_kb
                          VmRSS after one HTTPS attempt less after one HTTP
                          attempt: what the first HTTPS probe adds to a
                          process without OpenSSL (libssl and libcrypto are
                          opened and set up then; an edgecore with edgehub
                          has them already)
  edged.probe_https_next_rss_kb
                          VmRSS after N HTTPS attempts one after another
                          less after one: growth once set up (should be ~0)
  edged.probe_https_session_kb
                          VmRSS after N HTTPS attempts at once less after
                          one, per attempt: the memory of a TLS probe in
                          flight

usage: bench/edged/bench_probes.py BUILD_DIR [--quick]"""
import os
import re
import resource
import statistics
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "edged"))
from probe_servers import WebServer  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
QUICK = "--quick" in sys.argv
PROBE_RUN = os.path.join(BUILD, "tests", "edged", "probe-run")
N = 20 if QUICK else 100


def container(port, scheme):
    return ('{"name": "main", "livenessProbe": {"httpGet": {"port": %d, "path": "/ok", '
            '"scheme": "%s"}, "timeoutSeconds": 10}}' % (port, scheme))


def probe_run(*containers, serial=False):
    """(stdout, CPU seconds, VmRSS kB at the end); every attempt must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([PROBE_RUN] + (["--serial"] if serial else []) + ["127.0.0.1", *containers],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if len(re.findall(r"^RESULT \d+ success ", out, re.M)) != len(containers):
        raise SystemExit(f"bench_probes: attempts failed:\n{out}")
    return out, cpu, int(re.search(r"^RSS (\d+) kB$", out, re.M)[1])


class Bench(unittest.TestCase):
    def runTest(self):
        plain = WebServer(self)
        tls = WebServer(self, "self-signed")
        one = {}
        for name, port, scheme in (("http", plain.port, "HTTP"), ("https", tls.port, "HTTPS")):
            c = container(port, scheme)
            _, cpu1, one[name] = probe_run(c)
            out, cpu, rss_serial = probe_run(*[c] * N, serial=True)
            times = [float(m[2]) for m in re.finditer(r"^RESULT (\d+) success ([\d.]+) ", out, re.M)
                     if m[1] != "0"]
            print(f"BENCH edged.probe_{name}_ms {statistics.median(times):.2f} ms", flush=True)
            print(f"BENCH edged.probe_{name}_cpu_ms {max(cpu - cpu1, 0) * 1000 / (N - 1):.2f} ms",
                  flush=True)
            if name == "https":
                _, _, rss_at_once = probe_run(*[c] * N)
                print(f"BENCH edged.probe_https_first_rss_kb {one['https'] - one['http']} kB", flush=True)
                print(f"BENCH edged.probe_https_next_rss_kb {rss_serial - one['https']} kB", flush=True)
                print(f"BENCH edged.probe_https_session_kb {(rss_at_once - one['https']) / (N - 1):.1f} kB",
                      flush=True)


if __name__ == "__main__":
    r = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(Bench())
    sys.exit(0 if r.wasSuccessful() else 1)
