#!/usr/bin/env python3
"""edged's local kubelet endpoints (plugins/edged/server*.c) in the real
edgecore host with edgehub, metamanager and edged, against cloudsim and the
private containerd (with-runtime.sh): /healthz, /pods, /containerLogs
(tailLines, timestamps, limitBytes, sinceSeconds, follow, previous),
/exec and /attach through the WebSocket remotecommand protocol
(tests/lib/remotecommand.py) spliced to containerd's streaming server,
/portForward, /stats/summary, /metrics/resource, /metrics, and bad input.

containerd runs in its own network namespace (with-runtime.sh), and its
streaming server listens on 127.0.0.1 there: this test joins that
namespace first (setns), so that edgecore, cloudsim and the test's clients
all share its loopback, as they share the host's on a real node.

EDGED_SERVER_TEST_LOG=FILE keeps edgecore's log and the last /pods answer
in FILE (for looking into a failure)."""
import ctypes
import http.client
import json
import os
import re
import socket
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)


def join_runtime_netns():
    """Joins containerd's network namespace (before any thread or child)."""
    pid = open(os.path.join(os.environ["EDGED_TEST_RUNTIME_DIR"], "containerd.pid")).read().strip()
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:   # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "setns into containerd's network namespace")
    finally:
        os.close(fd)


join_runtime_netns()

