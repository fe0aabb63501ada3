#!/usr/bin/env python3
"""metaserver as kubectl meets it: a real edgecore with metaserver (and
metamanager) on a free loopback port, a sqlite database written in
KubeEdge's meta_v2 schema, and the real kubectl.

Changes after start go through metamanager (a cloud message on the bus)
when it is built, else straight into meta_v2 plus metamanager's change-feed
message, injected through the control socket."""
import base64
import hashlib
import http.client
import json
import os
import select
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor
import urllib.parse

BIN = os.environ["EDGECORE_BIN"]
MS_DIR = os.environ["METASERVER_PLUGIN_DIR"]
MM_DIR = os.environ["METAMANAGER_PLUGIN_DIR"]
FC_DIR = os.environ["FAKECLOUD_PLUGIN_DIR"]
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
OPENSSL = shutil.which("openssl")

CREATED = "2024-01-01T00:00:00Z"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def obj(kind, name, ns=None, rv=1, api="v1", labels=None, **extra):
    o = {"apiVersion": api, "kind": kind,
         "metadata": {"name": name, "uid": f"uid-{kind}-{ns}-{name}", "resourceVersion": str(rv),
                      "creationTimestamp": CREATED}}
    if ns:
        o["metadata"]["namespace"] = ns
    if labels:
        o["metadata"]["labels"] = labels
    o.update(extra)
    return o


