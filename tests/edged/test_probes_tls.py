#!/usr/bin/env python3
"""edged's HTTPS and grpc probes with the real edgecore, edgehub,
metamanager, cloudsim and a private containerd (with-runtime.sh). The
probes run from edged, so the servers are the test's own on 127.0.0.1
(probe_servers.py): self-signed and expired certificates (accepted, as
kubelet's InsecureSkipVerify), a 500 that restarts the container, a
readiness that flips, a plain-HTTP server probed with HTTPS and a server
that hangs in the handshake (clear failures, nobody else held up), a
redirect to another host (a warning, counted as a success), a gRPC health
server whose answer flips readiness, and HTTPS postStart and preStop
hooks. edgecore keeps running, loads no TLS library besides edgehub's
OpenSSL, and cleans everything up."""
import os
import re
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "lib"))
import test_edged as te  # noqa: E402
from probe_servers import GrpcHealthServer, SilentServer, WebServer  # noqa: E402


def cstatus(st):
    return st["Status"]["containerStatuses"][0]


def https_get(port, path, **extra):
    # a generous timeout: a slow machine must not fail the probes meant to succeed
    get = {"host": "127.0.0.1", "port": port, "path": path, "scheme": "HTTPS"}
    get.update(extra)
    return {"httpGet": get, "periodSeconds": 1, "timeoutSeconds": 10}