import remotecommand  # noqa: E402
import test_edged as t  # noqa: E402
from remotecommand import RemoteCommand  # noqa: E402

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(port, path, method="GET", timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request(method, path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body.decode(errors="replace"), r


def parse_prometheus(text):
    """{name: [(labels dict, value, timestamp or None)]}; raises on a line
    that is not the text format."""
    out = {}
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( (-?\d+))?$')
    label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            if line.startswith("# TYPE"):
                assert line.split()[3] in ("counter", "gauge", "untyped", "histogram", "summary"), line
            continue
        m = sample.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = dict(label.findall(m.group(3) or ""))
        out.setdefault(m.group(1), []).append((labels, float(m.group(4)),
                                               int(m.group(6)) if m.group(6) else None))
    return out


class Server(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.tmp = tempfile.TemporaryDirectory(prefix="ec-edged-srv-")
        cls.root = cls.tmp.name
        cls.case = unittest.TestCase()
        cls.port = free_port()
        # under ASan, freed memory waits in a quarantine (256 MB by default),
        # which the back-pressure test would count as edgecore's growth
        os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4"
        cls.cloud = t.Cloud(cls.case, cls.root)
        cls.node = t.Node(cls.case, cls.root, cls.cloud,
                          f"container-runtime-endpoint=unix://{t.SOCK}\n"
                          f"image-service-endpoint=unix://{t.SOCK}\n"
                          f"pod-logs-dir={cls.root}/pods\ncgroup-root={t.CGROUP}\n"
                          f"node-ip=127.0.0.1\naddress=127.0.0.1\nread-only-port={cls.port}\n")
        t.wait_for(lambda: cls.cloud.node_messages("insert"), 30, "registration")
        cls.node.wait_log(rf"local endpoints on http://127\.0\.0\.1:{cls.port}")
        # a chatty pod: one numbered line every 0.2 s
        cls.cloud.send_pod("insert", t.pod_obj(
            "talk", "uid-talk", "i=0; while true; do i=$((i+1)); echo line-$i; sleep 0.2; done"), 1)
        # a pod whose container crashes: its previous log
        cls.cloud.send_pod("insert", t.pod_obj("crash", "uid-crash", "echo started-$$$$; sleep 1; exit 1",
                                               restartPolicy="Always"), 1)
        # a line longer than containerd's 16 KiB: written as partial (P) pieces
        cls.cloud.send_pod("insert", t.pod_obj(
            "long", "uid-long", "head -c 40000 /dev/zero | tr '\\0' y; echo; echo first; sleep 3600"), 1)
        # 40 MB of log, written at once
        cls.cloud.send_pod("insert", t.pod_obj("flood", "uid-flood", "yes " + "z" * 99 + " | head -n 400000"), 1)
        for name in ("talk", "long"):
            t.wait_for(lambda: [s for s in cls.cloud.pod_statuses(name)
                                if s["Status"]["phase"] == "Running"], 60,
                       lambda: f"{name} Running:\n" + cls.node.output()[-3000:])

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("EDGED_SERVER_TEST_LOG"):
            pods = ""
            try:
                pods = get(cls.port, "/pods")[1]
            except OSError as e:
                pods = str(e)
            open(os.environ["EDGED_SERVER_TEST_LOG"], "w").write(cls.node.output() + "\n" + pods
                                                                 + f"\nrc={cls.node.proc.poll()}\n")
        if not cls.node.alive():
            sys.stderr.write("edgecore ended during the tests:\n" + cls.node.output()[-6000:] + "\n")
        for name in ("talk", "crash", "long", "flood"):
            cls.cloud.send_pod("delete", t.pod_obj(name, f"uid-{name}", "true"), 2)
        try:
            for name in ("talk", "crash", "long", "flood"):
                cls.node.wait_log(rf"pod default/{name} \(uid uid-{name}\) removed from the runtime", 60)
        finally:
            cls.case.doCleanups()
            cls.tmp.cleanup()

    def lines(self, query, pod="talk"):
        status, body, _ = get(self.port, f"/containerLogs/default/{pod}/main?{query}")
        self.assertEqual(status, 200, body)
        return body

    def test_healthz_and_pods(self):
        self.assertEqual(get(self.port, "/healthz")[:2], (200, "ok"))
        self.assertEqual(get(self.port, "/healthz/syncloop")[:2], (200, "ok"))
        status, body, r = get(self.port, "/pods")
        self.assertEqual(status, 200)
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        pods = json.loads(body)
        self.assertEqual((pods["kind"], pods["apiVersion"]), ("PodList", "v1"))
        talk = next(p for p in pods["items"] if p["metadata"]["name"] == "talk")
        self.assertEqual(talk["metadata"]["uid"], "uid-talk")
        self.assertEqual(talk["metadata"]["namespace"], "default")
        self.assertEqual(talk["spec"]["nodeName"], t.NODE)
        self.assertEqual(talk["spec"]["containers"][0]["name"], "main")
        self.assertEqual(talk["status"]["phase"], "Running")
        self.assertIn("running", talk["status"]["containerStatuses"][0]["state"])

    def test_logs_tail_timestamps_limit_since(self):
        t.wait_for(lambda: len(self.lines("").splitlines()) >= 15, 30, "15 log lines")
        body = self.lines("tailLines=10")
        lines = body.splitlines()
        self.assertEqual(len(lines), 10, body)
        nums = [int(re.fullmatch(r"line-(\d+)", ln).group(1)) for ln in lines]
        self.assertEqual(nums, list(range(nums[0], nums[0] + 10)))
        self.assertGreaterEqual(nums[-1], int(self.lines("").splitlines()[-1].split("-")[1]) - 5)
        # timestamps: each line starts with its RFC 3339 time
        for ln in self.lines("tailLines=3&timestamps=true").splitlines():
            self.assertRegex(ln, rf"^{TS} line-\d+$")
        # limitBytes cuts the answer
        self.assertEqual(len(self.lines("limitBytes=7").encode()), 7)
        self.assertEqual(self.lines("limitBytes=7"), "line-1\n")
        self.assertEqual(self.lines("tailLines=0"), "")
        # sinceSeconds: only the last second or so
        recent = self.lines("sinceSeconds=1").splitlines()
        self.assertLess(len(recent), len(self.lines("").splitlines()))
        self.assertLessEqual(len(recent), 10)
        future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        self.assertEqual(self.lines("sinceTime=" + future), "")

    def test_logs_follow_streams_new_lines(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", "/containerLogs/default/talk/main?follow=true&tailLines=1")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        first = r.readline().decode()
        m = re.fullmatch(r"line-(\d+)\n", first)
        self.assertTrue(m, first)
        start = int(m.group(1))
        # lines the container writes after the request arrive on the stream
        got = [r.readline().decode() for _ in range(5)]
        self.assertEqual(got, [f"line-{start + i}\n" for i in range(1, 6)])
        r.close()
        c.close()
        # edged let go of the stream (the client left)
        t.wait_for(lambda: "edged_streams 0\n" in get(self.port, "/metrics")[1], 10,
                   lambda: "streams closed: " + " ".join(re.findall(r"edged_streams.*", get(self.port, "/metrics")[1])))

    def test_logs_partial_lines_joined_and_rotation(self):
        log = os.path.join(self.root, "pods", "default_long_uid-long", "main", "0.log")
        t.wait_for(lambda: os.path.exists(log) and "first" in open(log).read(), 30, "the long line")
        tags = [ln.split(" ", 3)[2] for ln in open(log).read().splitlines()]
        self.assertEqual(tags[0], "P")       # containerd split it
        self.assertEqual(self.lines("", pod="long"), "y" * 40000 + "\nfirst\n")
        ts = self.lines("timestamps=true&tailLines=1", pod="long")
        self.assertRegex(ts, rf"^{TS} first\n$")
        # the log is rotated while a client follows it (0.log renamed, a new
        # 0.log): the follow goes on with the new file
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", "/containerLogs/default/long/main?follow=true&tailLines=1")
        r = c.getresponse()
        self.assertEqual(r.readline(), b"first\n")
        os.rename(log, log + ".20261205-000000")
        with open(log, "w") as f:
            f.write("2026-12-05T00:00:01.000000001Z stdout P after \n"
                    "2026-12-05T00:00:01.000000002Z stdout F rotation\n")
        self.assertEqual(r.readline(), b"after rotation\n")
        r.close()
        c.close()

    def test_logs_back_pressure(self):
        t.wait_for(lambda: [s for s in self.cloud.pod_statuses("flood")
                            if s["Status"]["phase"] == "Succeeded"], 120, "flood Succeeded")
        size = 400000 * 100

        def sent():
            return parse_prometheus(get(self.port, "/metrics")[1])["edged_log_bytes_total"][0][1]

        def rss_kb():
            for ln in open(f"/proc/{self.node.proc.pid}/status"):
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
        s0, r0 = sent(), rss_kb()
        # a client that reads 100 bytes, then nothing for a while
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        # (Connection: close: read to the end below; connections are kept alive)
        sock.sendall(b"GET /containerLogs/default/flood/main HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertIn(b"200 OK", sock.recv(100))
        time.sleep(3)
        stalled = sent() - s0
        # what edged handed out is what the sockets hold (a few MB at most),
        # not the file: it stopped reading it
        self.assertLess(stalled, 12 * 2**20)
        self.assertLess(rss_kb() - r0, 16 * 1024)
        time.sleep(1)
        self.assertEqual(sent() - s0, stalled)
        # reading on: the whole log arrives
        sock.settimeout(60)
        got = 0
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            got += len(chunk)
        sock.close()
        self.assertEqual(sent() - s0, size)
        self.assertGreater(got, size)     # chunk framing included

    def test_logs_previous_after_restart(self):
        def restarted():
            st = self.cloud.pod_statuses("crash")
            return st and st[-1]["Status"]["containerStatuses"][0]["restartCount"] >= 1
        t.wait_for(restarted, 60, lambda: "crash restarted:\n" + self.node.output()[-2000:])
        body = self.lines("previous=true", pod="crash")
        self.assertRegex(body, r"^started-\d+\n$")
        # follow on previous: the file's content, then the end
        self.assertRegex(self.lines("previous=true&follow=true&timestamps=1", pod="crash"),
                         rf"^{TS} started-\d+\n$")

    def test_bad_input(self):
        cases = [
            ("/containerLogs/default/nope/main", 404, 'pod "default/nope" does not exist'),
            ("/containerLogs/default/talk/nope", 404, 'container "nope" not found in pod "default/talk"'),
            ("/containerLogs/default/talk/main?tailLines=-1", 400, "tailLines: must be greater than or equal to 0"),
            ("/containerLogs/default/talk/main?tailLines=ten", 400, 'tailLines: "ten" is not an integer'),
            ("/containerLogs/default/talk/main?follow=maybe", 400, 'follow: "maybe" is not a boolean'),
            ("/containerLogs/default/talk/main?limitBytes=0", 400, "limitBytes: must be greater than or equal to 1"),
            ("/containerLogs/default/talk/main?sinceTime=yesterday", 400, "sinceTime"),
            ("/containerLogs/default/talk/main?sinceTime=2026-01-01T00:00:00Z&sinceSeconds=5", 400,
             "at most one of sinceTime or sinceSeconds"),
            ("/containerLogs/default/talk", 400, "/containerLogs/{namespace}/{pod}/{container}"),
            ("/containerLogs/default/talk/main?x=%zz", 400, ""),
            ("/exec/default/nope/main?command=true&output=1", 404, 'pod "default/nope" does not exist'),
            ("/exec/default/talk/nope?command=true&output=1", 404, 'container "nope" not found'),
            ("/exec/default/talk/main?output=1", 400, "command is required"),
            ("/exec/default/talk/main?command=true", 400, "at least 1 of stdin, stdout, stderr"),
            ("/exec/default/talk/uid-other/main?command=true&output=1", 404, "does not exist"),
            ("/portForward/default/talk?ports=99999", 400, "ports"),
            ("/nothing/here", 404, "404 page not found"),
        ]
        for path, status, text in cases:
            with self.subTest(path=path):
                got, body, _ = get(self.port, path)
                self.assertEqual(got, status, body)
                self.assertIn(text, body)
        self.assertEqual(get(self.port, "/pods", method="DELETE")[0], 405)
        # many more requests than the connection limit (64), one connection
        # each: closed connections are forgotten, everyone is served
        for i in range(150):
            self.assertEqual(get(self.port, "/healthz")[:2], (200, "ok"), f"request {i}")

        def conns():
            m = parse_prometheus(get(self.port, "/metrics")[1])
            return m["edged_http_connections"][0][1] <= 2 and m
        m = t.wait_for(conns, 20, "closed connections forgotten")
        self.assertEqual(m["edged_http_connections_refused_total"][0][1], 0)
        # a connection that sends half a request and stops is not served for ever,
        # and edged keeps serving everyone else meanwhile
        slow = socket.create_connection(("127.0.0.1", self.port))
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        self.assertEqual(get(self.port, "/healthz")[:2], (200, "ok"))
        # closed by edged once its 10 s for the headers are over
        slow.settimeout(30)
        t0 = time.monotonic()
        self.assertEqual(slow.recv(100), b"")
        self.assertGreater(time.monotonic() - t0, 5)
        slow.close()
        m = parse_prometheus(get(self.port, "/metrics")[1])
        self.assertGreaterEqual(m["edged_http_connections_timed_out_total"][0][1], 1)
        self.assertTrue(self.node.alive())

    def test_exec(self):
        path = remotecommand.exec_path("default", "talk", "main", ["echo", "hello"])
        ws = RemoteCommand.connect("127.0.0.1", self.port, path)
        self.assertEqual(ws.protocol, remotecommand.V4)
        out, err, code = ws.run()
        self.assertEqual((out, err, code), (b"hello\n", b"", 0))
        # the exit code from the status channel; stderr apart
        ws = RemoteCommand.connect("127.0.0.1", self.port, remotecommand.exec_path(
            "default", "talk", "main", ["sh", "-c", "echo oops >&2; exit 3"]))
        out, err, code = ws.run()
        self.assertEqual((out, err, code), (b"", b"oops\n", 3))
        # stdin round trip
        ws = RemoteCommand.connect("127.0.0.1", self.port, remotecommand.exec_path(
            "default", "talk", "main", ["sh", "-c", "read l; echo got:$l"], stdin=True))
        ws.stdin("ping\n")
        out, err, code = ws.run()
        self.assertEqual((out, code), (b"got:ping\n", 0))
        # a tty session: the terminal takes the size the client sends
        ws = RemoteCommand.connect("127.0.0.1", self.port, remotecommand.exec_path(
            "default", "talk", "main", ["sh", "-c", "read x; stty size"], stdin=True, tty=True,
            stderr=False))
        ws.resize(123, 45)
        time.sleep(0.3)
        ws.stdin("go\r")
        out, err, code = ws.run()
        self.assertIn(b"45 123", out)
        self.assertEqual(code, 0)
        # POST is kubectl's (SPDY) method; the runtime's WebSocket server
        # refuses it, and its answer reaches the client untouched
        with self.assertRaises(remotecommand.HandshakeError) as e:
            RemoteCommand.connect("127.0.0.1", self.port, remotecommand.exec_path(
                "default", "talk", "main", ["true"]), method="POST")
        self.assertEqual(e.exception.status, 405)
        self.assertIn(b"bad method", e.exception.body)

    def test_attach(self):
        # attach to the chatty container: its output arrives on stdout
        ws = RemoteCommand.connect("127.0.0.1", self.port, "/attach/default/talk/main?output=1&error=1")
        out, err, status = ws.read_until(lambda o, e: o.count(b"\n") >= 2, 20)
        ws.close()
        self.assertRegex(out.decode(), r"line-\d+\n")

    def test_portforward(self):
        # a listener in the node's network (the pod runs there: hostNetwork)
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        port = lst.getsockname()[1]
        ws = RemoteCommand.connect("127.0.0.1", self.port, f"/portForward/default/talk?ports={port}",
                                   protocols=("v4.channel.k8s.io",))
        # data channel 0 and error channel 1 each open with the port (little endian)
        first = [ws.recv(), ws.recv()]
        self.assertEqual(sorted(m[0] for m in first), [0, 1])
        for m in first:
            self.assertEqual(int.from_bytes(m[1:3], "little"), port)
        ws.send(0, b"hello through the tunnel\n")
        lst.settimeout(20)
        conn, _ = lst.accept()
        conn.settimeout(20)
        self.assertEqual(conn.recv(100), b"hello through the tunnel\n")
        conn.sendall(b"and back\n")
        m = ws.recv()
        self.assertEqual(m, b"\x00and back\n")
        conn.close()
        ws.close()
        lst.close()

    def test_stats_and_metrics(self):
        status, body, _ = get(self.port, "/stats/summary")
        self.assertEqual(status, 200, body)
        s = json.loads(body)
        node = s["node"]
        self.assertEqual(node["nodeName"], t.NODE)
        self.assertGreater(node["cpu"]["usageCoreNanoSeconds"], 0)
        self.assertGreater(node["cpu"]["usageNanoCores"], 0)
        self.assertGreater(node["memory"]["workingSetBytes"], 0)
        self.assertGreater(node["memory"]["availableBytes"], 0)
        self.assertGreater(node["fs"]["capacityBytes"], 0)
        self.assertRegex(node["cpu"]["time"], TS)
        talk = next(p for p in s["pods"] if p["podRef"]["name"] == "talk")
        self.assertEqual(talk["podRef"], {"name": "talk", "namespace": "default", "uid": "uid-talk"})
        self.assertGreater(talk["cpu"]["usageCoreNanoSeconds"], 0)
        self.assertGreater(talk["memory"]["workingSetBytes"], 0)
        # the sandbox's own figures (CRI ListPodSandboxStats): its cgroup
        # holds the pause process and the container's
        self.assertGreaterEqual(talk["process_stats"]["process_count"], 2)
        self.assertGreaterEqual(talk["cpu"]["usageCoreNanoSeconds"],
                                talk["containers"][0]["cpu"]["usageCoreNanoSeconds"])
        self.assertEqual([c["name"] for c in talk["containers"]], ["main"])
        self.assertGreater(talk["containers"][0]["cpu"]["usageCoreNanoSeconds"], 0)
        self.assertGreater(talk["containers"][0]["memory"]["workingSetBytes"], 0)
        # a second collection: the pod's rate of use too
        time.sleep(1)
        s2 = json.loads(get(self.port, "/stats/summary")[1])
        talk2 = next(p for p in s2["pods"] if p["podRef"]["name"] == "talk")
        self.assertGreater(talk2["cpu"]["usageNanoCores"], 0)

        status, text, r = get(self.port, "/metrics/resource")
        self.assertEqual(status, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/plain; version=0.0.4"))
        m = parse_prometheus(text)
        for name in ("node_cpu_usage_seconds_total", "node_memory_working_set_bytes",
                     "container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                     "container_start_time_seconds", "pod_cpu_usage_seconds_total",
                     "pod_memory_working_set_bytes", "scrape_error"):
            self.assertIn(name, m, text)
        self.assertEqual(m["scrape_error"][0][1], 0)
        self.assertGreater(m["node_cpu_usage_seconds_total"][0][1], 0)
        self.assertIsNotNone(m["node_cpu_usage_seconds_total"][0][2])
        ctr = [v for v in m["container_cpu_usage_seconds_total"]
               if v[0] == {"container": "main", "namespace": "default", "pod": "talk"}]
        self.assertEqual(len(ctr), 1)
        self.assertGreater(ctr[0][1], 0)
        self.assertGreater(abs(ctr[0][2] - time.time() * 1000), -1)   # a timestamp in ms
        self.assertLess(abs(ctr[0][2] - time.time() * 1000), 120000)
        pod = [v for v in m["pod_memory_working_set_bytes"] if v[0] == {"namespace": "default", "pod": "talk"}]
        self.assertGreater(pod[0][1], 0)

        status, text, _ = get(self.port, "/metrics")
        self.assertEqual(status, 200)
        m = parse_prometheus(text)
        self.assertEqual(m["edged_pods"][0][1], 4)
        self.assertGreater(m["edged_cri_calls_total"][0][1], 0)
        self.assertGreater(m["edged_http_requests_total"][0][1], 0)
        self.assertGreater(m["process_resident_memory_bytes"][0][1], 0)
        self.assertEqual(m["edged_runtime_ready"][0][1], 1)
        self.check_bus_metrics(text, m)

    def check_bus_metrics(self, text, m):
        """The bus's per-member counters (ec_endpoint_get_bus_stats)."""
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
        helps = set(re.findall(r"^# HELP (\S+) \S", text, re.M))
        for name in m:   # every family announced, with its help, before use
            self.assertIn(name, types, name)
            self.assertIn(name, helps, name)
        families = {"edgecore_bus_messages_sent_total": "counter",
                    "edgecore_bus_messages_delivered_total": "counter",
                    "edgecore_bus_messages_dropped_total": "counter",
                    "edgecore_bus_messages_unroutable_total": "counter",
                    "edgecore_bus_queue_depth": "gauge",
                    "edgecore_bus_waiting_messages": "gauge"}
        for name, kind in families.items():
            self.assertEqual(types.get(name), kind, name)
            rows = {v[0]["member"]: v for v in m[name]}
            # edgehub is module "websocket" on the bus, as in KubeEdge
            self.assertLessEqual({"websocket", "metamanager", "edged"}, set(rows), text)
            self.assertEqual({k: rows[k][0]["group"] for k in ("websocket", "metamanager", "edged")},
                             {"websocket": "hub", "metamanager": "meta", "edged": "edged"})
            for labels, value, ts in rows.values():
                self.assertGreaterEqual(value, 0)
                self.assertEqual(value, int(value))
        sent = {v[0]["member"]: v[1] for v in m["edgecore_bus_messages_sent_total"]}
        delivered = {v[0]["member"]: v[1] for v in m["edgecore_bus_messages_delivered_total"]}
        # pods came down (edgehub -> metamanager -> edged), statuses went up
        # (edged -> metamanager -> edgehub)
        for member in ("websocket", "metamanager", "edged"):
            self.assertGreater(sent[member], 0, member)
            self.assertGreater(delivered[member], 0, member)
        # counters only grow
        m2 = parse_prometheus(get(self.port, "/metrics")[1])
        for v in m2["edgecore_bus_messages_delivered_total"]:
            self.assertGreaterEqual(v[1], delivered[v[0]["member"]])


class Config(unittest.TestCase):
    def setUp(self):
        import tempfile
        self.tmp = tempfile.TemporaryDirectory(prefix="ec-edged-srvconf-")
        self.addCleanup(self.tmp.cleanup)

    def test_bad_address_stops_edged_port_in_use_only_the_endpoints(self):
        root = self.tmp.name
        cloud = t.Cloud(self, root)
        node = t.Node(self, root, cloud, f"container-runtime-endpoint=unix://{t.SOCK}\n"
                      "node-ip=127.0.0.1\naddress=localhost.invalid\n")
        node.wait_log(r"\[edged\] address: \"localhost\.invalid\" is not an IP address")
        node.wait_log(r"edgehub: connected to the cloud")
        self.assertTrue(node.alive())
        node.stop_clean(self)
        # the port is taken: edged runs (and registers), without its endpoints
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        root2 = os.path.join(root, "two")
        os.makedirs(root2)
        cloud2 = t.Cloud(self, root2)
        node2 = t.Node(self, root2, cloud2, f"container-runtime-endpoint=unix://{t.SOCK}\n"
                       f"node-ip=127.0.0.1\nread-only-port={taken.getsockname()[1]}\n")
        node2.wait_log(r"WARNING edged: local endpoints off: \[edged\] local endpoints on 127\.0\.0\.1:\d+: ")
        t.wait_for(lambda: cloud2.node_messages("insert"), 30, "registration without the endpoints")
        self.assertTrue(node2.alive())


if __name__ == "__main__":
    unittest.main(verbosity=2)
