#!/usr/bin/env python3
"""edged's /metrics with the counters the plugins register (libedgecore 1.3):
a real edgecore with edgehub, metamanager, edged (no container runtime),
eventbus and metaserver, against cloudsim and a mosquitto broker on
127.0.0.1. Drives traffic - a pod from the cloud, a local query, MQTT
publishes both ways, a metaserver LIST and watch, the cloud going away and
coming back - and checks that each counter moves by exactly what was done
(cloudsim's record says what crossed the link), that the text is the
Prometheus text format (a strict parser below), and that a cloud drop makes
edgecore_cloud_connected 0 and counts a disconnect.

EDGED_METRICS_TEST_LOG=FILE keeps edgecore's log in FILE."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import read  # noqa: E402

BIN = os.environ["EDGECORE_BIN"]
CLOUDSIM = os.environ["CLOUDSIM_BIN"]
PLUGIN_DIRS = os.environ["METRICS_PLUGIN_DIRS"].split(":")
TWIN_PLUGIN_DIR = os.environ["METRICS_TWIN_PLUGIN_DIR"]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
NODE = "edge-metrics"


def wait_for(pred, timeout, what):
    return harness.wait_for(pred, timeout, what, 0.1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        c.close()


# ---- a strict parser of the Prometheus text format (version 0.0.4) ---------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r'"((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL}={VALUE})(?:,{LABEL}={VALUE})*)?\}})? "
                    r"(-?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\+Inf|Inf|NaN))( -?\d+)?$")
LABEL_PAIR = re.compile(rf"({LABEL})={VALUE}")


def unescape(text):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def parse(text):
    """{family: {"type", "help", "samples": [(labels, value)]}}. Raises
    AssertionError on anything the text format does not allow: a sample
    before its family's TYPE, a family announced twice or split, a duplicate
    series, bad names, escapes or values, a missing final newline."""
    assert text.endswith("\n"), "no final newline"
    families = {}
    closed = set()
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {n}: {line!r}"
        assert line, f"empty line at {n}"
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kw, rest = line[2:6], line[7:]
            name, _, arg = rest.partition(" ")
            assert re.fullmatch(NAME, name), where
            if current != name:
                assert name not in families and name not in closed, f"family split: {where}"
                if current:
                    closed.add(current)
                current = name
                families[name] = {"type": None, "help": None, "samples": []}
            fam = families[name]
            assert not fam["samples"], f"{kw} after samples: {where}"
            if kw == "HELP":
                assert fam["help"] is None, f"HELP twice: {where}"
                assert re.fullmatch(r"(?:[^\\]|\\[\\n])*", arg), f"bad escape: {where}"
                fam["help"] = unescape(arg)
            else:
                assert fam["type"] is None, f"TYPE twice: {where}"
                assert arg in ("counter", "gauge", "untyped", "histogram", "summary"), where
                fam["type"] = arg
            continue
        assert not line.startswith("#"), f"unknown comment: {where}"
        m = SAMPLE.match(line)
        assert m, f"not a sample: {where}"
        name = m.group(1)
        assert name == current and families[name]["type"], f"sample outside its family: {where}"
        labels = {}
        for k, v in LABEL_PAIR.findall(m.group(2) or ""):
            assert k not in labels, f"label twice: {where}"
            labels[k] = unescape(v)
        series = sorted(labels.items())
        assert series not in [sorted(s[0].items()) for s in families[name]["samples"]], f"series twice: {where}"
        families[name]["samples"].append((labels, float(m.group(len(m.groups()) - 1))))
    return families


def value(fams, name, **labels):
    """The value of the one sample of name whose labels include labels."""
    got = [v for l, v in fams[name]["samples"] if all(l.get(k) == x for k, x in labels.items())]
    assert len(got) == 1, f"{name}{labels}: {fams.get(name)}"
    return got[0]


class ParserTest(unittest.TestCase):
    def test_the_parser_is_strict(self):
        ok = '# HELP a_total x \\\\ y\\n\n# TYPE a_total counter\na_total{k="v\\"\\n"} 1\n'
        fams = parse(ok)
        self.assertEqual(fams["a_total"]["help"], "x \\ y\n")
        self.assertEqual(fams["a_total"]["samples"], [({"k": 'v"\n'}, 1.0)])
        for bad in ["a 1\n",                                   # no TYPE
                    "# TYPE a gauge\na 1",                     # no final newline
                    "# TYPE a gauge\na{k=\"v\"} 1\na{k=\"v\"} 2\n",   # a series twice
                    "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n",  # split
                    "# TYPE a gauge\na{k=\"\\x\"} 1\n",        # bad escape
                    "# TYPE a gauge\na{1k=\"v\"} 1\n",         # bad label name
                    "# TYPE a gauge\na one\n",                 # bad value
                    "# TYPE a foo\na 1\n"]:                    # bad type
            with self.assertRaises(AssertionError, msg=bad):
                parse(bad)


class NodeCase(unittest.TestCase):
    """A node of the five plugins (and devicetwin when with_twin), cloudsim
    and mosquitto, started in setUp."""
    with_twin = False

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ec-metrics-")
        self.addCleanup(self.tmp.cleanup)
        self.root = self.tmp.name
        self.broker_port = free_port()
        with open(os.path.join(self.root, "mosquitto.conf"), "w") as f:
            f.write(f"listener {self.broker_port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.broker = subprocess.Popen([MOSQUITTO, "-c", os.path.join(self.root, "mosquitto.conf")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(harness.stop_process, self.broker)
        self.cloud_dir = os.path.join(self.root, "cloud")
        os.makedirs(self.cloud_dir)
        self.start_cloud([])
        self.port = free_port()
        self.ms_port = free_port()
        self.start_node()

    # ---- the parts ----------------------------------------------------------

    def start_cloud(self, args):
        self.cloud, self.cloud_out = harness.start_cloudsim(CLOUDSIM, self.cloud_dir,
                                                            os.path.join(self.root, "cloud.out"),
                                                            ["--port", "0"] if not args else args, 20,
                                                            "cloudsim to start", 0.1)
        self.addCleanup(self.stop_cloud)

    def stop_cloud(self):
        if self.cloud.poll() is None:
            self.cloud.send_signal(signal.SIGTERM)
            self.cloud.wait(timeout=10)
        if not self.cloud.stdin.closed:
            self.cloud.stdin.close()
        self.cloud_out.close()

    def cloud_cmd(self, line):
        self.cloud.stdin.write(line + "\n")
        self.cloud.stdin.flush()

    def events(self, kind):
        return harness.cloud_events(self.cloud_dir, kind)

    def written(self):
        """The messages cloudsim wrote to the node (resends included)."""
        return [e for e in self.events("send") if e.get("written")]

    def start_node(self):
        root = self.root
        confd = os.path.join(root, "conf.d")
        os.makedirs(confd)
        certs = os.path.join(root, "kubeedge")
        self.sock = os.path.join(root, "ctl.sock")
        with open(os.path.join(confd, "00-test.conf"), "w") as f:
            # no keepalives and no periodic node status: the only messages
            # are the test's, so the counters move by exact amounts
            f.write(f"[core]\ncontrol-socket={self.sock}\ndata-dir={root}\nnode-name={NODE}\n"
                    f"stop-timeout=5\n[database]\ndata-source={root}/edgecore.db\n"
                    f"[edgehub]\ntls-ca-file={certs}/ca/rootCA.crt\n"
                    f"tls-cert-file={certs}/certs/server.crt\n"
                    f"tls-private-key-file={certs}/certs/server.key\ntoken-file=\n"
                    "reconnect-backoff-initial=0.2\nreconnect-backoff-max=1\nheartbeat=3600\n"
                    "[metamanager]\nenable=true\n"
                    f"[edged]\nenable=true\nroot-directory={root}/kubelet\n"
                    "node-status-update-frequency=1h\n"
                    f"container-runtime-endpoint=unix://{root}/absent.sock\n"
                    f"image-service-endpoint=unix://{root}/absent.sock\n"
                    f"node-ip=127.0.0.1\naddress=127.0.0.1\nread-only-port={self.port}\n"
                    f"[eventbus]\nenable=true\nmqtt-mode=2\n"
                    f"mqtt-server-external=tcp://127.0.0.1:{self.broker_port}\n"
                    f"[metaserver]\nenable=true\nserver=127.0.0.1:{self.ms_port}\n")
        with open(os.path.join(confd, "10-cloud.conf"), "w") as f:
            f.write(read(os.path.join(self.cloud_dir, "edgehub.conf")))
        args = [BIN, "--config-dir", confd]
        for d in PLUGIN_DIRS + ([TWIN_PLUGIN_DIR] if self.with_twin else []):
            args += ["--plugin-dir", d]
        self.log_path = os.path.join(root, "node.log")
        self.log = open(self.log_path, "a")
        # LeakSanitizer's tracer crashes at exit once glib-networking's
        # GnuTLS module has run (as in the edged and metaserver tests)
        env = dict(os.environ, G_DEBUG="", EDGECORE_SYSTEM_CONFIG_DIRS="", EDGECORE_SYSTEM_PLUGIN_DIRS="")
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        self.node = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.addCleanup(self.stop_node)

    def stop_node(self):
        rc = None
        if self.node.poll() is None:
            self.node.send_signal(signal.SIGTERM)
            try:
                rc = self.node.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.node.kill()
                self.node.wait()
        self.log.close()
        out = read(self.log_path)
        if os.environ.get("EDGED_METRICS_TEST_LOG"):
            shutil.copy(self.log_path, os.environ["EDGED_METRICS_TEST_LOG"])
        self.assertNotIn("Sanitizer", out)
        self.assertNotIn("CRITICAL", out)
        self.assertNotIn("runtime error:", out)
        self.assertNotRegex(out, r"metric .* refused")
        if rc is not None:
            self.assertEqual(rc, 0, "edgecore's exit status:\n" + out[-3000:])

    def output(self):
        return read(self.log_path)

    def wait_log(self, pattern, timeout=30):
        wait_for(lambda: re.search(pattern, self.output()), timeout,
                 lambda: f"log line {pattern!r}:\n" + self.output()[-3000:])

    def ctl(self, command):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(20)
            s.connect(self.sock)
            s.sendall(command.encode() + b"\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.decode()

    def pub(self, topic, payload):
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker_port), "-t", topic,
                        "-m", payload], check=True, timeout=10)

    def metrics(self):
        status, ctype, text = http_get(self.port, "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(ctype, "text/plain; version=0.0.4; charset=utf-8")
        return parse(text)

    def settle(self, what):
        """Waits until the node's sent and received message counts match
        what cloudsim recorded (nothing in flight) and two readings a
        moment apart agree; returns the last reading."""
        def quiet():
            a = self.metrics()
            if (value(a, "edgecore_cloud_messages_sent_total") != len(self.events("recv"))
                    or value(a, "edgecore_cloud_messages_received_total") != len(self.written())):
                return None
            time.sleep(0.5)
            b = self.metrics()
            same = all(fa["samples"] == b[n]["samples"] for n, fa in a.items()
                       if n.startswith("edgecore_") and not n.startswith("edgecore_bus_"))
            return b if same else None
        return wait_for(quiet, 30, lambda: f"the node to be quiet ({what}):\n" + self.output()[-3000:])

    def delta(self, before, after, name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    def wait_started(self):
        wait_for(lambda: self.events("connect"), 30, lambda: "the node to connect:\n" + self.output()[-3000:])
        self.wait_log(rf"local endpoints on http://127\.0\.0\.1:{self.port}")
        self.wait_log(r"MQTT external subscriber: connected")
        self.wait_log(r"MQTT external publisher: connected")
        wait_for(lambda: self.events("recv"), 30, "the node's registration")
        return self.settle("after start")


class Metrics(NodeCase):
    def test_counters_move_by_what_was_done(self):
        m0 = self.wait_started()

        # every family once, with its type and help; every sample carries the
        # module that registered it
        kinds = {"edgecore_cloud_connected": "gauge", "edgecore_cloud_connects_total": "counter",
                 "edgecore_cloud_disconnects_total": "counter", "edgecore_cloud_dial_failures_total": "counter",
                 "edgecore_cloud_messages_sent_total": "counter",
                 "edgecore_cloud_messages_received_total": "counter",
                 "edgecore_cloud_sent_bytes_total": "counter", "edgecore_cloud_received_bytes_total": "counter",
                 "edgecore_cloud_messages_dropped_total": "counter",
                 "edgecore_store_writes_total": "counter", "edgecore_store_writes_skipped_total": "counter",
                 "edgecore_store_errors_total": "counter", "edgecore_store_pending_writes": "gauge",
                 "edgecore_store_queries_total": "counter",
                 "edgecore_metamanager_remote_requests_total": "counter",
                 "edgecore_metamanager_remote_failures_total": "counter",
                 "edgecore_mqtt_connected": "gauge", "edgecore_mqtt_connects_total": "counter",
                 "edgecore_mqtt_messages_received_total": "counter",
                 "edgecore_mqtt_messages_published_total": "counter",
                 "edgecore_mqtt_messages_dropped_total": "counter",
                 "edgecore_metaserver_requests_total": "counter", "edgecore_metaserver_watches": "gauge"}
        modules = {"cloud": "websocket", "store": "metamanager", "metamanager": "metamanager",
                   "mqtt": "eventbus", "metaserver": "metaserver"}
        for name, kind in kinds.items():
            self.assertEqual(m0[name]["type"], kind, name)
            self.assertTrue(m0[name]["help"], name)
            module = modules[name.split("_")[1]]
            for labels, v in m0[name]["samples"]:
                self.assertEqual(labels["module"], module, name)
                self.assertEqual(v, int(v), name)
        self.assertEqual(value(m0, "edgecore_cloud_connected"), 1)
        self.assertEqual(value(m0, "edgecore_cloud_connects_total"), len(self.events("connect")))
        for reason in ("closed", "read_deadline", "write_deadline", "certificate_rotation"):
            self.assertEqual(value(m0, "edgecore_cloud_disconnects_total", reason=reason), 0)
        for client in ("subscriber", "publisher"):
            self.assertEqual(value(m0, "edgecore_mqtt_connected", broker="external", client=client), 1)
            self.assertEqual(value(m0, "edgecore_mqtt_connects_total", broker="external", client=client), 1)
        self.assertEqual(sorted(l["verb"] for l, _ in m0["edgecore_metaserver_requests_total"]["samples"]),
                         sorted(["get", "list", "watch", "create", "update", "patch", "delete",
                                 "deletecollection"]))
        # edged's own families come first and are not repeated
        self.assertIn("edged_pods", m0)
        self.assertIn("edgecore_bus_messages_sent_total", m0)

        # a pod from the cloud (for another node: edged ignores it, so
        # nothing else moves): received, stored once, acked
        recv0, written0 = len(self.events("recv")), len(self.written())
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "elsewhere", "namespace": "default", "uid": "uid-else",
                            "resourceVersion": "7"},
               "spec": {"nodeName": "other-node", "containers": [{"name": "c", "image": "busybox"}]}}
        msg = {"header": {"resourceversion": "7"},
               "route": {"source": "edgecontroller", "group": "resource", "operation": "insert",
                         "resource": "default/pod/elsewhere"},
               "content": pod}
        self.cloud_cmd("send " + json.dumps(msg))
        self.wait_log(r"pod default/elsewhere is for node \"other-node\"")
        m1 = self.settle("after the pod")
        # (cloudsim resends a message it has no ack for yet: each copy counts)
        self.assertEqual(self.delta(m0, m1, "edgecore_cloud_messages_received_total"),
                         len(self.written()) - written0)
        self.assertGreaterEqual(len(self.written()) - written0, 1)
        self.assertEqual(self.delta(m0, m1, "edgecore_store_writes_total", op="upsert"), 1)
        self.assertEqual(self.delta(m0, m1, "edgecore_store_writes_total", op="delete"), 0)
        self.assertEqual(self.delta(m0, m1, "edgecore_store_errors_total", op="write"), 0)
        self.assertEqual(value(m1, "edgecore_store_pending_writes"), 0)
        self.assertEqual(self.delta(m0, m1, "edgecore_cloud_messages_sent_total"), len(self.events("recv")) - recv0)
        self.assertGreaterEqual(len(self.events("recv")) - recv0, 1)   # the ack
        self.assertGreaterEqual(self.delta(m0, m1, "edgecore_cloud_received_bytes_total"),
                                len(json.dumps(pod)))

        # a query of it, answered from the store; then its delete
        r = self.ctl("call metamanager 10000 " + json.dumps(
            {"header": {"msg_id": "q-1"}, "route": {"source": "edged", "group": "meta", "operation": "query",
                                                   "resource": "default/pod/elsewhere"}, "content": None}))
        self.assertTrue(r.startswith("ok"), r)
        self.assertIn("uid-else", r)
        written0 = len(self.written())
        msg["route"]["operation"] = "delete"
        msg["header"]["resourceversion"] = "8"
        self.cloud_cmd("send " + json.dumps(msg))
        m2 = wait_for(lambda: (lambda m: m if self.delta(m1, m, "edgecore_store_writes_total", op="delete")
                               else None)(self.settle("after the delete")), 30, "the delete")
        self.assertEqual(self.delta(m1, m2, "edgecore_store_queries_total"), 1)
        self.assertEqual(self.delta(m1, m2, "edgecore_store_writes_total", op="delete"), 1)
        self.assertEqual(self.delta(m1, m2, "edgecore_store_writes_total", op="upsert"), 0)
        self.assertEqual(self.delta(m1, m2, "edgecore_store_errors_total", op="read"), 0)
        self.assertEqual(self.delta(m1, m2, "edgecore_cloud_messages_received_total"),
                         len(self.written()) - written0)

        # MQTT: a twin update (no devicetwin on this node: the bus drops it),
        # a user message (up to the cloud), one the cloud publishes, and a
        # legacy message without a topic
        recv0, written0 = len(self.events("recv")), len(self.written())
        self.pub("$hw/events/device/dev1/twin/update", '{"twin":{}}')
        self.pub("app/user/temp", "21.5")
        wait_for(lambda: [e for e in self.events("recv")[recv0:] if e["msg"]["route"]["resource"] == "app/user/temp"],
                 30, "the MQTT user message at the cloud")
        for op, content in (("publish", "hello"), ("message", {"no": "topic"})):
            self.cloud_cmd("send " + json.dumps(
                {"header": {}, "route": {"source": "router_eventbus", "group": "user", "operation": op,
                                        "resource": "node/out/topic"}, "content": content}))
        wait_for(lambda: "content has no message.topic" in self.output(), 30, "the legacy message")
        m3 = self.settle("after MQTT")
        self.assertEqual(self.delta(m2, m3, "edgecore_mqtt_messages_received_total"), 2)
        self.assertEqual(self.delta(m2, m3, "edgecore_mqtt_messages_published_total"), 1)
        self.assertEqual(self.delta(m2, m3, "edgecore_mqtt_messages_dropped_total", reason="bus"), 1)
        self.assertEqual(self.delta(m2, m3, "edgecore_mqtt_messages_dropped_total", reason="malformed"), 1)
        self.assertEqual(self.delta(m2, m3, "edgecore_mqtt_messages_dropped_total", reason="invalid_topic"), 0)
        self.assertEqual(self.delta(m2, m3, "edgecore_mqtt_messages_dropped_total", reason="not_connected"), 0)
        self.assertEqual(self.delta(m2, m3, "edgecore_cloud_messages_received_total"),
                         len(self.written()) - written0)
        self.assertGreaterEqual(len(self.written()) - written0, 2)

        # metaserver: a LIST and a watch, open then closed
        status, _, _ = http_get(self.ms_port, "/api/v1/pods")
        self.assertEqual(status, 200)
        c = http.client.HTTPConnection("127.0.0.1", self.ms_port, timeout=30)
        c.request("GET", "/api/v1/namespaces/default/configmaps?watch=true")
        self.assertEqual(c.getresponse().status, 200)
        m4 = wait_for(lambda: (lambda m: m if value(m, "edgecore_metaserver_watches") == 1 else None)(self.metrics()),
                      30, "the watch to count")
        self.assertEqual(self.delta(m3, m4, "edgecore_metaserver_requests_total", verb="list"), 1)
        self.assertEqual(self.delta(m3, m4, "edgecore_metaserver_requests_total", verb="watch"), 1)
        self.assertEqual(self.delta(m3, m4, "edgecore_metaserver_requests_total", verb="get"), 0)
        c.close()
        wait_for(lambda: value(self.metrics(), "edgecore_metaserver_watches") == 0, 30, "the watch to end")

        # the cloud goes away: connected 0, one disconnect; back on the same
        # ports: connected 1, one more connect
        m5 = self.metrics()
        port, https, _ = harness.cloud_addresses(self.cloud_dir)
        self.stop_cloud()
        m6 = wait_for(lambda: (lambda m: m if value(m, "edgecore_cloud_connected") == 0 else None)(self.metrics()),
                      30, "the connected gauge to drop")
        self.assertEqual(self.delta(m5, m6, "edgecore_cloud_disconnects_total", reason="closed"), 1)
        self.assertEqual(self.delta(m5, m6, "edgecore_cloud_connects_total"), 0)
        wait_for(lambda: self.delta(m6, self.metrics(), "edgecore_cloud_dial_failures_total") > 0, 30,
                 "a failed dial while the cloud is away")
        n_connect = len(self.events("connect"))
        self.start_cloud(["--port", str(port), "--https-port", str(https)])
        wait_for(lambda: len(self.events("connect")) > n_connect, 30, "the node to reconnect")
        m7 = wait_for(lambda: (lambda m: m if value(m, "edgecore_cloud_connected") == 1 else None)(self.metrics()),
                      30, "the connected gauge to rise")
        self.assertEqual(self.delta(m5, m7, "edgecore_cloud_connects_total"), 1)
        self.assertEqual(self.delta(m5, m7, "edgecore_cloud_disconnects_total", reason="closed"), 1)
        self.assertEqual(value(m7, "edgecore_cloud_connects_total"), len(self.events("connect")))
        for reason in ("read_deadline", "write_deadline", "certificate_rotation"):
            self.assertEqual(self.delta(m5, m7, "edgecore_cloud_disconnects_total", reason=reason), 0)


class TwinMetrics(NodeCase):
    with_twin = True

    def test_devicetwin_counts_what_it_rejects(self):
        """devicetwin's counters: MQTT messages it got from eventbus, and
        those it rejected for their topic or their payload; each rejection's
        error result is published by eventbus."""
        m0 = self.wait_started()
        self.assertEqual(m0["edgecore_twin_rejected_total"]["type"], "counter")
        self.assertEqual({l["module"] for l, _ in m0["edgecore_twin_mqtt_messages_total"]["samples"]}, {"twin"})
        self.pub("$hw/events/device/dev1/twin/update", "not json")
        self.pub("$hw/events/device/" + "x" * 321 + "/twin/update", '{"event_id":"e","twin":{}}')
        m1 = wait_for(lambda: (lambda m: m if self.delta(m0, m, "edgecore_mqtt_messages_published_total") >= 2
                               else None)(self.settle("after the twin messages")), 30, "the error results")
        self.assertEqual(self.delta(m0, m1, "edgecore_mqtt_messages_received_total"), 2)
        self.assertEqual(self.delta(m0, m1, "edgecore_twin_mqtt_messages_total"), 2)
        self.assertEqual(self.delta(m0, m1, "edgecore_twin_rejected_total", reason="payload"), 1)
        self.assertEqual(self.delta(m0, m1, "edgecore_twin_rejected_total", reason="topic"), 1)
        self.assertEqual(self.delta(m0, m1, "edgecore_mqtt_messages_published_total"), 2)
        self.assertEqual(self.delta(m0, m1, "edgecore_mqtt_messages_dropped_total", reason="bus"), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
