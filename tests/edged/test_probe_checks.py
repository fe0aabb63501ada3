#!/usr/bin/env python3
"""edged's httpGet (HTTP and HTTPS), tcpSocket and grpc probe checks, run
by probe-run (tests/edged/probe-run.c: probe-spec.c, probe-http.c,
probe-tls.c, probe-grpc.c outside edgecore) against real servers on
127.0.0.1 (probe_servers.py): kubelet's rules (no certificate check, SNI,
status ranges, redirects, the 10 KiB body limit, grpc health statuses),
bad input refused with a clear message, and checks that hang bounded by
their timeout without holding up the others."""
import json
import os
import re
import subprocess
import sys
import time
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from probe_servers import GrpcHealthServer, SilentServer, WebServer, free_port  # noqa: E402

PROBE_RUN = os.environ.get("PROBE_RUN_BIN", "probe-run")
last_libssl = None   # probe-run's last "LIBSSL" line


def http_probe(port, path="/ok", scheme="HTTPS", timeout=10, **extra):
    get = {"port": port, "path": path, "scheme": scheme}
    get.update(extra)
    return {"name": "main", "livenessProbe": {"httpGet": get, "timeoutSeconds": timeout}}


def grpc_probe(port, service=None, timeout=10):
    g = {"port": port}
    if service is not None:
        g["service"] = service
    return {"name": "main", "livenessProbe": {"grpc": g, "timeoutSeconds": timeout}}


def run(*containers, host="127.0.0.1", limit=60):
    """Runs the probes at once; {index: (kind, result, ms, detail)}."""
    p = subprocess.run([PROBE_RUN, host] + [json.dumps(c) for c in containers],
                       capture_output=True, text=True, timeout=limit)
    if p.returncode != 0:
        raise AssertionError(f"probe-run exited {p.returncode}: {p.stderr[-3000:]}")
    out = {}
    global last_libssl
    last_libssl = re.search(r"^LIBSSL (\S+)$", p.stdout, re.M)[1]
    for line in p.stdout.splitlines():
        m = re.match(r"RESULT (\d+) (\w+) ([\d.]+) ?(.*)$", line)
        if m:
            out[int(m[1])] = ("RESULT", m[2], float(m[3]), m[4])
            continue
        m = re.match(r"INVALID (\d+) (.*)$", line)
        if m:
            out[int(m[1])] = ("INVALID", None, 0, m[2])
    if len(out) != len(containers):
        raise AssertionError(f"probe-run said:\n{p.stdout}\n{p.stderr[-3000:]}")
    return out


def one(container, **kw):
    return run(container, **kw)[0]