class TlsProbes(te.Base):
    def test_https_and_grpc_probes(self):
        # node-ip: grpc probes have no host: a host-network pod's is the node's
        cloud, node = self.start_node(extra="node-ip=127.0.0.1\n")
        signed = WebServer(self, "self-signed")
        expired = WebServer(self, "expired")
        plain = WebServer(self)
        silent = SilentServer(self)
        grpc = GrpcHealthServer(self)
        before = set(te.crictl_ls())

        pods = {}

        def pod(name, probes, restart="Always"):
            p = te.pod_obj(name, f"uid-{name}", "exec sleep 3600", restartPolicy=restart)
            p["spec"]["containers"][0].update(probes)
            pods[name] = p

        # liveness on /ok (self-signed): never restarted
        pod("live-ok", {"livenessProbe": dict(https_get(signed.port, "/ok"), failureThreshold=1)})
        # liveness on a 500: restarted
        pod("live-500", {"livenessProbe": dict(https_get(signed.port, "/fail"), failureThreshold=2)})
        # readiness on the expired certificate's server, the answer set by the test
        pod("ready-flip", {"readinessProbe": dict(https_get(expired.port, "/code"), failureThreshold=1)})
        # HTTPS to a plain-HTTP server: never ready
        pod("ready-plain", {"readinessProbe": https_get(plain.port, "/ok")})
        # a handshake that never ends: liveness fails by its timeout, restarts
        pod("live-hang", {"livenessProbe": dict(https_get(silent.port, "/ok"), timeoutSeconds=1,
                                                failureThreshold=2)})
        # a redirect to another host: a warning, counted as a success: ready
        pod("ready-redirect", {"readinessProbe": https_get(signed.port, "/other")})
        # grpc readiness on the node's address
        pod("ready-grpc", {"readinessProbe": {"grpc": {"port": grpc.port, "service": "edge.v1"},
                                              "periodSeconds": 1, "failureThreshold": 1,
                                              "timeoutSeconds": 10}})
        # HTTPS lifecycle hooks: postStart, and preStop (any answer counts)
        hooks = https_get(signed.port, "/poststart")
        del hooks["periodSeconds"], hooks["timeoutSeconds"]
        pod("hooks-tls", {"lifecycle": {"postStart": hooks,
                                        "preStop": {"httpGet": dict(hooks["httpGet"], path="/prestop")}}})
        for p in pods.values():
            cloud.send_pod("insert", p, 1)

        def statuses(name, since=0):
            return cloud.pod_statuses(name)[since:]

        def when(name, pred, what, since=0, timeout=90):
            return te.wait_for(lambda: [s for s in statuses(name, since) if pred(s)], timeout,
                               lambda: f"{name}: {what}:\n" + node.output()[-4000:])[-1]

        def is_ready(s):
            return cstatus(s)["ready"] and "running" in cstatus(s)["state"]

        # ready and running
        for name in ("ready-flip", "ready-redirect", "ready-grpc", "hooks-tls"):
            st = when(name, is_ready, "Ready")
            self.assertEqual(next(c for c in st["Status"]["conditions"] if c["type"] == "Ready")["status"],
                             "True")
        node.wait_log(r"pod default/ready-redirect: Readiness probe warning of main: Probe terminated "
                      r"redirects, Response body: elsewhere")
        self.assertEqual(grpc.services[0], "edge.v1")
        self.assertEqual(grpc.errors, [])

        # restarted: the 500 and the hanging handshake
        when("live-500", lambda s: cstatus(s)["restartCount"] >= 1, "restarted")
        node.wait_log(r"pod default/live-500: container main failed liveness probe, will be restarted: "
                      r"HTTP probe failed with statuscode: 500")
        when("live-hang", lambda s: cstatus(s)["restartCount"] >= 1, "restarted")
        node.wait_log(rf'pod default/live-hang: container main failed liveness probe, will be restarted: '
                      rf'Get "https://127.0.0.1:{silent.port}/ok": TLS handshake: timeout exceeded')

        # the plain-HTTP server: a clear failure, never ready
        node.wait_log(rf'pod default/ready-plain: Readiness probe of main failed \(\d+ of 3\): '
                      rf'Get "https://127.0.0.1:{plain.port}/ok": TLS handshake failed: wrong version '
                      rf'number \(is the server speaking plain HTTP\?\)')
        self.assertFalse([s for s in statuses("ready-plain") if cstatus(s)["ready"]])

        # readiness flips with the answer (expired certificate throughout)
        n = len(statuses("ready-flip"))
        expired.code = 503
        when("ready-flip", lambda s: not cstatus(s)["ready"] and "running" in cstatus(s)["state"],
             "not ready", n, 30)
        n = len(statuses("ready-flip"))
        expired.code = 200
        when("ready-flip", is_ready, "ready again", n, 30)
        self.assertEqual(cstatus(statuses("ready-flip")[-1])["restartCount"], 0)

        # grpc: NOT_SERVING makes it unready, SERVING ready again
        n = len(statuses("ready-grpc"))
        grpc.mode = "NOT_SERVING"
        when("ready-grpc", lambda s: not cstatus(s)["ready"], "not ready", n, 30)
        node.wait_log(r'pod default/ready-grpc: Readiness probe of main failed \(1 of 1\): '
                      r'service unhealthy \(responded with "NOT_SERVING"\)')
        n = len(statuses("ready-grpc"))
        grpc.mode = "SERVING"
        when("ready-grpc", is_ready, "ready again", n, 30)

        # the warning is logged once per container start, not every period
        self.assertEqual(len(re.findall(r"ready-redirect: Readiness probe warning", node.output())), 1)
        # the good liveness probe never restarted its container
        self.assertTrue(signed.sni == [] or set(signed.sni) == {None})
        self.assertEqual(cstatus(statuses("live-ok")[-1])["restartCount"], 0)
        self.assertIn("/ok", signed.paths())
        self.assertTrue(node.alive())
        # HTTPS probes use the OpenSSL edgehub loads: no second TLS stack
        maps = open(f"/proc/{node.proc.pid}/maps").read()
        self.assertRegex(maps, r"libssl\.so")
        self.assertFalse(re.search(r"libgnutls|libnss3|libmbedtls", maps), "another TLS library is loaded")

        for name in pods:
            cloud.send_pod("delete", te.pod_obj(name, f"uid-{name}", "true"), 99)
        for name in pods:
            node.wait_log(rf"pod default/{name} \(uid uid-{name}\) removed from the runtime", 60)
        self.assertEqual(set(te.crictl_ls()), before)
        node.wait_log(r"pod default/hooks-tls: container main: preStop hook done")
        self.assertIn("/poststart", signed.paths())
        self.assertIn("/prestop", signed.paths())


if __name__ == "__main__":
    unittest.main(verbosity=2)