def pod(name, ns="default", rv=1, labels=None, phase="Running", node="edge-1"):
    return obj("Pod", name, ns, rv, labels=labels,
               spec={"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]},
               status={"phase": phase, "containerStatuses": [
                   {"name": "c", "ready": phase == "Running", "restartCount": 2,
                    "state": {"running": {}} if phase == "Running" else {"terminated": {"exitCode": 1, "reason": "Error"}}}]})


RESOURCES = {"Pod": ("core", "v1", "pods"), "Service": ("core", "v1", "services"),
             "ConfigMap": ("core", "v1", "configmaps"), "Node": ("core", "v1", "nodes"),
             "Widget": ("example.com", "v1", "widgets"),
             "Gadget": ("gadgets.example.org", "v1alpha1", "gadgets")}


def store_key(o):
    group, version, resource = RESOURCES[o["kind"]]
    ns = o["metadata"].get("namespace") or "null"
    return f"/{group}/{version}/{resource}/{ns}/{o['metadata']['name']}"


def seed(path, objects, old_columns=False):
    """Writes a database in KubeEdge HEAD's schema (or v1.9.2's column names)."""
    db = sqlite3.connect(path)
    gvr_col, rv_col = ("groupversionresource", "resourceversion") if old_columns \
        else ("group_version_resource", "resource_version")
    db.execute(f"CREATE TABLE `meta_v2` (`key` text,`{gvr_col}` text,`namespace` text,`name` text,"
               f"`{rv_col}` integer,`value` text,PRIMARY KEY (`key`))")
    db.execute("CREATE TABLE `meta` (`key` text,`type` text,`value` text,PRIMARY KEY (`key`))")
    for o in objects:
        put_row(db, o, gvr_col, rv_col)
    db.commit()
    db.close()


def put_row(db, o, gvr_col="group_version_resource", rv_col="resource_version"):
    group, version, resource = RESOURCES[o["kind"]]
    gvr = f"/{version}, Resource={resource}" if group == "core" else f"{group}/{version}, Resource={resource}"
    db.execute(f"INSERT OR REPLACE INTO meta_v2 (key,{gvr_col},namespace,name,{rv_col},value) "
               "VALUES (?,?,?,?,?,?)",
               (store_key(o), gvr, o["metadata"].get("namespace", ""), o["metadata"]["name"],
                int(o["metadata"]["resourceVersion"]), json.dumps(o)))


BASE_OBJECTS = [
    pod("nginx", labels={"app": "x", "tier": "web"}, rv=10),
    pod("other", labels={"app": "y"}, rv=11, phase="Failed"),
    pod("dns", ns="kube-system", rv=12, labels={"k8s-app": "dns"}, node="edge-2"),
    obj("ConfigMap", "settings", "team-a", 13, data={"greeting": "hello-edge", "n": "1"}),
    obj("Service", "web", "default", 14, spec={"type": "ClusterIP", "clusterIP": "10.96.0.20",
                                               "ports": [{"port": 80, "protocol": "TCP"}],
                                               "selector": {"app": "x"}}),
    obj("Node", "edge-1", None, 15, status={"conditions": [{"type": "Ready", "status": "True"}],
                                            "nodeInfo": {"kubeletVersion": "v1.29.5-kubeedge"}}),
    obj("Widget", "w1", "default", 16, api="example.com/v1", spec={"size": 3}),
]


class Node:
    """One edgecore with metaserver on a free port and its own database."""

    def __init__(self, test, objects=BASE_OBJECTS, extra_conf="", fakecloud=False,
                 old_columns=False, https=None):
        self.dir = tempfile.mkdtemp(prefix="ec-ms-")
        # a test class (setUpClass) or a test
        (test.addClassCleanup if isinstance(test, type) else test.addCleanup)(self.close)
        self.port = free_port()
        self.db = os.path.join(self.dir, "edgecore.db")
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.proc = None
        seed(self.db, objects, old_columns)
        confd = os.path.join(self.dir, "conf.d")
        os.mkdir(confd)
        tls = ""
        if https:
            tls = (f"require-authorization=true\ntls-ca-file={https['ca']}\n"
                   f"tls-cert-file={https['cert']}\ntls-private-key-file={https['key']}\n")
        with open(os.path.join(confd, "00-test.conf"), "w") as f:
            f.write(f"[core]\ncontrol-socket={self.sock}\ndata-dir={self.dir}\nstop-timeout=5\n"
                    f"node-name=edge-1\n[database]\ndata-source={self.db}\n"
                    f"[metamanager]\nenable=true\n"
                    f"[metaserver]\nenable=true\nserver=127.0.0.1:{self.port}\n{tls}{extra_conf}\n"
                    + ("[fakecloud]\nenable=true\n" if fakecloud else ""))
        self.args = [BIN, "--config-dir", confd, "--plugin-dir", MS_DIR, "--plugin-dir", MM_DIR]
        if fakecloud:
            self.args += ["--plugin-dir", FC_DIR]
        self.scheme = "https" if https else "http"
        self.kube = [KUBECTL, f"--server={self.scheme}://127.0.0.1:{self.port}",
                     f"--cache-dir={os.path.join(self.dir, 'kcache')}", "--request-timeout=20s"]
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.real_metamanager = "behaviour not built yet" not in subprocess.run(
            self.args + ["--list-plugins"], capture_output=True, text=True, timeout=30).stdout

    def start(self):
        self.log = open(self.log_path, "w")
        env = dict(os.environ)
        if self.scheme == "https":
            # LeakSanitizer's tracer itself crashes (signal 11) at exit once
            # glib-networking's GnuTLS module has run; ASan/UBSan stay on.
            # (Harmless in a build without sanitizers.)
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("edgecore exited early:\n" + self.output())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    if os.path.exists(self.sock):
                        return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("metaserver never listened:\n" + self.output())

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def close(self):
        problem = None
        if self.proc and self.proc.poll() is not None:
            problem = f"edgecore had exited by itself (status {self.proc.returncode})"
        elif self.proc:
            self.proc.terminate()
            try:
                code = self.proc.wait(timeout=30)
                if code != 0:
                    problem = f"edgecore exited with {code}"
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problem = "edgecore did not stop on SIGTERM"
        if self.proc:
            self.log.close()
            out = self.output()
            for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "CRITICAL", "g_critical"):
                if bad in out:
                    problem = f"edgecore log has {bad!r}"
        if problem:
            tail = self.output()[-4000:]
            shutil.rmtree(self.dir, ignore_errors=True)
            raise AssertionError(problem + ":\n" + tail)
        shutil.rmtree(self.dir, ignore_errors=True)

    def ctl(self, command):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            try:
                s.connect(self.sock)
            except OSError as e:
                state = "running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
                raise AssertionError(f"control socket: {e} (edgecore {state}):\n"
                                     + self.output()[-4000:]) from e
            s.sendall(command.encode() + b"\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.decode()

    def kubectl(self, *args, check=True, extra=()):
        r = subprocess.run(self.kube + list(extra) + list(args), capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({r.returncode}):\n{r.stderr}\n"
                                 + self.output()[-3000:])
        return r

    def request(self, method, path, body=None, headers=None, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, r.getheader("Content-Type"), data

    def get_json(self, path, headers=None):
        status, _, data = self.request("GET", path, headers=headers)
        return status, json.loads(data)

    def connect(self, up=True):
        msg = {"header": {"msg_id": f"c-{time.time_ns()}", "timestamp": 1},
               "route": {"source": "edgehub", "group": "meta", "operation": "connect",
                         "resource": "node/connection"},
               "content": "cloud_connected" if up else "cloud_disconnected"}
        self.assert_ok(self.ctl("send metaserver " + json.dumps(msg)))

    def assert_ok(self, answer):
        if not answer.startswith("ok"):
            raise AssertionError("control socket: " + answer)

    def change(self, op, o):
        """Applies a change as the cloud would, and waits until metaserver has it."""
        rv = o["metadata"]["resourceVersion"]
        if self.real_metamanager:
            kind = o["kind"].lower()
            ns = o["metadata"].get("namespace") or "null"
            msg = {"header": {"msg_id": f"cloud-{time.time_ns()}", "timestamp": 1, "resourceversion": rv},
                   "route": {"source": "edgecontroller", "group": "resource", "operation": op,
                             "resource": f"{ns}/{kind}/{o['metadata']['name']}"},
                   "content": o}
            self.assert_ok(self.ctl("send metamanager " + json.dumps(msg)))
        else:
            db = sqlite3.connect(self.db, timeout=10)
            if op == "delete":
                db.execute("DELETE FROM meta_v2 WHERE key = ?", (store_key(o),))
            else:
                put_row(db, o)
            db.commit()
            db.close()
            feed = {"header": {"msg_id": f"feed-{time.time_ns()}", "timestamp": 1, "resourceversion": rv},
                    "route": {"source": "metamanager", "group": "meta", "operation": op,
                              "resource": f"{o['metadata'].get('namespace') or 'null'}/{o['kind'].lower()}/{o['metadata']['name']}"},
                    "content": o}
            self.assert_ok(self.ctl("group metaserver " + json.dumps(feed)))


def wait_for(predicate, timeout=10, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class WatchStream:
    """A raw watch request, read event by event."""

    def __init__(self, node, path, timeout=10):
        self.conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=timeout)
        self.conn.request("GET", path)
        self.resp = self.conn.getresponse()
        self.buf = b""

    def next(self):
        while b"\n" not in self.buf:
            chunk = self.resp.read1(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        self.conn.close()


class Reads(unittest.TestCase):
    """One node, offline, serving the seeded database."""

    @classmethod
    def setUpClass(cls):
        cls.node = Node(cls).start()

    def test_get_pods_all_namespaces(self):
        out = self.node.kubectl("get", "pods", "-A").stdout.splitlines()
        self.assertEqual(out[0].split(), ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"])
        rows = {tuple(line.split()[:5]) for line in out[1:]}
        self.assertIn(("default", "nginx", "1/1", "Running", "2"), rows)
        self.assertIn(("default", "other", "0/1", "Error", "2"), rows)
        self.assertIn(("kube-system", "dns", "1/1", "Running", "2"), rows)
        self.assertEqual(len(out), 4)

    def test_get_svc(self):
        out = self.node.kubectl("get", "svc").stdout.splitlines()
        self.assertEqual(out[0].split(), ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"])
        self.assertEqual(out[1].split()[:5], ["web", "ClusterIP", "10.96.0.20", "<none>", "80/TCP"])
        wide = self.node.kubectl("get", "svc", "-o", "wide").stdout
        self.assertIn("app=x", wide)

    def test_get_cm_yaml(self):
        out = self.node.kubectl("get", "cm", "-n", "team-a", "-o", "yaml").stdout
        self.assertIn("greeting: hello-edge", out)
        self.assertIn("name: settings", out)
        one = self.node.kubectl("get", "cm", "settings", "-n", "team-a", "-o", "json").stdout
        self.assertEqual(json.loads(one)["data"]["greeting"], "hello-edge")
        self.assertIn("settings", self.node.kubectl("get", "cm", "-n", "team-a").stdout)

    def test_label_selectors(self):
        def names(*sel):
            out = self.node.kubectl("get", "pods", "-A", "-o", "name", *sel).stdout.split()
            return sorted(n.split("/")[1] for n in out)
        self.assertEqual(names("-l", "app=x"), ["nginx"])
        self.assertEqual(names("-l", "app==x"), ["nginx"])
        self.assertEqual(names("-l", "app!=x"), ["dns", "other"])
        self.assertEqual(names("-l", "app in (x,y)"), ["nginx", "other"])
        self.assertEqual(names("-l", "app notin (x)"), ["dns", "other"])
        self.assertEqual(names("-l", "app"), ["nginx", "other"])
        self.assertEqual(names("-l", "!app"), ["dns"])
        self.assertEqual(names("-l", "app=x,tier=web"), ["nginx"])
        out = self.node.kubectl("get", "pods", "-l", "app=x").stdout
        self.assertIn("nginx", out)
        self.assertNotIn("other", out)

    def test_field_selectors(self):
        def names(sel):
            q = urllib.parse.quote(sel)
            status, body = self.node.get_json(f"/api/v1/pods?fieldSelector={q}")
            self.assertEqual(status, 200, body)
            return sorted(i["metadata"]["name"] for i in body["items"])
        self.assertEqual(names("spec.nodeName=edge-2"), ["dns"])
        self.assertEqual(names("status.phase=Running"), ["dns", "nginx"])
        self.assertEqual(names("status.phase!=Running"), ["other"])
        self.assertEqual(names("metadata.namespace=kube-system"), ["dns"])
        self.assertEqual(names("metadata.name=nginx,metadata.namespace=default"), ["nginx"])
        out = self.node.kubectl("get", "pods", "-A", "--field-selector", "spec.nodeName=edge-1",
                                "-o", "name").stdout.split()
        self.assertEqual(sorted(out), ["pod/nginx", "pod/other"])

    def test_missing_object_is_404_fast(self):
        t0 = time.monotonic()
        status, ctype, data = self.node.request("GET", "/api/v1/namespaces/default/pods/nope")
        elapsed = time.monotonic() - t0
        self.assertEqual(status, 404)
        self.assertEqual(ctype, "application/json")
        st = json.loads(data)
        self.assertEqual((st["kind"], st["status"], st["reason"], st["code"]),
                         ("Status", "Failure", "NotFound", 404))
        self.assertEqual(st["details"], {"name": "nope", "kind": "pods"})
        self.assertLess(elapsed, 3.0)  # KubeEdge waits 10 s here
        r = self.node.kubectl("get", "--raw", "/api/v1/namespaces/default/pods/nope", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("NotFound", r.stderr)

    def test_api_resources(self):
        out = self.node.kubectl("api-resources").stdout.splitlines()
        rows = {line.split()[0]: line.split() for line in out[1:]}
        self.assertEqual(rows["pods"], ["pods", "po", "v1", "true", "Pod"])
        self.assertEqual(rows["services"], ["services", "svc", "v1", "true", "Service"])
        self.assertEqual(rows["configmaps"], ["configmaps", "cm", "v1", "true", "ConfigMap"])
        self.assertEqual(rows["nodes"], ["nodes", "no", "v1", "false", "Node"])
        self.assertEqual(rows["widgets"], ["widgets", "example.com/v1", "true", "Widget"])
        self.assertIn("deployments", rows)
        wide = self.node.kubectl("api-resources", "-o", "wide").stdout
        self.assertIn("create,delete,get,list,patch,update,watch", wide.replace(" ", ""))
        self.assertIn("w1", self.node.kubectl("get", "widgets").stdout)

    def test_discovery_documents(self):
        status, api = self.node.get_json("/api")
        self.assertEqual((status, api["kind"], api["versions"]), (200, "APIVersions", ["v1"]))
        status, apis = self.node.get_json("/apis")
        groups = {g["name"] for g in apis["groups"]}
        self.assertTrue({"apps", "example.com"} <= groups, groups)
        status, rl = self.node.get_json("/apis/example.com/v1")
        self.assertEqual(rl["resources"][0]["kind"], "Widget")
        status, g = self.node.get_json("/apis/example.com")
        self.assertEqual(g["preferredVersion"]["groupVersion"], "example.com/v1")
        status, ver = self.node.get_json("/version")
        self.assertEqual(ver["major"], "1")
        for path in ("/healthz", "/readyz", "/livez"):
            self.assertEqual(self.node.request("GET", path)[0], 200)
        status, _, data = self.node.request("GET", "/apis/nope.io/v1")
        self.assertEqual((status, json.loads(data)["reason"]), (404, "NotFound"))
        self.assertIn("Server Version", self.node.kubectl("version").stdout)

    def test_table_and_list_shapes(self):
        table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        status, t = self.node.get_json("/api/v1/nodes", headers={"Accept": table})
        self.assertEqual(t["kind"], "Table")
        self.assertEqual([c["name"] for c in t["columnDefinitions"] if c["priority"] == 0],
                         ["Name", "Status", "Roles", "Age", "Version"])
        self.assertEqual(t["rows"][0]["cells"][:2], ["edge-1", "Ready"])
        self.assertEqual(t["rows"][0]["object"]["kind"], "PartialObjectMetadata")
        status, t = self.node.get_json("/apis/example.com/v1/widgets?includeObject=Object",
                                       headers={"Accept": table})
        self.assertEqual([c["name"] for c in t["columnDefinitions"]], ["Name", "Age"])
        self.assertEqual(t["rows"][0]["object"]["spec"], {"size": 3})
        status, lst = self.node.get_json("/api/v1/namespaces/default/pods")
        self.assertEqual((lst["kind"], lst["apiVersion"]), ("PodList", "v1"))
        self.assertEqual(sorted(i["metadata"]["name"] for i in lst["items"]), ["nginx", "other"])
        self.assertGreaterEqual(int(lst["metadata"]["resourceVersion"]), 16)
        status, n = self.node.get_json("/api/v1/nodes/edge-1")
        self.assertEqual(n["metadata"]["name"], "edge-1")
        status, st = self.node.get_json("/api/v1/namespaces/default/pods/nginx/status")
        self.assertEqual(st["metadata"]["name"], "nginx")

    def test_pagination(self):
        seen = []
        cont = ""
        for _ in range(5):
            status, page = self.node.get_json("/api/v1/pods?limit=2" + (f"&continue={urllib.parse.quote(cont)}" if cont else ""))
            self.assertEqual(status, 200, page)
            seen += [i["metadata"]["name"] for i in page["items"]]
            cont = page["metadata"].get("continue", "")
            if not cont:
                break
        self.assertEqual(sorted(seen), ["dns", "nginx", "other"])

    def test_list_resource_version_semantics(self):
        status, lst = self.node.get_json("/api/v1/pods")
        rv = int(lst["metadata"]["resourceVersion"])
        self.assertEqual(self.node.get_json(f"/api/v1/pods?resourceVersion={rv}")[0], 200)
        self.assertEqual(self.node.get_json("/api/v1/pods?resourceVersion=0")[0], 200)
        status, st = self.node.get_json(f"/api/v1/pods?resourceVersion={rv + 1000}")
        self.assertEqual((status, st["reason"]), (504, "Timeout"))
        status, st = self.node.get_json(f"/api/v1/pods?resourceVersion={rv - 1}&resourceVersionMatch=Exact")
        self.assertEqual((status, st["reason"]), (410, "Expired"))
        self.assertEqual(self.node.get_json(f"/api/v1/pods?resourceVersion={rv}&resourceVersionMatch=Exact")[0], 200)

    def test_writes_offline_are_503(self):
        r = self.node.kubectl("delete", "pod", "nginx", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ServiceUnavailable", r.stderr)
        self.assertIn("offline", r.stderr)
        cm = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}})
        for method, path, body, ctype in (
                ("POST", "/api/v1/namespaces/default/configmaps", cm, "application/json"),
                ("PUT", "/api/v1/namespaces/team-a/configmaps/settings", cm, "application/json"),
                ("PATCH", "/api/v1/namespaces/default/pods/nginx", '{"metadata":{"labels":{"a":"b"}}}',
                 "application/merge-patch+json"),
                ("DELETE", "/api/v1/namespaces/default/pods/nginx", None, None)):
            t0 = time.monotonic()
            status, _, data = self.node.request(method, path, body=body,
                                                headers={"Content-Type": ctype} if ctype else {})
            st = json.loads(data)
            self.assertEqual((status, st["kind"], st["reason"], st["code"]),
                             (503, "Status", "ServiceUnavailable", 503), (method, st))
            self.assertIn("cloud is unreachable", st["message"])
            self.assertLess(time.monotonic() - t0, 3.0)  # no wait for a cloud answer
        # nothing changed
        self.assertEqual(self.node.get_json("/api/v1/namespaces/default/pods/nginx")[0], 200)

    def test_oversized_bodies_are_413_before_they_are_read(self):
        """A body over 3 MiB is refused: a declared one before any of it is
        sent, a chunked one once it passes the limit."""
        def exchange(head, chunks=()):
            with socket.create_connection(("127.0.0.1", self.node.port), timeout=10) as s:
                s.sendall(head)
                sent = 0
                try:
                    for c in chunks:
                        if select.select([s], [], [], 0)[0]:
                            break   # the server answered: stop sending
                        s.sendall(c)
                        sent += len(c)
                except OSError:
                    pass
                data = b""
                try:
                    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                        more = s.recv(65536)
                        if not more:
                            break
                        data += more
                except (ConnectionResetError, socket.timeout):
                    pass
                return data, sent
        head = (b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\n")
        # declared too large: answered without sending a byte of the body
        data, _ = exchange(head + b"Content-Length: 5000000\r\n\r\n")
        self.assertRegex(data, rb"^HTTP/1\.1 413 ")
        st = json.loads(data.split(b"\r\n\r\n", 1)[1])
        self.assertEqual((st["kind"], st["reason"], st["code"]), ("Status", "RequestEntityTooLarge", 413))

        def chunked(total):
            piece = b"x" * 65536
            for _ in range(total // len(piece)):
                yield b"10000\r\n" + piece + b"\r\n"
            yield b"0\r\n\r\n"
        data, sent = exchange(head + b"Transfer-Encoding: chunked\r\n\r\n", chunked(64 * 1024 * 1024))
        self.assertRegex(data, rb"^HTTP/1\.1 413 ")
        self.assertLess(sent, 16 * 1024 * 1024)   # refused near the limit, not after the whole body
        st = json.loads(data.split(b"\r\n\r\n", 1)[1])
        self.assertEqual((st["reason"], st["code"]), ("RequestEntityTooLarge", 413))
        # a small chunked body still goes through to the write path (offline: 503)
        body = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}'
        data, _ = exchange(head + b"Transfer-Encoding: chunked\r\n\r\n",
                           [b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"])
        self.assertRegex(data, rb"^HTTP/1\.1 503 ")
        self.assertEqual(self.node.request("GET", "/healthz")[0], 200)

    def test_bad_requests_are_400_and_server_keeps_serving(self):
        r = self.node.kubectl("get", "pods", "-l", "app in (x", check=False)
        self.assertIn("BadRequest", r.stderr)
        cases = [
            "/api/v1/pods?labelSelector=" + urllib.parse.quote("app in (x"),
            "/api/v1/pods?labelSelector=" + urllib.parse.quote("=x"),
            "/api/v1/pods?labelSelector=" + urllib.parse.quote("a b"),
            "/api/v1/pods?fieldSelector=" + urllib.parse.quote("spec.foo=bar"),
            "/api/v1/pods?fieldSelector=metadata.name",
            "/api/v1/configmaps?fieldSelector=" + urllib.parse.quote("spec.nodeName=x"),
            "/api/v1/pods?limit=abc",
            "/api/v1/pods?resourceVersion=abc",
            "/api/v1/pods?continue=garbage",
            "/api/v1/pods?watch=true&timeoutSeconds=soon",
            "/api/v1/pods?watch=true&resourceVersion=x1",
            "/api/v1/pods?watch=true&allowWatchBookmarks=maybe",
            "/api/v1/pods?includeObject=All",
            "/api/v1/namespaces//pods",
            "/api/v1/namespaces/a/pods/b/c/d",
        ]
        for path in cases:
            status, ctype, data = self.node.request("GET", path)
            self.assertEqual(status, 400, path)
            st = json.loads(data)
            self.assertEqual((st["kind"], st["reason"], st["code"]), ("Status", "BadRequest", 400), path)
        for method, path, body, ctype in (
                ("POST", "/api/v1/namespaces/default/configmaps", "{not json", "application/json"),
                ("POST", "/api/v1/namespaces/default/configmaps", "[1,2]", "application/json"),
                ("PUT", "/api/v1/namespaces/default/configmaps/x", "", "application/json")):
            status, _, data = self.node.request(method, path, body=body, headers={"Content-Type": ctype})
            self.assertEqual((status, json.loads(data)["reason"]), (400, "BadRequest"), body)
        status, _, data = self.node.request("PATCH", "/api/v1/namespaces/default/pods/nginx", body="{}",
                                            headers={"Content-Type": "text/plain"})
        self.assertEqual((status, json.loads(data)["reason"]), (415, "UnsupportedMediaType"))
        status, _, data = self.node.request("POST", "/version", body="x")
        self.assertEqual((status, json.loads(data)["reason"]), (405, "MethodNotAllowed"))
        status, _, data = self.node.request("DELETE", "/api/v1/namespaces/default/pods")
        self.assertEqual((status, json.loads(data)["code"]), (405, 405))
        status, _, data = self.node.request("GET", "/api/v1/bogus")
        self.assertEqual((status, json.loads(data)["reason"]), (404, "NotFound"))
        status, _, data = self.node.request("GET", "/api/v1/namespaces/default/nodes")
        self.assertEqual(status, 404)
        status, _, data = self.node.request("GET", "/api/v1/pods",
                                            headers={"Accept": "application/vnd.kubernetes.protobuf"})
        self.assertEqual((status, json.loads(data)["reason"]), (406, "NotAcceptable"))
        # broken HTTP on a raw socket: an error answer, and the server lives on
        for garbage in (b"GARBAGE\r\n\r\n", b"GET /api HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                        b"\x16\x03\x01\x00\xff" + b"\x00" * 64):
            with socket.create_connection(("127.0.0.1", self.node.port), timeout=5) as s:
                s.sendall(garbage)
                try:
                    answer = s.recv(4096)
                except (ConnectionResetError, socket.timeout):
                    answer = b""
                if answer:
                    self.assertRegex(answer, rb"^HTTP/1\.[01] \d\d\d ")
        self.assertEqual(self.node.request("GET", "/healthz")[0], 200)
        self.assertEqual(self.node.get_json("/api/v1/pods")[0], 200)


    def test_issue9_accept_with_an_empty_part(self):
        """issue 9: `Accept: application/json,` (an empty part) crashed the
        node in ms_output_from_accept; empty parts are skipped, as
        Kubernetes' negotiation skips them."""
        for accept in ("application/json,", ",application/json", "application/json,,", ",", " , ",
                       "application/json, ;q=1"):
            status, ctype, data = self.node.request("GET", "/api/v1/pods", headers={"Accept": accept})
            self.assertEqual(status, 200, accept)
            self.assertEqual(json.loads(data)["kind"], "PodList", accept)
        self.assertEqual(self.node.request("GET", "/healthz")[0], 200)

    def test_issue9_deeply_nested_bodies_are_400(self):
        """issue 9: a body nested 100,000 deep (200 KB of `[` then `]`)
        overflowed the stack in json-glib, before the online check, so it
        stopped an offline node. Now it is a 400 naming the nesting, and the
        node keeps serving."""
        deep = "[" * 100000 + "]" * 100000
        deep_obj = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"data":' + deep + "}"
        for method, path, body, ctype in (
                ("POST", "/api/v1/namespaces/default/configmaps", deep, "application/json"),
                ("POST", "/api/v1/namespaces/default/configmaps", deep_obj, "application/json"),
                ("PUT", "/api/v1/namespaces/team-a/configmaps/settings", deep_obj, "application/json"),
                ("PATCH", "/api/v1/namespaces/default/pods/nginx", deep, "application/merge-patch+json"),
                ("PATCH", "/api/v1/namespaces/default/pods/nginx", deep, "application/json-patch+json"),
                ("DELETE", "/api/v1/namespaces/default/pods/nginx", deep, "application/json")):
            status, _, data = self.node.request(method, path, body=body, headers={"Content-Type": ctype})
            st = json.loads(data)
            self.assertEqual((status, st["kind"], st["reason"], st["code"]),
                             (400, "Status", "BadRequest", 400), (method, ctype))
            self.assertIn("nested too deeply", st["message"])
        self.assertEqual(self.node.request("GET", "/healthz")[0], 200)
        self.assertEqual(self.node.get_json("/api/v1/namespaces/default/pods/nginx")[0], 200)


class Watches(unittest.TestCase):
    """Watches against changes applied after the start."""

    @classmethod
    def setUpClass(cls):
        cls.node = Node(cls, extra_conf="watch-window=5\nwatch-bookmark-interval=1\n").start()
        cls.rv = 100

    def next_rv(self):
        type(self).rv += 1
        return type(self).rv

    def current_rv(self, path="/api/v1/pods"):
        return int(self.node.get_json(path)[1]["metadata"]["resourceVersion"])

    def test_kubectl_watch_sees_a_later_update(self):
        p = subprocess.Popen(self.node.kube + ["get", "pods", "--watch"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            first = p.stdout.readline()
            self.assertEqual(first.split()[:3], ["NAME", "READY", "STATUS"])
            lines = [p.stdout.readline() for _ in range(2)]
            self.assertTrue(any(line.startswith("nginx") for line in lines), lines)
            rv = self.next_rv()
            self.node.change("update", pod("nginx", rv=rv, labels={"app": "x", "tier": "web"}, phase="Failed"))
            line = p.stdout.readline()
            self.assertEqual(line.split()[:3], ["nginx", "0/1", "Error"], line)
        finally:
            p.kill()
            p.wait()
        self.assertEqual(self.node.get_json("/api/v1/namespaces/default/pods/nginx")[1]
                         ["metadata"]["resourceVersion"], str(rv))

    def test_watch_resumes_from_a_resource_version(self):
        start = self.current_rv()
        rv1, rv2 = self.next_rv(), self.next_rv()
        self.node.change("insert", pod("resume-a", rv=rv1, labels={"app": "r"}))
        self.node.change("update", pod("resume-a", rv=rv2, labels={"app": "r"}, phase="Failed"))
        wait_for(lambda: self.current_rv() >= rv2, what="the change to arrive")
        w = WatchStream(self.node, f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={start}"
                                   "&labelSelector=app%3Dr&timeoutSeconds=5")
        try:
            self.assertEqual(w.resp.status, 200)
            e1, e2 = w.next(), w.next()
            self.assertEqual((e1["type"], e1["object"]["metadata"]["resourceVersion"]), ("ADDED", str(rv1)))
            self.assertEqual((e2["type"], e2["object"]["status"]["phase"]), ("MODIFIED", "Failed"))
        finally:
            w.close()
        # from the list's own version: nothing old, then the next change
        listed = self.current_rv()
        w = WatchStream(self.node, f"/api/v1/pods?watch=true&resourceVersion={listed}&timeoutSeconds=5")
        try:
            rv3 = self.next_rv()
            self.node.change("delete", pod("resume-a", rv=rv3, labels={"app": "r"}))
            e = w.next()
            self.assertEqual((e["type"], e["object"]["metadata"]["name"]), ("DELETED", "resume-a"))
            self.assertGreater(int(e["object"]["metadata"]["resourceVersion"]), listed)
        finally:
            w.close()

    def test_too_old_resource_version_is_410(self):
        old = self.current_rv()
        for i in range(7):   # more than the window of 5
            self.node.change("update", pod("churn", rv=self.next_rv(), labels={"n": str(i)}))
        wait_for(lambda: self.current_rv() >= type(self).rv, what="the churn")
        status, _, data = self.node.request("GET", f"/api/v1/pods?watch=1&resourceVersion={old}")
        st = json.loads(data)
        self.assertEqual((status, st["kind"], st["reason"], st["code"]), (410, "Status", "Expired", 410))
        status, _, data = self.node.request("GET", f"/api/v1/pods?watch=1&resourceVersion={old + 10 ** 6}")
        self.assertEqual((status, json.loads(data)["reason"]), (410, "Expired"))

    def test_bookmarks_and_timeout(self):
        t0 = time.monotonic()
        w = WatchStream(self.node, "/api/v1/namespaces/team-a/configmaps?watch=1&allowWatchBookmarks=true"
                                   "&timeoutSeconds=2")
        events = []
        try:
            while True:
                e = w.next()
                if e is None:
                    break
                events.append(e)
        finally:
            w.close()
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 2.0)  # the whole timeoutSeconds
        self.assertLess(elapsed, 8)
        self.assertEqual(events[0]["type"], "ADDED")
        self.assertEqual(events[0]["object"]["metadata"]["name"], "settings")
        marks = [e for e in events if e["type"] == "BOOKMARK"]
        self.assertTrue(marks, events)
        self.assertEqual(marks[0]["object"]["kind"], "ConfigMap")
        self.assertTrue(marks[0]["object"]["metadata"]["resourceVersion"])

    def test_idle_watches_of_gone_clients_are_closed(self):
        """A client that goes away from a quiet watch does not leave its
        connection open on the node."""
        port = self.node.port

        def server_sides(peers, states):
            """The node's sockets of port whose peer is one of peers, in states
            (hex, as /proc/net/tcp spells them). Only this connection's own
            sockets are looked at: others (kept-alive ones of earlier tests)
            come and go meanwhile."""
            n = 0
            with open("/proc/net/tcp") as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    local, remote, state = fields[1], fields[2], fields[3]
                    if (int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) in peers
                            and state in states):
                        n += 1
            return n
        streams = [WatchStream(self.node, "/api/v1/namespaces/nowhere/pods?watch=1") for _ in range(20)]
        peers = {w.conn.sock.getsockname()[1] for w in streams}
        ESTABLISHED, CLOSE_WAIT = "01", "08"
        wait_for(lambda: server_sides(peers, (ESTABLISHED,)) == 20, what="20 watch connections")
        for w in streams:
            w.resp.close()
            w.close()
        # once the node has closed its side, it is in LAST_ACK or gone
        wait_for(lambda: server_sides(peers, (ESTABLISHED, CLOSE_WAIT)) == 0, timeout=5,
                 what="the watch connections to close")

    def test_watch_filters_and_single_object(self):
        w1 = WatchStream(self.node, "/api/v1/watch/namespaces/default/pods/solo?timeoutSeconds=5")
        w2 = WatchStream(self.node, "/api/v1/pods?watch=1&labelSelector=team%3Dblue&timeoutSeconds=5")
        try:
            self.node.change("insert", pod("noise", rv=self.next_rv(), labels={"team": "red"}))
            self.node.change("insert", pod("solo", rv=self.next_rv(), labels={"team": "blue"}))
            e1, e2 = w1.next(), w2.next()
            self.assertEqual(e1["object"]["metadata"]["name"], "solo")
            self.assertEqual(e2["object"]["metadata"]["name"], "solo")
        finally:
            w1.close()
            w2.close()

    def test_numbers_json_glib_wrote_invalid_reach_kubectl(self):
        """json-glib's generator wrote 1e83 as 1e+83.0, which kubectl cannot parse:
        watch events, tables and kubectl see every number as the cloud sent it."""
        spec = {"big": 1e83, "small": 1e-7, "tenth": 0.1, "huge": 1e21, "exact": 2**53 + 1,
                "neg": -2.5e-300, "text": "a\u2028<b>"}
        w = WatchStream(self.node, "/apis/example.com/v1/watch/namespaces/default/widgets/numbers?timeoutSeconds=5")
        try:
            self.node.change("insert", obj("Widget", "numbers", "default", self.next_rv(),
                                           api="example.com/v1", spec=spec))
            event = w.next()
            self.assertEqual(event["object"]["metadata"]["name"], "numbers")
            self.assertEqual(event["object"]["spec"], spec)
        finally:
            w.close()
        table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        status, t = self.node.get_json("/apis/example.com/v1/namespaces/default/widgets/numbers"
                                       "?includeObject=Object", headers={"Accept": table})
        self.assertEqual(status, 200)
        self.assertEqual(t["rows"][0]["object"]["spec"], spec)
        one = json.loads(self.node.kubectl("get", "widgets", "numbers", "-o", "json").stdout)
        self.assertEqual(one["spec"], spec)
        self.assertIn("numbers", self.node.kubectl("get", "widgets").stdout)

    def test_bad_change_feed_is_ignored(self):
        for content in ('"not an object"', '{"metadata":{"name":"x"}}', '[1,2]', '{"kind":"Pod","apiVersion":"v1"}'):
            msg = ('{"header":{"msg_id":"bad","timestamp":1},"route":{"source":"metamanager",'
                   '"group":"meta","operation":"insert","resource":"default/pod/x"},"content":' + content + '}')
            self.node.assert_ok(self.node.ctl("group metaserver " + msg))
        self.assertTrue(self.node.ctl("group metaserver {broken").startswith("error"))
        wait_for(lambda: "no apiVersion/kind" in self.node.output(), what="the warning")
        self.assertEqual(self.node.get_json("/api/v1/pods")[0], 200)


class SlowWatchClient(unittest.TestCase):
    def test_client_far_behind_is_disconnected(self):
        """A watch client that reads nothing and falls more than 20000 events
        behind has its connection closed on the node at once (not only its
        stream ended while the queued events wait for TCP to give up)."""
        node = Node(self).start()
        fd_dir = f"/proc/{node.proc.pid}/fd"
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", node.port))
        self.addCleanup(s.close)
        client_port = s.getsockname()[1]

        def server_side_open():
            """Whether edgecore still holds its end of this connection."""
            inodes = set()
            with open("/proc/net/tcp") as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    local, remote = fields[1], fields[2]
                    if (int(local.split(":")[1], 16) == node.port
                            and int(remote.split(":")[1], 16) == client_port):
                        inodes.add(fields[9])
            for fd in os.listdir(fd_dir):
                try:
                    link = os.readlink(os.path.join(fd_dir, fd))
                except OSError:
                    continue
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return True
            return False
        s.sendall(b"GET /api/v1/namespaces/slow/pods?watch=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(server_side_open, what="the watch connection")
        pad = "x" * 1024
        # the change feed straight to metaserver: one event per message
        with ThreadPoolExecutor(4) as pool:
            def feed(i):
                o = pod(f"p{i}", ns="slow", rv=1000 + i, labels={"pad": "y"})
                o["metadata"]["annotations"] = {"pad": pad}
                msg = {"header": {"msg_id": f"slow-{i}", "timestamp": 1, "resourceversion": str(1000 + i)},
                       "route": {"source": "metamanager", "group": "meta", "operation": "insert",
                                 "resource": f"slow/pod/p{i}"},
                       "content": o}
                node.assert_ok(node.ctl("group metaserver " + json.dumps(msg)))
            for i in range(0, 26000, 1000):
                list(pool.map(feed, range(i, i + 1000)))
                if "too slow" in node.output():
                    break
        wait_for(lambda: "closing its connection" in node.output(), timeout=20, what="the slow client's drop")
        wait_for(lambda: not server_side_open(), timeout=10, what="the slow client's connection to close")
        self.assertEqual(node.get_json("/api/v1/namespaces/slow/pods?limit=1")[0], 200)


class ConnectionLimits(unittest.TestCase):
    HEADER_S, BODY_S, IDLE_S, CAP = 4, 6, 5, 64

    def test_slowloris_is_dropped_and_legit_clients_are_served(self):
        """200 clients that open a connection and send a request a line at a
        time, or nothing: the node holds at most max-connections of them,
        drops each once read-header-timeout has passed, and serves ordinary
        requests and a quiet watch all along."""
        node = Node(self, extra_conf=f"max-connections={self.CAP}\nread-header-timeout={self.HEADER_S}\n"
                                     f"read-timeout={self.BODY_S}\nidle-timeout={self.IDLE_S}\n").start()

        def server_sockets():
            """Connections edgecore holds open on its port."""
            inodes = set()
            with open("/proc/net/tcp") as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if int(fields[1].split(":")[1], 16) == node.port and fields[3] == "01":
                        inodes.add(fields[9])
            n = 0
            fd_dir = f"/proc/{node.proc.pid}/fd"
            for fd in os.listdir(fd_dir):
                try:
                    link = os.readlink(os.path.join(fd_dir, fd))
                except OSError:
                    continue
                n += link.startswith("socket:[") and link[8:-1] in inodes
            return n

        def closed(s):
            """Whether the node closed this client's connection."""
            if not select.select([s], [], [], 0)[0]:
                return False
            try:
                return s.recv(65536) == b""
            except ConnectionResetError:
                return True

        # a quiet watch, opened first: the oldest connection, never dropped
        watch = WatchStream(node, "/api/v1/namespaces/limits/pods?watch=1", timeout=120)
        self.addCleanup(watch.close)
        slow, opened = [], []
        for i in range(200):
            s = socket.socket()
            self.addCleanup(s.close)
            opened.append(time.monotonic())
            s.connect(("127.0.0.1", node.port))
            if i % 2:
                s.sendall(b"GET /api/v1/pods HTTP/1.1\r\n")
            slow.append(s)
        # at most max-connections held (and the watch is one of them)
        wait_for(lambda: server_sockets() <= self.CAP, timeout=30, what="the connection cap")
        # ordinary requests are served meanwhile, while the slow ones trickle
        for round_ in range(3):
            for s in slow[1::2]:
                try:
                    s.sendall(b"X-Slow-%d: 1\r\n" % round_)
                except OSError:
                    pass
            status, body = node.get_json("/api/v1/namespaces/default/pods")
            self.assertEqual(status, 200)
            self.assertEqual(body["kind"], "PodList")
        # every slow client is dropped; the last one (never evicted: fewer
        # than max-connections came after it) not before its header time
        wait_for(lambda: all(closed(s) for s in slow), timeout=self.HEADER_S + 60,
                 what="every slow client to be dropped")
        last_closed = time.monotonic()
        self.assertGreaterEqual(last_closed - opened[-1], self.HEADER_S)

        # a body that stops half way: dropped after read-timeout
        t0 = time.monotonic()
        body = socket.create_connection(("127.0.0.1", node.port))
        self.addCleanup(body.close)
        body.sendall(b"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        # a kept-alive connection that goes quiet: dropped after idle-timeout
        keep = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
        self.addCleanup(keep.close)
        keep.request("GET", "/api/v1/namespaces/default/pods")
        resp = keep.getresponse()
        self.assertEqual(resp.status, 200)
        resp.read()
        t1 = time.monotonic()
        self.assertFalse(closed(keep.sock))
        wait_for(lambda: closed(body), timeout=self.BODY_S + 60, what="the stalled body to be dropped")
        self.assertGreaterEqual(time.monotonic() - t0, self.BODY_S)
        wait_for(lambda: closed(keep.sock), timeout=self.IDLE_S + 60, what="the idle connection to be dropped")
        self.assertGreaterEqual(time.monotonic() - t1, self.IDLE_S)

        # the watch, quiet for longer than every timeout, still streams
        node.change("insert", pod("late", ns="limits", rv=500))
        event = watch.next()
        self.assertEqual((event["type"], event["object"]["metadata"]["name"]), ("ADDED", "late"))
        self.assertEqual(node.get_json("/api/v1/namespaces/limits/pods")[0], 200)
        self.assertLessEqual(server_sockets(), 2)


class CloudWrites(unittest.TestCase):
    """Writes through a stand-in cloud on the bus (tests/metaserver/fakecloud)."""

    @classmethod
    def setUpClass(cls):
        cls.node = Node(cls, fakecloud=True, extra_conf="cloud-timeout=1\n").start()

    def setUp(self):
        self.node.connect(True)

    def test_create_goes_to_the_cloud(self):
        manifest = os.path.join(self.node.dir, "cm.json")
        with open(manifest, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "made", "namespace": "default"},
                       "data": {"k": "v"}}, f)
        out = self.node.kubectl("create", "--validate=false", "-f", manifest).stdout
        self.assertIn("configmap/made created", out)
        status, _, data = self.node.request("POST", "/api/v1/namespaces/default/configmaps",
                                            body=json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                                             "metadata": {"name": "m2"}}),
                                            headers={"Content-Type": "application/json"})
        self.assertEqual(status, 201)
        app = json.loads(json.loads(data)["metadata"]["annotations"]["fakecloud/application"])
        self.assertEqual((app["Key"], app["Verb"], app["Nodename"], app["Status"]),
                         ("/core/v1/configmaps/default/null", "create", "edge-1", "InApplying"))
        self.assertEqual(len(app["ID"]), 64)
        self.assertEqual(json.loads(base64.b64decode(app["Option"])), {})

    def test_patch_update_delete(self):
        r = self.node.kubectl("patch", "pod", "nginx", "--type=merge", "-p", '{"metadata":{"labels":{"a":"b"}}}')
        self.assertIn("pod/nginx patched", r.stdout)
        status, _, data = self.node.request("PATCH", "/api/v1/namespaces/default/pods/nginx/status",
                                            body='{"status":{"phase":"Running"}}',
                                            headers={"Content-Type": "application/strategic-merge-patch+json"})
        self.assertEqual(status, 200)
        info = json.loads(json.loads(data)["metadata"]["annotations"]["fakecloud/application"])
        self.assertEqual((info["Name"], info["PatchType"], info["Subresources"]),
                         ("nginx", "application/strategic-merge-patch+json", ["status"]))
        self.assertEqual(json.loads(base64.b64decode(info["Data"])), {"status": {"phase": "Running"}})
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "team-a"},
              "data": {"greeting": "changed"}}
        status, _, data = self.node.request("PUT", "/api/v1/namespaces/team-a/configmaps/settings",
                                            body=json.dumps(cm), headers={"Content-Type": "application/json"})
        self.assertEqual((status, json.loads(data)["data"]["greeting"]), (200, "changed"))
        r = self.node.kubectl("delete", "pod", "nginx", "--wait=false")
        self.assertIn('pod "nginx" deleted', r.stdout)

    def test_cloud_errors(self):
        r = self.node.kubectl("delete", "pod", "forbidden", check=False)
        self.assertIn("Forbidden", r.stderr)
        self.assertIn("fakecloud forbids this", r.stderr)
        status, _, data = self.node.request("DELETE", "/api/v1/namespaces/default/pods/unreachable")
        st = json.loads(data)
        self.assertEqual((status, st["reason"]), (503, "ServiceUnavailable"))
        self.assertIn("cloud unreachable", st["message"])
        t0 = time.monotonic()
        status, _, data = self.node.request("DELETE", "/api/v1/namespaces/default/pods/slow")
        self.assertEqual((status, json.loads(data)["reason"]), (504, "Timeout"))
        self.assertLess(time.monotonic() - t0, 5)

    def test_disconnect_makes_writes_503_again(self):
        self.node.connect(False)
        status, _, data = self.node.request("DELETE", "/api/v1/namespaces/default/pods/nginx")
        self.assertEqual((status, json.loads(data)["reason"]), (503, "ServiceUnavailable"))
        self.node.connect(True)
        status, _, _ = self.node.request("DELETE", "/api/v1/namespaces/default/pods/nginx")
        self.assertEqual(status, 200)


CM_YAML = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  namespace: {ns}
data:
  greeting: {value}
"""


WIDGET_YAML = """apiVersion: example.com/v1
kind: Widget
metadata:
  name: {name}
  namespace: default
spec:
  size: {size}
"""


class OpenApiHelpers:
    """What the OpenAPI tests share; self.node is their edgecore."""

    def create_offline_fails_on_the_write(self, served):
        """Offline, with a fresh kubectl cache: `kubectl create -f` (no
        --validate flag) validates with the documents metaserver has and
        fails on the write itself (503), without asking the cloud; the log
        line `served` shows a cached document was used."""
        before = len(self.cloud_gets())
        served_before = self.node.output().count(served)
        fresh = os.path.join(self.node.dir, "kcache-offline")
        r = self.node.kubectl("create", "-f", self.manifest("offline"), check=False,
                              extra=[f"--cache-dir={fresh}"])
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("failed to download openapi", r.stderr)
        self.assertNotIn("error validating", r.stderr)
        self.assertIn("ServiceUnavailable", r.stderr)
        self.assertIn("cloud is unreachable", r.stderr)
        self.assertIn("error when creating", r.stderr)   # the write's own error
        self.assertEqual(len(self.cloud_gets()), before)
        self.assertGreater(self.node.output().count(served), served_before)

    def manifest(self, name, ns="default", value="hello"):
        path = os.path.join(self.node.dir, f"{name}-{ns}.yaml")
        with open(path, "w") as f:
            f.write(CM_YAML.format(name=name, ns=ns, value=value))
        return path

    def widget(self, name, size=1):
        path = os.path.join(self.node.dir, f"widget-{name}.yaml")
        with open(path, "w") as f:
            f.write(WIDGET_YAML.format(name=name, size=size))
        return path

    def cloud_gets(self):
        """The pass-through Applications the stand-in cloud received, in order."""
        return [line.split("application get ", 1)[1].strip()
                for line in self.node.output().splitlines() if "application get " in line]

    def cached(self, key):
        db = sqlite3.connect(self.node.db, timeout=10)
        try:
            return db.execute("SELECT group_version_resource, namespace, name, resource_version, value "
                              "FROM meta_v2 WHERE key = ?", (key,)).fetchone()
        finally:
            db.close()

    def cached_keys(self):
        db = sqlite3.connect(self.node.db, timeout=10)
        try:
            return [k for (k,) in db.execute("SELECT key FROM meta_v2 WHERE key LIKE '/openapi/%'")]
        finally:
            db.close()

    def application_of(self, out):
        """The Application the stand-in cloud saw, from the object kubectl printed."""
        return json.loads(json.loads(out)["metadata"]["annotations"]["fakecloud/application"])

    def document(self, path):
        """GET of a document: (status, X-Metaserver-Source, parsed body, raw body)."""
        c = http.client.HTTPConnection("127.0.0.1", self.node.port, timeout=20)
        try:
            c.request("GET", path, headers={"Accept": "application/json"})
            r = c.getresponse()
            data = r.read()
            return r.status, r.getheader("X-Metaserver-Source"), json.loads(data), data
        finally:
            c.close()

    def assert_own_core_v1(self, doc):
        """metaserver's own api/v1 document: what kubectl's checks look at."""
        self.assertEqual(doc["openapi"], "3.0.0")
        self.assertEqual(doc["components"], {})   # no schemas: none are made up
        paths = doc["paths"]
        item = paths["/api/v1/namespaces/{namespace}/configmaps/{name}"]
        patch = item["patch"]
        self.assertEqual(patch["x-kubernetes-group-version-kind"], {"group": "", "version": "v1", "kind": "ConfigMap"})
        self.assertEqual(patch["x-kubernetes-action"], "patch")
        self.assertEqual(patch["operationId"], "patchCoreV1NamespacedConfigMap")
        self.assertEqual({p["name"] for p in patch["parameters"] if p["in"] == "query"},
                         {"dryRun", "fieldManager", "fieldValidation"})
        self.assertEqual(sorted(patch["requestBody"]["content"]),
                         ["application/apply-patch+yaml", "application/json-patch+json",
                          "application/merge-patch+json", "application/strategic-merge-patch+json"])
        self.assertEqual({p["name"] for p in item["parameters"]}, {"name", "namespace"})
        self.assertEqual(set(item), {"get", "put", "patch", "delete", "parameters"})
        collection = paths["/api/v1/namespaces/{namespace}/configmaps"]
        self.assertEqual((collection["get"]["x-kubernetes-action"], collection["post"]["x-kubernetes-action"]),
                         ("list", "post"))
        self.assertEqual({p["name"] for p in collection["get"]["parameters"]},
                         {"labelSelector", "fieldSelector", "resourceVersion", "resourceVersionMatch", "watch",
                          "timeoutSeconds", "limit", "continue", "allowWatchBookmarks"})
        self.assertIn("fieldValidation", [p["name"] for p in collection["post"]["parameters"]])
        self.assertEqual(paths["/api/v1/configmaps"]["get"]["operationId"], "listCoreV1ConfigMapForAllNamespaces")
        # cluster-scoped: no namespace in the paths
        self.assertEqual(paths["/api/v1/nodes/{name}"]["get"]["operationId"], "readCoreV1Node")
        self.assertNotIn("/api/v1/namespaces/{namespace}/nodes", paths)


class OpenApi(OpenApiHelpers, unittest.TestCase):
    """OpenAPI through a stand-in cloud that answers as CloudCore HEAD does:
    it passes /openapi/v3 through but not /openapi/v3/<group-version>, so
    metaserver writes those documents itself; kubectl create/apply work
    without --validate=false."""

    @classmethod
    def setUpClass(cls):
        cls.node = Node(cls, fakecloud=True, extra_conf="cloud-timeout=2\n").start()

    def setUp(self):
        self.node.connect(True)

    def test_root_from_the_cloud_group_version_from_metaserver(self):
        root = json.loads(self.node.kubectl("get", "--raw", "/openapi/v3").stdout)
        url = root["paths"]["api/v1"]["serverRelativeURL"]
        self.assertRegex(url, r"^/openapi/v3/api/v1\?hash=[0-9A-F]{128}$")
        status, source, doc, _ = self.document(url)
        self.assertEqual((status, source), (200, "metaserver"))
        self.assert_own_core_v1(doc)
        self.assertEqual(json.loads(self.node.kubectl("get", "--raw", url).stdout), doc)
        # the cloud was asked first (the Key without the query) and refused
        gets = self.cloud_gets()
        self.assertIn("/openapi/v3", gets)
        self.assertIn("/openapi/v3/api/v1", gets)
        self.assertFalse([g for g in gets if "?" in g], gets)
        # the cloud's root is cached; metaserver's own documents are not
        row = wait_for(lambda: self.cached("/openapi/v3"), what="the cached /openapi/v3")
        self.assertEqual(row[:4], ("", "", "", 0))
        self.assertEqual(json.loads(row[4]), root)
        self.assertEqual(self.document("/openapi/v3")[1], "cloud")
        self.assertIsNone(self.cached("/openapi/v3/api/v1"))
        # nothing logged per request at info level
        self.assertNotIn("/openapi/v3/api/v1:", self.node.output())
        # the cache rows are not mistaken for objects by discovery
        groups = {g["name"] for g in self.node.get_json("/apis")[1]["groups"]}
        self.assertNotIn("openapi", groups)

    def test_create_and_apply_without_validate_flag(self):
        before = self.cloud_gets().count("/openapi/v3/api/v1")
        r = self.node.kubectl("create", "-f", self.manifest("made"), "-o", "json")
        app = self.application_of(r.stdout)
        self.assertEqual((app["Verb"], app["Key"]), ("create", "/core/v1/configmaps/default/null"))
        self.assertEqual(json.loads(base64.b64decode(app["Option"]))["fieldValidation"], "Strict")
        self.assertNotIn("validat", r.stderr)
        self.assertGreater(self.cloud_gets().count("/openapi/v3/api/v1"), before)
        # apply of a new object: a create
        r = self.node.kubectl("apply", "-f", self.manifest("applied"), "-o", "json")
        app = self.application_of(r.stdout)
        self.assertEqual(app["Verb"], "create")
        self.assertEqual(json.loads(base64.b64decode(app["Option"]))["fieldValidation"], "Strict")
        self.assertNotIn("openapi", r.stderr.lower())
        # apply of a stored object: a patch, fieldValidation in the PatchInfo's
        # options; kubectl builds the strategic merge patch from its own types
        r = self.node.kubectl("apply", "-f", self.manifest("settings", "team-a", "changed"), "-o", "json")
        info = self.application_of(r.stdout)
        self.assertEqual((info["Name"], info["Options"]["fieldValidation"]), ("settings", "Strict"))
        self.assertEqual(info["PatchType"], "application/strategic-merge-patch+json")
        self.assertEqual(json.loads(base64.b64decode(info["Data"]))["data"]["greeting"], "changed")
        self.assertNotIn("openapi", r.stderr.lower())   # e.g. "error calculating patch from openapi v3 spec"

    def test_custom_resources_are_in_their_documents(self):
        # a CRD kind seeded in meta_v2 (Widget, example.com/v1, namespaced)
        status, source, doc, _ = self.document("/openapi/v3/apis/example.com/v1")
        self.assertEqual((status, source), (200, "metaserver"))
        patch = doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
        self.assertEqual(patch["x-kubernetes-group-version-kind"],
                         {"group": "example.com", "version": "v1", "kind": "Widget"})
        self.assertEqual(patch["operationId"], "patchExampleComV1NamespacedWidget")
        self.assertIn("fieldValidation", [p["name"] for p in patch["parameters"]])
        # the cloud takes no strategic merge patch of a custom resource
        self.assertNotIn("application/strategic-merge-patch+json", patch["requestBody"]["content"])
        self.assertIn("application/merge-patch+json", patch["requestBody"]["content"])
        # kubectl validates it by that document: create and apply without --validate=false
        r = self.node.kubectl("create", "-f", self.widget("w2"), "-o", "json")
        app = self.application_of(r.stdout)
        self.assertEqual((app["Verb"], app["Key"]), ("create", "/example.com/v1/widgets/default/null"))
        self.assertEqual(json.loads(base64.b64decode(app["Option"]))["fieldValidation"], "Strict")
        # apply of the stored w1: a merge patch (kubectl has no built-in type for it)
        r = self.node.kubectl("apply", "-f", self.widget("w1", size=5), "-o", "json")
        info = self.application_of(r.stdout)
        self.assertEqual((info["Name"], info["PatchType"], info["Options"]["fieldValidation"]),
                         ("w1", "application/merge-patch+json", "Strict"))
        self.assertEqual(json.loads(base64.b64decode(info["Data"]))["spec"], {"size": 5})
        self.assertNotIn("openapi", r.stderr.lower())
        # a kind written to meta_v2 later is found there when the document is asked for
        gadget = obj("Gadget", "g1", None, 40, api="gadgets.example.org/v1alpha1", spec={"on": True})
        db = sqlite3.connect(self.node.db, timeout=10)
        put_row(db, gadget)
        db.commit()
        db.close()
        status, source, doc, _ = self.document("/openapi/v3/apis/gadgets.example.org/v1alpha1")
        self.assertEqual((status, source), (200, "metaserver"))
        read = doc["paths"]["/apis/gadgets.example.org/v1alpha1/gadgets/{name}"]["get"]
        self.assertEqual((read["operationId"], read["x-kubernetes-group-version-kind"]["kind"]),
                         ("readGadgetsExampleOrgV1alpha1Gadget", "Gadget"))
        self.assertEqual(list(doc["paths"]), ["/apis/gadgets.example.org/v1alpha1/gadgets",
                                              "/apis/gadgets.example.org/v1alpha1/gadgets/{name}"])

    def test_openapi_errors_are_statuses(self):
        # the stand-in cloud has no /openapi/v2: its 404 Status comes through
        status, ctype, data = self.node.request("GET", "/openapi/v2", headers={"Accept": "application/json"})
        st = json.loads(data)
        self.assertEqual((status, ctype, st["kind"], st["reason"], st["code"]),
                         (404, "application/json", "Status", "NotFound", 404))
        # kubectl's protobuf-only request for /openapi/v2: refused here, the cloud is not asked
        before = len(self.cloud_gets())
        status, _, data = self.node.request(
            "GET", "/openapi/v2", headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
        self.assertEqual((status, json.loads(data)["reason"]), (406, "NotAcceptable"))
        self.assertEqual(len(self.cloud_gets()), before)
        status, _, data = self.node.request("POST", "/openapi/v3", body="{}",
                                            headers={"Content-Type": "application/json"})
        self.assertEqual((status, json.loads(data)["reason"]), (405, "MethodNotAllowed"))
        # paths that are not documents are not passed through
        before = len(self.cloud_gets())
        for path in ("/openapi/v3/api//v1", "/openapi/v3/api/v1/", "/openapi/v3/api%20v1",
                     "/openapi/v3/" + "x" * 250, "/openapi/v4"):
            status, _, data = self.node.request("GET", path)
            self.assertIn(status, (400, 404), path)
            self.assertEqual(json.loads(data)["kind"], "Status")
        self.assertEqual(len(self.cloud_gets()), before)
        # group-versions metaserver does not serve: 404, whatever the cloud said
        # (kube-apiserver's 404 here, "name is required" for api/<v>)
        for path, cloud_said in (("/openapi/v3/apis/absent.example/v1", "could not find"),
                                 ("/openapi/v3/api/v9", "name is required")):
            status, _, data = self.node.request("GET", path)
            st = json.loads(data)
            self.assertEqual((status, st["reason"]), (404, "NotFound"), path)
            self.assertIn("metaserver serves no resources of", st["message"])
            self.assertIn(cloud_said, st["message"])
            self.assertEqual(self.cloud_gets()[-1], path)
        # other documents: the cloud's refusal as it is
        status, _, data = self.node.request("GET", "/openapi/v3/other")
        st = json.loads(data)
        self.assertEqual((status, st["kind"], st["message"]), (500, "Status", "name is required"))

    def test_offline_create_validates_with_cached_root_and_own_document(self):
        # online, kubectl's validation brings the cloud's root into the cache
        self.node.kubectl("create", "-f", self.manifest("warmup"))
        wait_for(lambda: self.cached("/openapi/v3"), what="the cached /openapi/v3")
        self.node.connect(False)
        served = "/openapi/v3: no document from the cloud (503 ServiceUnavailable); " \
                 "served the copy cached in meta_v2"
        try:
            self.create_offline_fails_on_the_write(served)
            self.assertEqual(self.document("/openapi/v3/api/v1")[1], "metaserver")
            # a group-version nobody serves, offline: 503 (the cloud may know it)
            status, _, data = self.node.request("GET", "/openapi/v3/apis/never.example/v1")
            st = json.loads(data)
            self.assertEqual((status, st["kind"], st["reason"]), (503, "Status", "ServiceUnavailable"))
            self.assertIn("no cached copy", st["message"])
        finally:
            self.node.connect(True)


class OpenApiOffline(OpenApiHelpers, unittest.TestCase):
    """No cloud ever, nothing cached: metaserver's own documents."""

    @classmethod
    def setUpClass(cls):
        cls.node = Node(cls).start()

    def test_create_gets_the_writes_own_503(self):
        fresh = os.path.join(self.node.dir, "kcache-fresh")
        for verb, manifest in (("create", self.manifest("offline-create")),
                               ("apply", self.manifest("offline-apply")),
                               ("create", self.widget("offline-widget"))):
            r = self.node.kubectl(verb, "-f", manifest, check=False,
                                  extra=[f"--cache-dir={fresh}-{os.path.basename(manifest)}"])
            self.assertNotEqual(r.returncode, 0, verb)
            self.assertNotIn("failed to download openapi", r.stderr)
            self.assertNotIn("error validating", r.stderr)
            self.assertIn("ServiceUnavailable", r.stderr)
            self.assertIn("cloud is unreachable", r.stderr)
        self.assertEqual(self.cached_keys(), [])   # metaserver's own documents are not cached

    def test_documents_and_hashes(self):
        root = json.loads(self.node.kubectl("get", "--raw", "/openapi/v3").stdout)
        self.assertEqual(self.document("/openapi/v3")[1], "metaserver")
        self.assertEqual(root["paths"]["api/v1"]["serverRelativeURL"].split("?")[0], "/openapi/v3/api/v1")
        for gv in ("api/v1", "apis/apps/v1", "apis/rbac.authorization.k8s.io/v1",
                   "apis/devices.kubeedge.io/v1beta1", "apis/example.com/v1"):
            self.assertIn(gv, root["paths"])
        for gv, entry in root["paths"].items():
            url = entry["serverRelativeURL"]
            self.assertTrue(url.startswith(f"/openapi/v3/{gv}?hash="), url)
            status, source, doc, raw = self.document(url)
            self.assertEqual((status, source), (200, "metaserver"), gv)
            self.assertEqual(url.split("?hash=")[1], hashlib.sha512(raw).hexdigest().upper(), gv)
        doc = json.loads(self.node.kubectl("get", "--raw", "/openapi/v3/api/v1").stdout)
        self.assert_own_core_v1(doc)
        rbac = self.document("/openapi/v3/apis/rbac.authorization.k8s.io/v1")[2]
        self.assertEqual(rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"]["patch"]
                         ["operationId"], "patchRbacAuthorizationV1ClusterRole")
        # KubeEdge's devices are CRDs in the cloud: no strategic merge patch
        devices = self.document("/openapi/v3/apis/devices.kubeedge.io/v1beta1")[2]
        content = devices["paths"]["/apis/devices.kubeedge.io/v1beta1/namespaces/{namespace}/devices/{name}"][
            "patch"]["requestBody"]["content"]
        self.assertNotIn("application/strategic-merge-patch+json", content)
        self.assertEqual(self.cached_keys(), [])
        status, _, data = self.node.request("GET", "/openapi/v3/apis/never.example/v1")
        self.assertEqual((status, json.loads(data)["reason"]), (503, "ServiceUnavailable"))


class OpenApiServingCloud(OpenApiHelpers, unittest.TestCase):
    """A cloud that does pass the group-version documents through (not
    CloudCore HEAD): its documents are served and cached, and preferred to
    metaserver's own."""

    @classmethod
    def setUpClass(cls):
        cls.node = Node(cls, fakecloud=True,
                        extra_conf="cloud-timeout=2\n[fakecloud]\nserve-group-versions=true\n").start()

    def setUp(self):
        self.node.connect(True)

    def test_raw_documents_come_from_the_cloud_and_are_cached(self):
        root = json.loads(self.node.kubectl("get", "--raw", "/openapi/v3").stdout)
        url = root["paths"]["api/v1"]["serverRelativeURL"]
        doc = json.loads(self.node.kubectl("get", "--raw", url).stdout)
        patch = doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"]
        self.assertEqual(patch["x-kubernetes-group-version-kind"], {"group": "", "version": "v1", "kind": "ConfigMap"})
        self.assertIn("fieldValidation", [p["name"] for p in patch["parameters"]])
        self.assertIn("io.k8s.api.core.v1.ConfigMap", doc["components"]["schemas"])   # the cloud's, not ours
        self.assertIn("/openapi/v3/api/v1", self.cloud_gets())
        status, source, again, _ = self.document(url)
        self.assertEqual((status, source, again), (200, "cloud", doc))
        # cached as KubeEdge's imitator stores a pass-through answer
        row = wait_for(lambda: self.cached("/openapi/v3/api/v1"), what="the cached /openapi/v3/api/v1")
        self.assertEqual(row[:4], ("", "", "", 0))
        self.assertEqual(json.loads(row[4]), doc)
        self.assertIsNone(self.cached(url))
        self.assertEqual(self.node.request("GET", "/openapi/v3/apis/flaky.example/v1")[0], 200)
        wait_for(lambda: self.cached("/openapi/v3/apis/flaky.example/v1"), what="the cached flaky document")
        groups = {g["name"] for g in self.node.get_json("/apis")[1]["groups"]}
        self.assertNotIn("openapi", groups)
        self.assertNotIn("flaky.example", groups)

    def test_cloud_failure_serves_the_cached_copy(self):
        status, _, first = self.node.request("GET", "/openapi/v3/apis/flaky.example/v1")
        self.assertEqual(status, 200)
        wait_for(lambda: self.cached("/openapi/v3/apis/flaky.example/v1"), what="the cached flaky document")
        # the stand-in cloud is "unreachable" for this path from now on
        status, source, again, raw = self.document("/openapi/v3/apis/flaky.example/v1")
        self.assertEqual((status, source, raw), (200, "cache", first))
        wait_for(lambda: "/openapi/v3/apis/flaky.example/v1: no document from the cloud (503 ServiceUnavailable); "
                         "served the copy cached in meta_v2" in self.node.output(), what="the cache log line")
        self.assertGreaterEqual(self.cloud_gets().count("/openapi/v3/apis/flaky.example/v1"), 2)

    def test_offline_create_validates_from_the_cache(self):
        # online, kubectl's validation brings the cloud's documents into the cache
        r = self.node.kubectl("create", "-f", self.manifest("warmup"), "-o", "json")
        self.assertEqual(json.loads(base64.b64decode(self.application_of(r.stdout)["Option"]))["fieldValidation"],
                         "Strict")
        for key in ("/openapi/v3", "/openapi/v3/api/v1"):
            wait_for(lambda: self.cached(key), what=f"the cached {key}")
        self.node.connect(False)
        served = "/openapi/v3/api/v1: no document from the cloud (503 ServiceUnavailable); " \
                 "served the copy cached in meta_v2"
        try:
            self.create_offline_fails_on_the_write(served)
            # the cached copy of the cloud's document is preferred to metaserver's own
            status, source, doc, _ = self.document("/openapi/v3/api/v1")
            self.assertEqual((status, source), (200, "cache"))
            self.assertIn("schemas", doc["components"])
        finally:
            self.node.connect(True)


class OldSchema(unittest.TestCase):
    def test_v1_9_2_column_names_are_served(self):
        node = Node(self, old_columns=True).start()
        out = node.kubectl("get", "pods", "-A", "-o", "name").stdout.split()
        self.assertEqual(sorted(out), ["pod/dns", "pod/nginx", "pod/other"])
        self.assertGreaterEqual(int(node.get_json("/api/v1/pods")[1]["metadata"]["resourceVersion"]), 16)


@unittest.skipUnless(OPENSSL, "openssl is not installed (scripts/deps.sh)")
class Https(unittest.TestCase):
    def make_pki(self, d):
        def run(*args):
            subprocess.run([OPENSSL] + list(args), check=True, capture_output=True, cwd=d, timeout=60)
        for ca in ("ca", "rogue"):
            run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2", "-subj", f"/CN={ca} test CA")
        with open(os.path.join(d, "san.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        with open(os.path.join(d, "client.ext"), "w") as f:
            f.write("extendedKeyUsage=clientAuth\n")
        for name, ca, ext in (("server", "ca", "san.ext"), ("client", "ca", "client.ext"),
                              ("intruder", "rogue", "client.ext")):
            run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}/O=kubeEdge")
            run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", ext)
        return {k: os.path.join(d, f"{v}") for k, v in
                (("ca", "ca.crt"), ("cert", "server.crt"), ("key", "server.key"))}

    def test_client_certificates_required(self):
        pki = tempfile.mkdtemp(prefix="ec-ms-pki-")
        self.addCleanup(shutil.rmtree, pki, True)
        files = self.make_pki(pki)
        node = Node(self, https=files).start()
        creds = [f"--certificate-authority={files['ca']}",
                 f"--client-certificate={os.path.join(pki, 'client.crt')}",
                 f"--client-key={os.path.join(pki, 'client.key')}"]
        out = node.kubectl("get", "pods", "-A", extra=creds).stdout
        self.assertIn("nginx", out)

        def https_get(cert):
            ctx = ssl.create_default_context(cafile=files["ca"])
            if cert:
                ctx.load_cert_chain(os.path.join(pki, f"{cert}.crt"), os.path.join(pki, f"{cert}.key"))
            c = http.client.HTTPSConnection("127.0.0.1", node.port, context=ctx, timeout=5)
            try:
                c.request("GET", "/api/v1/namespaces/default/pods/nginx")
                r = c.getresponse()
                return r.status, r.read()
            finally:
                c.close()
        status, body = https_get("client")
        self.assertEqual((status, json.loads(body)["metadata"]["name"]), (200, "nginx"))
        for who in (None, "intruder"):
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError), msg=f"client {who}"):
                https_get(who)
        r = node.kubectl("get", "pods", check=False, extra=[f"--certificate-authority={files['ca']}"])
        self.assertNotEqual(r.returncode, 0)
        status, _ = https_get("client")   # still serving
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