class Https(unittest.TestCase):
    def test_self_signed_and_expired_accepted_no_sni_for_ip(self):
        for cert in ("self-signed", "expired"):
            s = WebServer(self, cert)
            r = one(http_probe(s.port, "/ok?x=1", httpHeaders=[{"name": "X-Probe", "value": "edge"}]))
            self.assertEqual(r[1], "success", f"{cert}: {r}")
            self.assertEqual(r[3], "HTTP/1.1 200 OK")
            path, headers = s.requests[-1]
            self.assertEqual(path, "/ok?x=1")
            self.assertEqual(headers["X-Probe"], "edge")
            self.assertTrue(headers["User-Agent"].startswith("kube-probe/"))
            self.assertEqual(headers["Host"], f"127.0.0.1:{s.port}")
            # an IP address: no SNI, as Go's crypto/tls
            self.assertEqual(s.sni, [None])
        # a fragment is not sent, as Go's client
        self.assertEqual(one(http_probe(s.port, "/ok#frag", scheme="HTTPS"))[1], "success")
        self.assertEqual(s.requests[-1][0], "/ok")

    def test_sni_is_the_url_host_and_host_header_is_kept(self):
        s = WebServer(self, "self-signed")
        r = one(http_probe(s.port, host="localhost",
                           httpHeaders=[{"name": "Host", "value": "probe.example"}]))
        self.assertEqual(r[1], "success", r)
        self.assertEqual(s.sni, ["localhost"])
        self.assertEqual(s.requests[-1][1]["Host"], "probe.example")

    def test_status_codes(self):
        s = WebServer(self, "self-signed")
        r = run(http_probe(s.port, "/fail"), http_probe(s.port, "/nothing-here"),
                http_probe(s.port, "/300"))
        self.assertEqual(r[0][1:2] + r[0][3:], ("failure", "HTTP probe failed with statuscode: 500"))
        self.assertEqual(r[1][1:2] + r[1][3:], ("failure", "HTTP probe failed with statuscode: 404"))
        # a 3xx not followed: kubelet's warning, counted as a success
        self.assertEqual(r[2][1], "warning")
        self.assertEqual(r[2][3], "Probe terminated redirects, Response body: choices")

    def test_redirects(self):
        s = WebServer(self, "self-signed")
        plain = WebServer(self)
        plain.https_target = f"https://127.0.0.1:{s.port}/ok"
        r = run(http_probe(s.port, "/same"), http_probe(s.port, "/other"),
                http_probe(s.port, "/to-fail"), http_probe(plain.port, "/to-https", scheme="HTTP"))
        # same host: followed
        self.assertEqual(r[0][1], "success", r[0])
        # another host: not followed, a warning with the body
        self.assertEqual(r[1][1:2] + r[1][3:], ("warning", "Probe terminated redirects, Response body: elsewhere"))
        self.assertNotIn("/x", s.paths())
        # followed to a failing page
        self.assertEqual(r[2][1:2] + r[2][3:], ("failure", "HTTP probe failed with statuscode: 500"))
        # http to https on the same host name (another port): followed, over TLS
        self.assertEqual(r[3][1], "success", r[3])
        self.assertEqual(plain.paths(), ["/to-https"])
        self.assertEqual(sorted(s.paths()), ["/fail", "/ok", "/ok", "/other", "/same", "/to-fail"])
        # a loop: 10 requests, then kubelet's error
        del s.requests[:]
        r = one(http_probe(s.port, "/loop"))
        self.assertEqual(r[1], "failure")
        self.assertEqual(r[3], f'Get "https://127.0.0.1:{s.port}/loop": stopped after 10 redirects')
        self.assertEqual(s.paths(), ["/loop"] * 10)

    def test_chunked_and_huge_bodies(self):
        s = WebServer(self, "self-signed")
        r = run(http_probe(s.port, "/chunked"), http_probe(s.port, "/huge", timeout=10))
        self.assertEqual(r[0][1], "success", r[0])
        # an endless body: 10 KiB are read, the connection is closed
        self.assertEqual(r[1][1], "success", r[1])
        time.sleep(0.5)
        self.assertLess(s.huge_sent, 64 << 20)

    def test_plain_http_server_probed_with_https_fails_cleanly(self):
        plain = WebServer(self)
        r = one(http_probe(plain.port, "/ok"))
        self.assertEqual(r[1], "failure")
        self.assertRegex(r[3], rf'^Get "https://127.0.0.1:{plain.port}/ok": TLS handshake failed: '
                         r'wrong version number \(is the server speaking plain HTTP\?\)$')
        # and the reverse: an HTTPS server probed with HTTP
        tls = WebServer(self, "self-signed")
        r = one(http_probe(tls.port, "/ok", scheme="HTTP"))
        self.assertEqual(r[1], "failure")
        self.assertTrue(r[3].startswith(f'Get "http://127.0.0.1:{tls.port}/ok": '), r)

    def test_hanging_servers_bounded_and_others_not_held_up(self):
        silent = SilentServer(self)
        good = WebServer(self, "self-signed")
        t0 = time.monotonic()
        # the hanging ones get 6 s; the good one, started with them, ends first
        # (a machine would have to take 6 s for one local HTTPS GET to fail this)
        r = run(http_probe(silent.port, timeout=6), http_probe(silent.port, scheme="HTTP", timeout=6),
                http_probe(good.port, timeout=6), grpc_probe(silent.port, timeout=6))
        self.assertEqual(r[0][1:2] + r[0][3:],
                         ("failure", f'Get "https://127.0.0.1:{silent.port}/ok": TLS handshake: timeout exceeded'))
        self.assertEqual(r[1][1:2] + r[1][3:],
                         ("failure", f'Get "http://127.0.0.1:{silent.port}/ok": reading the answer: timeout exceeded'))
        self.assertEqual(r[3][1:2] + r[3][3:], ("failure", "timeout: health rpc did not complete within 6s"))
        for i in (0, 1, 3):
            self.assertGreaterEqual(r[i][2], 5900)
        # the good one ended long before the hanging ones were given up
        self.assertEqual(r[2][1], "success")
        self.assertLess(r[2][2], r[0][2])
        self.assertLess(time.monotonic() - t0, 30)

    def test_libssl_loaded_by_the_first_https_probe_only(self):
        s = WebServer(self)
        tls = WebServer(self, "self-signed")
        r = run(http_probe(s.port, scheme="HTTP"), {"name": "main", "livenessProbe": {"tcpSocket": {"port": s.port}}})
        self.assertEqual([r[0][1], r[1][1]], ["success", "success"])
        self.assertEqual(last_libssl, "not-mapped")
        self.assertEqual(one(http_probe(tls.port))[1], "success")
        self.assertEqual(last_libssl, "mapped")

    def test_nothing_listening(self):
        port = free_port()
        r = run(http_probe(port), {"name": "main", "livenessProbe": {"tcpSocket": {"port": port}}},
                grpc_probe(port))
        self.assertEqual(r[0][1], "failure")
        self.assertRegex(r[0][3], rf'^Get "https://127.0.0.1:{port}/ok": connecting: .*refused')
        self.assertEqual(r[1][1], "failure")
        self.assertRegex(r[1][3], r"^connecting: .*refused")
        self.assertEqual(r[2][1], "failure")
        self.assertRegex(r[2][3], rf'^error: failed to connect service at "127.0.0.1:{port}": .*refused')


