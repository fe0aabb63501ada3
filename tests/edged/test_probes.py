#!/usr/bin/env python3
"""edged's probes and lifecycle hooks (issue 12) with the real edgecore,
edgehub, metamanager, cloudsim and a private containerd (with-runtime.sh):
a failing exec liveness probe restarts the container (counted), an httpGet
readiness probe (headers sent, answers 200/503 from a server the test runs)
flips Ready, a tcpSocket liveness probe that succeeds restarts nothing, a
startup probe holds the others back, a probe edged cannot run makes the pod
Failed with the reason, postStart and preStop hooks run (preStop within the
grace period)."""
import http.server
import json
import os
import sys
import threading
import time
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "lib"))
import test_edged as te  # noqa: E402
from harness import read  # noqa: E402


class Server:
    """An HTTP server on 127.0.0.1 whose answer the test sets; it records
    the requests' headers."""

    def __init__(self, test):
        self.code = 200
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append((self.path, dict(self.headers)))
                self.send_response(outer.code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        test.addCleanup(self.stop)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def cstatus(st):
    return st["Status"]["containerStatuses"][0]


def cond(st, type_):
    return next(c for c in st["Status"]["conditions"] if c["type"] == type_)


class Probes(te.Base):
    def start(self):
        return self.start_node()

    def remove(self, cloud, node, names):
        for name in names:
            cloud.send_pod("delete", te.pod_obj(name, f"uid-{name}", "true"), 99)
        for name in names:
            node.wait_log(rf"pod default/{name} \(uid uid-{name}\) removed from the runtime", 60)

    def test_liveness_restarts_readiness_flips_tcp_keeps(self):
        cloud, node = self.start()
        server = Server(self)
        before = set(te.crictl_ls())
        # liveness: exec, fails once /tmp/ok is gone (4 s after the start)
        live = te.pod_obj("live", "uid-live", "touch /tmp/ok; (sleep 4; rm /tmp/ok) & exec sleep 3600",
                          restartPolicy="Always")
        live["spec"]["containers"][0]["livenessProbe"] = {
            "exec": {"command": ["cat", "/tmp/ok"]}, "periodSeconds": 1, "failureThreshold": 2,
            "timeoutSeconds": 5}
        # readiness: httpGet on the test's server (host given), with a header;
        # liveness: tcpSocket on the same server, always accepting
        ready = te.pod_obj("ready", "uid-ready", "exec sleep 3600", restartPolicy="Always")
        ready["spec"]["containers"][0]["readinessProbe"] = {
            "httpGet": {"host": "127.0.0.1", "port": server.port, "path": "/healthz?x=1",
                        "httpHeaders": [{"name": "X-Probe", "value": "edge"}]},
            "periodSeconds": 1, "failureThreshold": 1, "successThreshold": 2}
        ready["spec"]["containers"][0]["livenessProbe"] = {
            "tcpSocket": {"host": "127.0.0.1", "port": server.port}, "periodSeconds": 1}
        cloud.send_pod("insert", live, 1)
        cloud.send_pod("insert", ready, 1)

        # the liveness failure restarts the container, counted
        def restarted():
            return [s for s in cloud.pod_statuses("live") if cstatus(s)["restartCount"] >= 1]
        st = te.wait_for(restarted, 90, lambda: "the liveness restart:\n" + node.output()[-3000:])[0]
        node.wait_log(r"pod default/live: container main failed liveness probe, will be restarted: "
                      r"command exited with 1")
        self.assertIn(cstatus(st)["lastState"]["terminated"]["exitCode"], (137, 143))
        # it was ready before it failed
        self.assertTrue([s for s in cloud.pod_statuses("live")
                         if cstatus(s)["ready"] and cstatus(s)["restartCount"] == 0])

        # readiness: Ready after two successes, with the header and path sent
        def ready_is(value):
            return lambda: [s for s in cloud.pod_statuses("ready")
                            if cstatus(s)["ready"] is value and "running" in cstatus(s)["state"]]
        st = te.wait_for(ready_is(True), 60, lambda: "Ready:\n" + node.output()[-3000:])[-1]
        self.assertEqual(cond(st, "Ready")["status"], "True")
        self.assertEqual(cond(st, "ContainersReady")["status"], "True")
        self.assertTrue(cstatus(st)["started"])
        path, headers = server.requests[0]
        self.assertEqual(path, "/healthz?x=1")
        self.assertEqual(headers.get("X-Probe"), "edge")
        self.assertTrue(headers.get("User-Agent", "").startswith("kube-probe/"))
        # the server answers 503: not ready (failureThreshold 1), no restart
        n = len(cloud.pod_statuses("ready"))
        server.code = 503
        st = te.wait_for(lambda: [s for s in cloud.pod_statuses("ready")[n:]
                                  if not cstatus(s)["ready"]], 30, "not ready")[0]
        self.assertEqual(cond(st, "Ready")["status"], "False")
        self.assertEqual(cond(st, "Ready")["reason"], "ContainersNotReady")
        self.assertEqual(cond(st, "Ready")["message"], "containers with unready status: [main]")
        self.assertTrue(cstatus(st)["started"])
        self.assertIn("running", cstatus(st)["state"])
        n = len(cloud.pod_statuses("ready"))
        server.code = 200
        te.wait_for(lambda: [s for s in cloud.pod_statuses("ready")[n:] if cstatus(s)["ready"]], 30,
                    "ready again")
        # the tcpSocket liveness probe never restarted it
        self.assertEqual(cstatus(cloud.pod_statuses("ready")[-1])["restartCount"], 0)
        self.remove(cloud, node, ["live", "ready"])
        self.assertEqual(set(te.crictl_ls()), before)

    def test_startup_holds_back_and_bad_probe_refused(self):
        cloud, node = self.start()
        # the startup probe succeeds once /tmp/started exists (after 4 s);
        # until then the readiness probe must not run (it would leave
        # /tmp/violation); the container reports what it saw in its log
        pod = te.pod_obj("slow", "uid-slow",
                         "sleep 4; touch /tmp/started; sleep 3; "
                         "if [ -e /tmp/violation ]; then echo VIOLATION; else echo CLEAN; fi; "
                         "exec sleep 3600", restartPolicy="Always")
        c = pod["spec"]["containers"][0]
        c["startupProbe"] = {"exec": {"command": ["test", "-e", "/tmp/started"]},
                             "periodSeconds": 1, "failureThreshold": 30}
        c["readinessProbe"] = {"exec": {"command": ["sh", "-c",
                                                    "test -e /tmp/started || touch /tmp/violation"]},
                               "periodSeconds": 1}
        cloud.send_pod("insert", pod, 1)
        # running but not started, not ready
        st = te.wait_for(lambda: [s for s in cloud.pod_statuses("slow")
                                  if "running" in cstatus(s)["state"]], 60, "running")[0]
        self.assertFalse(cstatus(st)["started"])
        self.assertFalse(cstatus(st)["ready"])
        st = te.wait_for(lambda: [s for s in cloud.pod_statuses("slow") if cstatus(s)["ready"]], 60,
                         lambda: "started and ready:\n" + node.output()[-3000:])[0]
        self.assertTrue(cstatus(st)["started"])
        log = os.path.join(self.root, "pods", "default_slow_uid-slow", "main", "0.log")
        te.wait_for(lambda: os.path.exists(log) and ("CLEAN" in read(log) or "VIOLATION" in read(log)),
                    30, "the container's verdict")
        self.assertIn("CLEAN", read(log))
        self.assertEqual(cstatus(cloud.pod_statuses("slow")[-1])["restartCount"], 0)

        # a probe edged cannot run: the pod is Failed with the reason
        bad = te.pod_obj("badprobe", "uid-badprobe", "true")
        bad["spec"]["containers"][0]["livenessProbe"] = {"httpGet": {"port": 9000, "scheme": "FTP"}}
        cloud.send_pod("insert", bad, 1)
        st = te.wait_for(lambda: cloud.pod_statuses("badprobe"), 30, "the refused pod")[0]
        self.assertEqual(st["Status"]["reason"], "InvalidPodSpec")
        self.assertIn("container main: livenessProbe: httpGet scheme FTP is not HTTP or HTTPS",
                      st["Status"]["message"])
        self.assertTrue(node.alive())
        self.remove(cloud, node, ["slow"])

    def test_post_start_and_pre_stop_hooks(self):
        cloud, node = self.start()
        server = Server(self)
        before = set(te.crictl_ls())
        # postStart (exec) leaves /tmp/post, which the container waits for;
        # preStop (exec) writes to the container's stdout, so into its log
        pod = te.pod_obj("hooked", "uid-hooked",
                         "while [ ! -e /tmp/post ]; do sleep 0.2; done; echo POST-RAN; exec sleep 3600")
        pod["spec"]["containers"][0]["lifecycle"] = {
            "postStart": {"exec": {"command": ["sh", "-c", "echo yes > /tmp/post"]}},
            "preStop": {"exec": {"command": ["sh", "-c", "echo PRESTOP-RAN > /proc/1/fd/1"]}}}
        # preStop (httpGet on the test's server) that the server answers, and
        # a second pod whose preStop never ends: it is stopped once its
        # grace period (3 s) is over
        web = te.pod_obj("webhook", "uid-webhook", "exec sleep 3600")
        web["spec"]["containers"][0]["lifecycle"] = {
            "preStop": {"httpGet": {"host": "127.0.0.1", "port": server.port, "path": "/prestop"}}}
        slow = te.pod_obj("slowstop", "uid-slowstop", "exec sleep 3600",
                          terminationGracePeriodSeconds=3)
        slow["spec"]["containers"][0]["lifecycle"] = {
            "preStop": {"exec": {"command": ["sleep", "600"]}}}
        for p in (pod, web, slow):
            cloud.send_pod("insert", p, 1)
        for name in ("hooked", "webhook", "slowstop"):
            te.wait_for(lambda: [s for s in cloud.pod_statuses(name)
                                 if s["Status"]["phase"] == "Running"], 60, f"{name} Running")
        log = os.path.join(self.root, "pods", "default_hooked_uid-hooked", "main", "0.log")
        te.wait_for(lambda: os.path.exists(log) and "POST-RAN" in read(log), 30,
                    lambda: "the postStart hook's effect:\n" + node.output()[-3000:])
        self.remove(cloud, node, ["hooked", "webhook"])
        self.assertIn("PRESTOP-RAN", read(log))
        self.assertIn("/prestop", [p for p, _ in server.requests])
        node.wait_log(r"pod default/webhook: container main: preStop hook done")
        # the never-ending preStop: the pod still goes, within its grace
        # period plus the runtime's stop (well inside 60 s)
        t0 = time.monotonic()
        cloud.send_pod("delete", slow, 2)
        node.wait_log(r"pod default/slowstop \(uid uid-slowstop\) removed from the runtime", 60)
        self.assertLess(time.monotonic() - t0, 60)
        self.assertEqual(set(te.crictl_ls()), before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