class BadInput(unittest.TestCase):
    def test_refused_specs(self):
        named = http_probe("https")
        named["ports"] = [{"name": "http", "containerPort": 8080}]
        r = run(http_probe(0), http_probe(70000), named, http_probe(443, scheme="FTP"),
                grpc_probe(0), grpc_probe(65536), grpc_probe("grpc"),
                {"name": "main", "livenessProbe": {"grpc": {"port": 1, "service": 5}}},
                {"name": "main", "livenessProbe": {"grpc": {"port": 1}, "exec": {"command": ["true"]}}})
        want = ["port 0 out of range", "port 70000 out of range", "no container port named https",
                "httpGet scheme FTP is not HTTP or HTTPS", "grpc port 0 out of range",
                "grpc port 65536 out of range", "grpc.port must be a number",
                "grpc.service must be a string",
                "exactly one of exec, httpGet, tcpSocket, grpc is needed"]
        for i, w in enumerate(want):
            self.assertEqual(r[i][0], "INVALID", r[i])
            self.assertEqual(r[i][3], f"livenessProbe: {w}")

    def test_named_https_port(self):
        s = WebServer(self, "self-signed")
        c = http_probe("https")
        c["ports"] = [{"name": "https", "containerPort": s.port}]
        self.assertEqual(one(c)[1], "success")


class Grpc(unittest.TestCase):
    def test_statuses(self):
        g = GrpcHealthServer(self)
        r = run(grpc_probe(g.port), grpc_probe(g.port, "my.Service"))
        self.assertEqual(r[0][1:2] + r[0][3:], ("success", "service healthy"))
        self.assertEqual(r[1][1], "success")
        self.assertEqual(sorted(g.services), ["", "my.Service"])
        for mode, want in (("NOT_SERVING", 'service unhealthy (responded with "NOT_SERVING")'),
                           ("UNKNOWN", 'service unhealthy (responded with "UNKNOWN")'),
                           ("SERVICE_UNKNOWN", 'service unhealthy (responded with "SERVICE_UNKNOWN")'),
                           ("unimplemented", "error: this server does not implement the grpc health "
                                             "protocol (grpc.health.v1.Health): "
                                             "/grpc.health.v1.Health/Check: unknown service")):
            g.mode = mode
            r = one(grpc_probe(g.port, "x"))
            self.assertEqual(r[1:2] + r[3:], ("failure", want))
        g.mode = "hang"
        r = one(grpc_probe(g.port, timeout=1))
        self.assertEqual(r[1:2] + r[3:], ("failure", "timeout: health rpc did not complete within 1s"))
        self.assertEqual(g.errors, [])

    def test_not_a_grpc_server(self):
        web = WebServer(self)
        r = one(grpc_probe(web.port, timeout=3))
        self.assertEqual(r[1], "failure")
        self.assertTrue(r[3].startswith("error: health rpc probe failed: "), r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
