#!/usr/bin/env python3
"""metamanager in the real edgecore host, on real sqlite files.

Messages are put on the bus through the host's control socket (module
"edgecore-ctl"): `send metamanager <json>` for cloud messages, `call
metamanager <ms> <json>` for edged's sync requests. Stand-in plugins log what
metamanager sends: fakehub (module "websocket", group "hub"; edgehub is not
loaded), fakeedged (module "edged") and fakemetaserver (group "metaserver").
fakehub answers sync requests from an answers file and broadcasts edgehub's
connect event on request."""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

BIN = os.environ["EDGECORE_BIN"]
MM_DIR = os.environ["MM_PLUGIN_DIR"]
FAKES = os.environ["MM_FAKES_DIR"]

HEAD_DDL = """
CREATE TABLE `meta` (`key` text,`type` text,`value` text,PRIMARY KEY (`key`));
CREATE TABLE `meta_v2` (`key` text,`group_version_resource` text,`namespace` text,
  `name` text,`resource_version` integer,`value` text,PRIMARY KEY (`key`));
"""
V192_DDL = """
CREATE TABLE `meta` (`key` varchar(256) NOT NULL PRIMARY KEY,
  `type` varchar(32) NOT NULL DEFAULT '', `value` text NOT NULL DEFAULT '');
CREATE TABLE `meta_v2` (`key` varchar(256) NOT NULL PRIMARY KEY,
  `groupversionresource` varchar(256) NOT NULL DEFAULT '',
  `namespace` varchar(256) NOT NULL DEFAULT '', `name` varchar(256) NOT NULL DEFAULT '',
  `resourceversion` integer unsigned NOT NULL DEFAULT 0, `value` text NOT NULL DEFAULT '');
"""


def new_id():
    return str(uuid.uuid4())


def msg(op, resource, content, source="edgecontroller", group="resource", msg_id=None, rv=None):
    header = {"msg_id": msg_id or new_id(), "timestamp": int(time.time() * 1000)}
    if rv is not None:
        header["resourceversion"] = str(rv)
    return {"header": header,
            "route": {"source": source, "group": group, "operation": op, "resource": resource},
            "content": content}


def pod(name, ns="default", rv=1, uid=None, labels=None, **extra):
    p = {"metadata": {"name": name, "namespace": ns, "uid": uid or f"uid-{name}",
                      "resourceVersion": str(rv), "labels": labels or {"app": name}},
         "spec": {"nodeName": "edge-test", "containers": [{"name": "c", "image": "nginx"}]},
         "status": {"phase": "Pending"}}
    p.update(extra)
    return p


class Node:
    """One edgecore with metamanager and the stand-ins, in its own folder."""

    def __init__(self, test, db=None, workdir=None, mm_conf=""):
        self.tmp = None
        if workdir is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="ec-mm-")
            workdir = self.tmp.name
            test.addCleanup(self.cleanup)
        self.dir = workdir
        self.db = db or os.path.join(self.dir, "edgecore.db")
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.hub_log = os.path.join(self.dir, "hub.log")
        self.edged_log = os.path.join(self.dir, "edged.log")
        self.ms_log = os.path.join(self.dir, "metaserver.log")
        self.answers = os.path.join(self.dir, "answers.json")
        self.set_answers({})
        confd = os.path.join(self.dir, "conf.d")
        os.makedirs(confd, exist_ok=True)
        with open(os.path.join(confd, "50-test.conf"), "w") as f:
            f.write(f"[core]\ncontrol-socket={self.sock}\ndata-dir={self.dir}\nstop-timeout=5\n"
                    f"node-name=edge-test\n[database]\ndata-source={self.db}\n"
                    f"[metamanager]\nenable=true\nremote-query-timeout=5\n{mm_conf}"
                    f"[fakehub]\nenable=true\nlog-file={self.hub_log}\nanswers={self.answers}\n"
                    f"[fakeedged]\nenable=true\nlog-file={self.edged_log}\n"
                    f"[fakemetaserver]\nenable=true\nlog-file={self.ms_log}\n")
        self.args = [BIN, "--config-dir", confd, "--plugin-dir", MM_DIR, "--plugin-dir", FAKES]
        self.proc = None
        self.env = None   # the daemon's environment; None: this one's
        self.out_path = os.path.join(self.dir, "edgecore.log")
        test.addCleanup(self.shutdown_check, test)

    def set_answers(self, answers):
        with open(self.answers + ".tmp", "w") as f:
            json.dump(answers, f)
        os.replace(self.answers + ".tmp", self.answers)

    def start(self, expect_up=True):
        out = open(self.out_path, "a")
        self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        out.close()
        deadline = time.time() + 20
        while time.time() < deadline:
            if os.path.exists(self.sock):
                try:
                    if self.ctl("members").startswith("ok"):
                        return self
                except OSError:
                    pass
            if self.proc.poll() is not None:
                if expect_up:
                    raise AssertionError("edgecore exited:\n" + self.output())
                return self
            time.sleep(0.05)
        raise AssertionError("edgecore did not come up:\n" + self.output())

    def output(self):
        with open(self.out_path) as f:
            return f.read()

    def ctl(self, command, timeout=15):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            s.sendall(command.encode() + b"\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.decode()

    def send(self, m, module="metamanager"):
        r = self.ctl(f"send {module} " + json.dumps(m))
        assert r.startswith("ok"), r
        return m["header"]["msg_id"]

    def call(self, m, timeout_ms=8000):
        """A sync call to metamanager; returns (reply dict or None, seconds)."""
        t0 = time.monotonic()
        r = self.ctl(f"call metamanager {timeout_ms} " + json.dumps(m), timeout=timeout_ms / 1000 + 5)
        dt = time.monotonic() - t0
        if not r.startswith("ok"):
            return None, dt, r
        return json.loads(r.split("\n", 1)[1]), dt, r

    def connect(self, up=True):
        self.send(msg("fake-connect" if up else "fake-disconnect", "node/connection", None,
                      source="test", group="hub"), module="websocket")

    def logged(self, path):
        try:
            with open(path) as f:
                # a line still being written (no newline yet) is read next time
                return [json.loads(line) for line in f if line.endswith("\n") and line.strip()]
        except FileNotFoundError:
            return []

    def hub(self):
        return self.logged(self.hub_log)

    def wait(self, pred, what, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = pred()
            if v:
                return v
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}\n--- log:\n{self.output()[-3000:]}")

    def reply_to(self, msg_id, timeout=10):
        """The message metamanager sent to the cloud whose parent is msg_id."""
        return self.wait(lambda: next((m for m in self.hub()
                                       if m["header"].get("parent_msg_id") == msg_id), None),
                         f"a reply to {msg_id}", timeout)

    def sql(self, query, *args):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return con.execute(query, args).fetchall()
        finally:
            con.close()

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)

    def stop(self):
        self.kill(signal.SIGTERM)
        return self.proc.returncode

    def shutdown_check(self, test):
        """Stops a running node with SIGTERM: it must exit cleanly, without
        sanitizer reports (the ASan+UBSan CI build runs this test too)."""
        if self.proc and self.proc.poll() is None:
            self.kill(signal.SIGTERM)
            test.assertEqual(self.proc.returncode, 0, self.output()[-4000:])
        out = self.output() if os.path.exists(self.out_path) else ""
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "CRITICAL"):
            test.assertNotIn(bad, out, out[-4000:])

    def cleanup(self):
        self.kill()
        if self.tmp:
            self.tmp.cleanup()


class CloudObjects(unittest.TestCase):
    def setUp(self):
        self.node = Node(self).start()

    def insert(self, resource, content, op="insert", source="edgecontroller", rv=None):
        mid = self.node.send(msg(op, resource, content, source=source, rv=rv))
        ack = self.node.reply_to(mid)
        self.assertEqual(ack["route"]["operation"], "response", ack)
        self.assertEqual(ack["content"], "OK")
        return mid, ack

    def v2(self, key):
        rows = self.node.sql("SELECT group_version_resource, namespace, name, resource_version, "
                             "value FROM meta_v2 WHERE key=?", key)
        return rows[0] if rows else None

    def test_insert_every_kind_gets_apiversion_and_kind(self):
        n = self.node
        cases = [
            ("default/pod/nginx", pod("nginx", rv=10), "/core/v1/pods/default/nginx",
             "/v1, Resource=pods", "v1", "Pod", "default"),
            ("default/configmap/cm1", {"metadata": {"name": "cm1", "namespace": "default",
                                                    "resourceVersion": "11"}, "data": {"k": "v"}},
             "/core/v1/configmaps/default/cm1", "/v1, Resource=configmaps", "v1", "ConfigMap",
             "default"),
            ("default/secret/s1", {"metadata": {"name": "s1", "namespace": "default",
                                                "resourceVersion": "12"}, "data": {}},
             "/core/v1/secrets/default/s1", "/v1, Resource=secrets", "v1", "Secret", "default"),
            ("default/service/svc1", {"metadata": {"name": "svc1", "namespace": "default",
                                                   "resourceVersion": "13"}, "spec": {}},
             "/core/v1/services/default/svc1", "/v1, Resource=services", "v1", "Service",
             "default"),
            ("default/endpoints/svc1", {"metadata": {"name": "svc1", "namespace": "default",
                                                     "resourceVersion": "14"}, "subsets": []},
             "/core/v1/endpoints/default/svc1", "/v1, Resource=endpoints", "v1", "Endpoints",
             "default"),
            ("null/node/edge-test", {"metadata": {"name": "edge-test", "resourceVersion": "15"}},
             "/core/v1/nodes/null/edge-test", "/v1, Resource=nodes", "v1", "Node", ""),
            ("kube-node-lease/lease/edge-test",
             {"metadata": {"name": "edge-test", "namespace": "kube-node-lease",
                           "resourceVersion": "16"}},
             "/coordination.k8s.io/v1/leases/kube-node-lease/edge-test",
             "coordination.k8s.io/v1, Resource=leases", "coordination.k8s.io/v1", "Lease",
             "kube-node-lease"),
            ("default/endpointslice/svc1-abc",
             {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
              "metadata": {"name": "svc1-abc", "namespace": "default", "resourceVersion": "17"}},
             "/discovery.k8s.io/v1/endpointslices/default/svc1-abc",
             "discovery.k8s.io/v1, Resource=endpointslices", "discovery.k8s.io/v1",
             "EndpointSlice", "default"),
            ("default/deployment/web",
             {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "namespace": "default", "resourceVersion": "18"}},
             "/apps/v1/deployments/default/web", "apps/v1, Resource=deployments", "apps/v1",
             "Deployment", "default"),
        ]
        for resource, content, key, gvr, api, kind, ns in cases:
            with self.subTest(resource=resource):
                source = "dynamiccontroller" if "apiVersion" in content else "edgecontroller"
                self.insert(resource, content, source=source)
                meta = n.sql("SELECT type, value FROM meta WHERE key=?", resource)
                self.assertEqual(len(meta), 1)
                self.assertEqual(meta[0][0], resource.split("/")[1])
                self.assertEqual(json.loads(meta[0][1]), content)  # stored as received
                row = self.v2(key)
                self.assertIsNotNone(row, key)
                self.assertEqual(row[0], gvr)
                self.assertEqual(row[1], ns)
                self.assertEqual(row[3], int(content["metadata"]["resourceVersion"]))
                obj = json.loads(row[4])
                self.assertEqual((obj["apiVersion"], obj["kind"]), (api, kind))
                self.assertEqual(obj["metadata"], content["metadata"])
        # pods (and the others) went on to edged; everything to metaserver
        edged = n.wait(lambda: [m for m in n.logged(n.edged_log)
                                if m["route"]["resource"] == "default/pod/nginx"], "pod at edged")
        self.assertEqual(edged[0]["route"]["operation"], "insert")
        feed = n.wait(lambda: len(n.logged(n.ms_log)) >= len(cases) and n.logged(n.ms_log),
                      "metaserver feed")
        first = feed[0]
        self.assertEqual(first["route"]["source"], "metamanager")
        self.assertEqual(first["route"]["operation"], "insert")
        self.assertEqual(first["route"]["resource"], "default/pod/nginx")
        self.assertEqual(first["header"]["resourceversion"], "10")
        self.assertEqual(first["content"]["kind"], "Pod")

    def test_update_patch_delete(self):
        n = self.node
        self.insert("default/pod/p1", pod("p1", rv=5, uid="uid-p1"))
        self.insert("default/pod/p1", pod("p1", rv=6, uid="uid-p1", status={"phase": "Running"}),
                    op="update")
        row = self.v2("/core/v1/pods/default/p1")
        self.assertEqual(row[3], 6)
        self.assertEqual(json.loads(row[4])["status"]["phase"], "Running")
        # edged's podpatch is stored under its own key
        n.connect(False)
        reply, _, raw = n.call(msg("patch", "default/podpatch/p1", '{"status":{"phase":"Failed"}}',
                                   source="edged", group="meta"))
        self.assertEqual(reply["route"]["operation"], "error", raw)
        self.assertIn("connection lost", reply["content"])
        self.assertEqual(n.sql("SELECT value FROM meta WHERE key='default/podpatch/p1'"),
                         [('{"status":{"phase":"Failed"}}',)])
        # a node update from the cloud is not passed to edged
        self.insert("null/node/edge-test", {"metadata": {"name": "edge-test", "resourceVersion": "3"}})
        self.insert("null/node/edge-test", {"metadata": {"name": "edge-test", "resourceVersion": "4"}},
                    op="update")
        ops = [(m["route"]["operation"], m["route"]["resource"]) for m in n.logged(n.edged_log)]
        self.assertIn(("insert", "null/node/edge-test"), ops)
        self.assertNotIn(("update", "null/node/edge-test"), ops)
        # a delete of another incarnation (other uid) leaves the pod alone
        self.insert("default/pod/p1", {"metadata": {"name": "p1", "namespace": "default",
                                                    "uid": "uid-old"}}, op="delete")
        self.assertEqual(len(n.sql("SELECT 1 FROM meta WHERE key='default/pod/p1'")), 1)
        self.assertIsNotNone(self.v2("/core/v1/pods/default/p1"))
        # the right one removes pod, podpatch and meta_v2 row
        self.insert("default/pod/p1", {"metadata": {"name": "p1", "namespace": "default",
                                                    "uid": "uid-p1"}}, op="delete")
        self.assertEqual(n.sql("SELECT key FROM meta WHERE key LIKE 'default/pod%/p1'"), [])
        self.assertIsNone(self.v2("/core/v1/pods/default/p1"))
        feed = n.wait(lambda: [m for m in n.logged(n.ms_log) if m["route"]["operation"] == "delete"],
                      "delete feed")
        self.assertEqual(feed[0]["content"]["metadata"]["uid"], "uid-p1")
        # configmap delete by key
        self.insert("default/configmap/c", {"metadata": {"name": "c", "namespace": "default",
                                                         "resourceVersion": "2"}})
        self.insert("default/configmap/c", None, op="delete")
        self.assertEqual(n.sql("SELECT 1 FROM meta WHERE key='default/configmap/c'"), [])
        self.assertIsNone(self.v2("/core/v1/configmaps/default/c"))

    def test_duplicates_and_older_versions(self):
        n = self.node
        first, _ = self.insert("default/pod/d", pod("d", rv=10, status={"phase": "Running"}))
        # the same msg_id again, even with other content: acked, not applied
        m = msg("insert", "default/pod/d", pod("d", rv=99, status={"phase": "Bogus"}), msg_id=first)
        n.send(m)
        self.wait_acks(first, 2)
        # an older version, and the same version again: acked, nothing changes
        self.insert("default/pod/d", pod("d", rv=7, status={"phase": "Old"}), op="update")
        self.insert("default/pod/d", pod("d", rv=10, status={"phase": "Same"}), op="update")
        row = self.v2("/core/v1/pods/default/d")
        self.assertEqual(row[3], 10)
        self.assertEqual(json.loads(row[4])["status"]["phase"], "Running")
        value = n.sql("SELECT value FROM meta WHERE key='default/pod/d'")[0][0]
        self.assertEqual(json.loads(value)["status"]["phase"], "Running")
        # edged saw the object once
        ups = [m for m in n.logged(n.edged_log) if m["route"]["resource"] == "default/pod/d"]
        self.assertEqual(len(ups), 1)
        # delete, then a late resend of the first insert does not bring it back
        self.insert("default/pod/d", {"metadata": {"name": "d", "namespace": "default",
                                                   "uid": "uid-d"}}, op="delete")
        n.send(msg("insert", "default/pod/d", pod("d", rv=10), msg_id=first))
        self.wait_acks(first, 3)
        self.assertEqual(n.sql("SELECT 1 FROM meta WHERE key='default/pod/d'"), [])

    def wait_acks(self, msg_id, count):
        self.node.wait(lambda: len([m for m in self.node.hub()
                                    if m["header"].get("parent_msg_id") == msg_id]) >= count,
                       f"{count} acks of {msg_id}")

    def test_bad_input(self):
        n = self.node
        self.insert("default/pod/keep", pod("keep", rv=1))
        bad = [
            ("default/pod/keep", "{not json", "malformed JSON"),
            ("default/pod/keep", 42, "not a JSON object"),
            ("default/pod/keep", ["a"], "not a JSON object"),
            ("default/gizmo/g1", {"metadata": {"name": "g1"}}, "unknown resource type"),
            ("a/b/c/d", {}, "unknown resource"),
            ("default/pod/keep", {"metadata": {"name": 5}, "x": [1, 2, {"y": "\u00e9"}]}, None),
        ]
        for resource, content, text in bad[:-1]:
            with self.subTest(resource=resource, content=content):
                mid = n.send(msg("insert", resource, content))
                err = n.reply_to(mid)
                self.assertEqual(err["route"]["operation"], "error")
                self.assertEqual(err["route"]["source"], "metamanager")
                self.assertIn(text, err["content"])
                self.assertFalse([m for m in n.hub() if m["header"].get("parent_msg_id") == mid
                                  and m["content"] == "OK"])
        # a bad query type from edged gets an error reply
        reply, _, raw = n.call(msg("query", "default/gizmo", None, source="edged", group="meta"))
        self.assertEqual(reply["route"]["operation"], "error", raw)
        # nothing lost, still serving
        value = json.loads(n.sql("SELECT value FROM meta WHERE key='default/pod/keep'")[0][0])
        self.assertEqual(value["metadata"]["resourceVersion"], "1")
        self.insert("default/pod/after", pod("after", rv=2))
        self.assertIsNone(n.proc.poll())

    def test_pod_delete_needs_a_pod(self):
        n = self.node
        self.insert("default/pod/keep", pod("keep", rv=1, uid="uid-keep"))
        self.insert("default/podpatch/keep", {"metadata": {"name": "keep", "namespace": "default"}})
        # content that names no pod deletes nothing and is refused, never acked
        for content in ("garbage", None, 42, ["keep"], "[1]", "{broken", "  \"x\""):
            with self.subTest(content=content):
                mid = n.send(msg("delete", "default/pod/keep", content))
                err = n.reply_to(mid)
                self.assertEqual(err["route"]["operation"], "error", err)
                self.assertIn("cannot delete default/pod/keep", err["content"])
                self.assertFalse([m for m in n.hub() if m["header"].get("parent_msg_id") == mid
                                  and m["content"] == "OK"])
        self.assertEqual(len(n.sql("SELECT 1 FROM meta WHERE key='default/pod/keep'")), 1)
        self.assertEqual(len(n.sql("SELECT 1 FROM meta WHERE key='default/podpatch/keep'")), 1)
        self.assertIsNotNone(self.v2("/core/v1/pods/default/keep"))
        self.assertFalse([m for m in n.logged(n.edged_log) if m["route"]["operation"] == "delete"])
        # the pod as JSON text inside a string (KubeEdge's GetContentData) is a pod
        self.insert("default/pod/keep", json.dumps({"metadata": {"name": "keep", "namespace": "default",
                                                                 "uid": "uid-keep"}}), op="delete")
        self.assertEqual(n.sql("SELECT key FROM meta WHERE key LIKE 'default/pod%/keep'"), [])
        self.assertIsNone(self.v2("/core/v1/pods/default/keep"))
        self.assertIsNone(n.proc.poll())

    def test_issue9_deep_stored_object_on_delete(self):
        """issue 9: the stored object of a deleted row was parsed by json-glib
        without a depth limit (mm-write.c with_resource_version). A row
        holding 100,000 nested arrays (written by another program) stopped
        the node on its delete; now the delete is done and acked, the feed
        to metaserver says the stored text is not JSON, the node serves on."""
        n = self.node
        self.insert("default/configmap/deep", {"metadata": {"name": "deep", "namespace": "default",
                                                            "resourceVersion": "2"}})
        deep = "[" * 100000 + "]" * 100000
        con = sqlite3.connect(n.db, timeout=10)
        con.execute("UPDATE meta_v2 SET value=? WHERE key='/core/v1/configmaps/default/deep'", (deep,))
        con.commit()
        con.close()
        self.insert("default/configmap/deep", {"metadata": {"name": "deep", "namespace": "default",
                                                            "resourceVersion": "3"}}, op="delete")
        self.assertIsNone(self.v2("/core/v1/configmaps/default/deep"))
        n.wait(lambda: "nested too deeply" in n.output(), "the log line about the stored object")
        self.insert("default/configmap/after", {"metadata": {"name": "after", "namespace": "default",
                                                             "resourceVersion": "4"}})
        self.assertIsNone(n.proc.poll())

    def test_failed_write_is_never_acked(self):
        n = self.node
        n.stop()
        con = sqlite3.connect(n.db)
        con.executescript("CREATE TRIGGER fail_me BEFORE INSERT ON meta WHEN NEW.key LIKE '%fail%' "
                          "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;")
        con.close()
        n.start()
        bad = n.send(msg("insert", "default/pod/fail-me", pod("fail-me", rv=3)))
        good = n.send(msg("insert", "default/pod/fine", pod("fine", rv=4)))
        err = n.reply_to(bad)
        self.assertEqual(err["route"]["operation"], "error")
        self.assertIn("injected failure", err["content"])
        self.assertEqual(n.reply_to(good)["content"], "OK")
        time.sleep(0.3)
        self.assertFalse([m for m in n.hub() if m["header"].get("parent_msg_id") == bad
                          and m["content"] == "OK"])
        # the failed change is rolled back whole: no meta_v2 row either
        self.assertIsNone(self.v2("/core/v1/pods/default/fail-me"))
        self.assertIsNotNone(self.v2("/core/v1/pods/default/fine"))


class EdgedRequests(unittest.TestCase):
    def setUp(self):
        self.node = Node(self).start()
        for i in range(3):
            mid = self.node.send(msg("insert", f"ns{i}/pod/p{i}", pod(f"p{i}", ns=f"ns{i}", rv=i + 1)))
            self.node.reply_to(mid)
        mid = self.node.send(msg("insert", "default/configmap/cm", {
            "metadata": {"name": "cm", "namespace": "default", "resourceVersion": "5"},
            "data": {"where": "local"}}))
        self.node.reply_to(mid)

    def query(self, resource):
        return self.node.call(msg("query", resource, None, source="edged", group="meta"))

    def test_local_queries(self):
        reply, _, raw = self.query("default/pod")
        self.assertEqual(reply["route"]["operation"], "response", raw)
        self.assertEqual(reply["route"]["source"], "metamanager")
        pods = sorted(json.loads(s)["metadata"]["name"] for s in reply["content"])
        self.assertEqual(pods, ["p0", "p1", "p2"])  # all namespaces, as KubeEdge
        reply, _, _ = self.query("ns1/pod/p1")
        self.assertEqual([json.loads(s)["metadata"]["name"] for s in reply["content"]], ["p1"])
        reply, _, _ = self.query("ns1/pod/missing")
        self.assertEqual(reply["content"], [])

    def test_offline_query_is_answered_at_once(self):
        # remote types while offline: from the store, without waiting for the cloud
        reply, dt, raw = self.query("default/configmap/cm")
        self.assertEqual(reply["route"]["operation"], "response", raw)
        self.assertEqual(json.loads(reply["content"][0])["data"], {"where": "local"})
        self.assertLess(dt, 3.0)
        self.assertFalse([m for m in self.node.hub() if m["route"].get("operation") == "query"])

    def test_online_remote_query(self):
        n = self.node
        cm = {"metadata": {"name": "cm", "namespace": "default", "resourceVersion": "9"},
              "data": {"where": "cloud"}}
        n.set_answers({"query default/configmap/cm": cm})
        n.connect(True)
        n.wait(lambda: "cloud connected" in n.output(), "connected")
        request = msg("query", "default/configmap/cm", None, source="edged", group="meta")
        reply, _, raw = n.call(request)
        self.assertIsNotNone(reply, raw)
        self.assertEqual(reply["header"]["parent_msg_id"], request["header"]["msg_id"])
        self.assertEqual(reply["content"], cm)
        # it went to the cloud under a new id, and the cloud's answer was acked
        sent = [m for m in n.hub() if m["route"].get("operation") == "query"]
        self.assertEqual(len(sent), 1)
        self.assertNotEqual(sent[0]["header"]["msg_id"], request["header"]["msg_id"])
        ack = n.wait(lambda: [m for m in n.hub() if m["route"].get("operation") == "response"
                              and m["content"] == "OK"
                              and m["header"].get("parent_msg_id") == reply["header"]["msg_id"]],
                     "ack of the cloud's answer")
        self.assertTrue(ack)
        self.assertEqual(json.loads(n.sql("SELECT value FROM meta WHERE key='default/configmap/cm'")[0][0]),
                         cm)
        # the cloud fails: answered from the store
        n.set_answers({"*": "error:boom"})
        reply, dt, raw = n.call(msg("query", "default/configmap/cm", None, source="edged", group="meta"))
        self.assertEqual(json.loads(reply["content"][0])["data"], {"where": "cloud"}, raw)
        # back offline: local and immediate, nothing sent
        n.connect(False)
        n.wait(lambda: "cloud disconnected" in n.output(), "disconnected")
        before = len(n.hub())
        reply, dt, raw = n.call(msg("query", "default/configmap/cm", None, source="edged", group="meta"))
        self.assertLess(dt, 3.0)
        self.assertEqual(json.loads(reply["content"][0])["data"], {"where": "cloud"})
        self.assertEqual(len(n.hub()), before)

    def test_status_goes_up(self):
        n = self.node
        status = {"metadata": {"name": "p1", "namespace": "ns1"}, "status": {"phase": "Running"}}
        request = msg("update", "ns1/podstatus/p1", status, source="edged", group="meta")
        reply, _, raw = n.call(request)
        self.assertEqual(reply["content"], "OK", raw)
        up = n.wait(lambda: [m for m in n.hub()
                             if m["header"]["msg_id"] == request["header"]["msg_id"]], "status up")
        self.assertEqual(up[0]["content"], status)
        self.assertEqual(n.sql("SELECT type FROM meta WHERE key='ns1/podstatus/p1'"), [("podstatus",)])
        self.assertEqual(n.sql("SELECT count(*) FROM meta_v2 WHERE key LIKE '%podstatus%'"), [(0,)])
        request = msg("update", "null/nodestatus/edge-test", {"status": {"phase": "Ready"}},
                      source="edged", group="meta")
        reply, _, _ = n.call(request)
        self.assertEqual(reply["content"], "OK")
        n.wait(lambda: [m for m in n.hub() if m["header"]["msg_id"] == request["header"]["msg_id"]],
               "nodestatus up")

    def test_edged_create_goes_through_the_cloud(self):
        n = self.node
        request = msg("insert", "null/node/edge-new", {"metadata": {"name": "edge-new"}},
                      source="edged", group="meta")
        reply, dt, raw = n.call(request)
        self.assertEqual(reply["route"]["operation"], "error", raw)
        self.assertIn("connection lost", reply["content"])
        self.assertLess(dt, 3.0)
        node_obj = {"metadata": {"name": "edge-new", "resourceVersion": "77"}, "status": {}}
        n.set_answers({"insert null/node/edge-new": {"Object": node_obj, "Err": None}})
        n.connect(True)
        n.wait(lambda: "cloud connected" in n.output(), "connected")
        reply, _, raw = n.call(msg("insert", "null/node/edge-new", {"metadata": {"name": "edge-new"}},
                                   source="edged", group="meta"))
        self.assertEqual(reply["content"]["Object"], node_obj, raw)
        row = n.wait(lambda: n.sql("SELECT resource_version, value FROM meta_v2 "
                                   "WHERE key='/core/v1/nodes/null/edge-new'"), "node in meta_v2")
        self.assertEqual(row[0][0], 77)
        self.assertEqual(json.loads(row[0][1])["kind"], "Node")
        # an error ObjectResp is passed back, nothing stored
        n.set_answers({"*": {"Object": None, "Err": {"ErrStatus": {"code": 409}}}})
        reply, _, raw = n.call(msg("insert", "default/pod/px", pod("px"), source="edged", group="meta"))
        self.assertEqual(reply["content"]["Err"]["ErrStatus"]["code"], 409, raw)
        self.assertEqual(n.sql("SELECT 1 FROM meta WHERE key='default/pod/px'"), [])

    def test_podpatch_online_reaches_the_cloud_with_the_same_id(self):
        n = self.node
        answer = {"Object": pod("p1", ns="ns1", rv=50), "Err": None}
        n.set_answers({"patch ns1/podpatch/p1": answer})
        n.connect(True)
        n.wait(lambda: "cloud connected" in n.output(), "connected")
        request = msg("patch", "ns1/podpatch/p1", '{"status":{"phase":"Running"}}',
                      source="edged", group="meta")
        reply, _, raw = n.call(request)
        self.assertEqual(reply["content"], answer, raw)
        self.assertTrue([m for m in n.hub() if m["header"]["msg_id"] == request["header"]["msg_id"]])
        self.assertEqual(n.sql("SELECT value FROM meta WHERE key='ns1/podpatch/p1'"),
                         [('{"status":{"phase":"Running"}}',)])


class Lists(unittest.TestCase):
    """servicelist and endpointslist, as KubeEdge HEAD keeps them: one `meta`
    row under the message's resource, the content as received. KubeEdge
    v1.2-v1.7 split them into a row per service/endpoints for EdgeMesh;
    that went with "remove edgemesh from edgecore" (v1.8.0)."""

    def test_lists_are_one_row(self):
        n = Node(self).start()
        services = [{"metadata": {"name": f"svc{i}", "namespace": "default",
                                  "resourceVersion": str(10 + i)},
                     "spec": {"ports": [{"port": 80 + i}]}} for i in range(3)]
        endpoints = [{"metadata": {"name": f"svc{i}", "namespace": "default"},
                      "subsets": [{"addresses": [{"ip": f"10.0.0.{i}"}]}]} for i in range(2)]
        for resource, content, op in (("default/servicelist", services, "update"),
                                      ("default/endpointslist", endpoints, "update"),
                                      ("ns2/servicelist", services[:1], "insert")):
            with self.subTest(resource=resource):
                mid = n.send(msg(op, resource, content))
                ack = n.reply_to(mid)
                self.assertEqual((ack["route"]["operation"], ack["content"]), ("response", "OK"))
                rows = n.sql("SELECT type, value FROM meta WHERE key=?", resource)
                self.assertEqual(len(rows), 1)
                self.assertEqual(rows[0][0], resource.split("/")[1])
                self.assertEqual(json.loads(rows[0][1]), content)
        # no row per object, nothing in meta_v2
        self.assertEqual(n.sql("SELECT key FROM meta WHERE type IN ('service', 'endpoints')"), [])
        self.assertEqual(n.sql("SELECT count(*) FROM meta_v2"), [(0,)])
        # passed on to edged, and served back as one value
        n.wait(lambda: [m for m in n.logged(n.edged_log)
                        if m["route"]["resource"] == "default/servicelist"], "servicelist at edged")
        reply, _, raw = n.call(msg("query", "default/servicelist", None, source="edged",
                                   group="meta"))
        self.assertEqual(reply["route"]["operation"], "response", raw)
        values = sorted((json.loads(v) for v in reply["content"]), key=len)
        self.assertEqual(values, [services[:1], services])  # both namespaces, as KubeEdge
        # an update replaces the list as a whole
        mid = n.send(msg("update", "default/servicelist", services[1:]))
        n.reply_to(mid)
        self.assertEqual(json.loads(n.sql("SELECT value FROM meta WHERE key='default/servicelist'")
                                    [0][0]), services[1:])
        # a list sent as a JSON string is stored as that string's text (KubeEdge's
        # GetContentData), not split either
        mid = n.send(msg("update", "default/endpointslist", json.dumps(endpoints[:1])))
        self.assertEqual(n.reply_to(mid)["content"], "OK")
        self.assertEqual(n.sql("SELECT value FROM meta WHERE key='default/endpointslist'"),
                         [(json.dumps(endpoints[:1]),)])
        self.assertEqual(n.sql("SELECT count(*) FROM meta"), [(3,)])


SLOW_WRITER = """
CREATE TABLE slow (x integer);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400)
  INSERT INTO slow SELECT x FROM c;
CREATE TRIGGER slow_writer AFTER INSERT ON meta_v2
  BEGIN SELECT count(*) FROM slow a, slow b; END;
"""


class Backpressure(unittest.TestCase):
    """A writer made slow with a trigger (every meta_v2 insert runs a 160,000
    row join) and bursts far above a small high-water mark."""

    def slow_node(self, mm_conf):
        tmp = tempfile.TemporaryDirectory(prefix="ec-mm-bp-")
        self.addCleanup(tmp.cleanup)
        db = os.path.join(tmp.name, "edgecore.db")
        con = sqlite3.connect(db)
        con.executescript(HEAD_DDL + SLOW_WRITER)
        con.close()
        return Node(self, db=db, workdir=tmp.name, mm_conf=mm_conf).start()

    def burst(self, node, count, prefix):
        sent = []
        for i in range(count):
            m = msg("insert", f"default/pod/{prefix}-{i}", pod(f"{prefix}-{i}", rv=i + 1))
            node.send(m)
            sent.append(m)
        return sent

    def answers(self, node, sent):
        ids = {m["header"]["msg_id"]: i for i, m in enumerate(sent)}
        out = {}
        for m in node.hub():
            i = ids.get(m["header"].get("parent_msg_id"))
            if i is not None:
                out.setdefault(i, []).append(m)
        return out

    def metamanager_in(self, node):
        """metamanager's IN and QUEUED counters from the bus table."""
        for line in node.ctl("members").splitlines():
            f = line.split()
            if f and f[0] == "metamanager":
                return int(f[2]), int(f[6])
        raise AssertionError("metamanager is not on the bus")

    def test_burst_far_above_the_mark(self):
        n = self.slow_node("max-pending-writes=8\n")
        # another plugin's job holds the store's writer until the gate file
        # goes, so the whole burst reaches metamanager while nothing it
        # writes can finish: how many it holds does not depend on speed
        gate = os.path.join(n.dir, "gate")
        open(gate, "w").close()
        self.addCleanup(lambda: os.path.exists(gate) and os.unlink(gate))
        n.send(msg("fake-store-gate", "x", gate), module="websocket")
        n.wait(lambda: "queued the store gate" in n.output(), "the store gate")
        before, _ = self.metamanager_in(n)
        sent = self.burst(n, 300, "bp")
        n.wait(lambda: self.metamanager_in(n) == (before + 300, 0), "300 messages delivered")
        os.unlink(gate)
        n.wait(lambda: len(self.answers(n, sent)) == len(sent), "300 answers", timeout=120)
        answers = self.answers(n, sent)
        # every message acked exactly once, none refused, acks in sending order
        self.assertEqual(sorted(answers), list(range(300)))
        self.assertTrue(all(len(a) == 1 and a[0]["content"] == "OK" for a in answers.values()))
        index = {m["header"]["msg_id"]: i for i, m in enumerate(sent)}
        order = [index[m["header"]["parent_msg_id"]] for m in n.hub()
                 if m["content"] == "OK" and m["header"].get("parent_msg_id") in index]
        self.assertEqual(order, list(range(300)))
        self.assertEqual(n.sql("SELECT count(*) FROM meta_v2 WHERE name LIKE 'bp-%'"), [(300,)])
        self.assertEqual(n.sql("SELECT count(*) FROM meta WHERE key LIKE 'default/pod/bp-%'"),
                         [(300,)])
        # it held messages, and never had more than the mark in flight
        out = n.wait(lambda: "the database caught up" in n.output() and n.output(),
                     "the caught-up log line")
        self.assertIn("holding messages", out)
        line = next(l for l in out.splitlines() if "the database caught up" in l)
        held = int(line.split("caught up: ")[1].split()[0])
        in_flight = int(line.split("at most ")[2].split()[0])
        # everything past the mark was held while the writer was stalled
        self.assertGreaterEqual(held, 300 - 8, line)
        self.assertLessEqual(in_flight, 8, line)
        self.assertIn(" 0 refused", line)
        print(f"\n  {line.strip()}", file=sys.stderr)
        # a query sent during a burst sees every write before it
        more = self.burst(n, 40, "q")
        reply, _, raw = n.call(msg("query", "default/pod/q-39", None, source="edged",
                                   group="meta"), timeout_ms=60000)
        self.assertEqual([json.loads(v)["metadata"]["name"] for v in reply["content"]], ["q-39"],
                         raw)
        n.wait(lambda: len(self.answers(n, more)) == 40, "40 more answers", timeout=60)

    def test_held_while_other_plugins_keep_the_writer_busy(self):
        """Nothing of metamanager's own is in flight, but another plugin has
        1000 jobs queued on the store's writer: messages are held, and move
        on once those jobs are done (a no-op job queued behind them says so;
        no timer polls)."""
        n = Node(self).start()
        n.send(msg("fake-store-jobs", "x", 1000), module="websocket")
        n.wait(lambda: "queued 1000 slow store jobs" in n.output(), "the slow jobs")
        sent = self.burst(n, 20, "busy")
        n.wait(lambda: len(self.answers(n, sent)) == len(sent), "20 answers", timeout=60)
        answers = self.answers(n, sent)
        self.assertTrue(all(len(a) == 1 and a[0]["content"] == "OK" for a in answers.values()))
        out = n.wait(lambda: "the database caught up" in n.output() and n.output(),
                     "the caught-up log line")
        self.assertRegex(out, r"holding messages \(0 changes, 0 bytes not yet committed; \d+ store jobs\)")
        self.assertEqual(n.sql("SELECT count(*) FROM meta_v2 WHERE name LIKE 'busy-%'"), [(20,)])

    def test_past_the_bound_refused_never_acked_then_resent(self):
        n = self.slow_node("max-pending-writes=4\nmax-held-messages=20\n")
        sent = self.burst(n, 150, "rf")
        n.wait(lambda: len(self.answers(n, sent)) == len(sent), "150 answers", timeout=120)
        answers = self.answers(n, sent)
        refused = [i for i, a in answers.items() if a[0]["route"]["operation"] == "error"]
        acked = [i for i, a in answers.items() if a[0]["content"] == "OK"]
        self.assertTrue(refused, "nothing was refused")
        self.assertEqual(len(refused) + len(acked), 150)
        for i in refused:
            self.assertEqual(len(answers[i]), 1)
            self.assertIn("metamanager is busy", answers[i][0]["content"])
        # the refused ones are not stored, every acked one is
        names = {r[0] for r in n.sql("SELECT name FROM meta_v2")}
        self.assertEqual(names, {f"rf-{i}" for i in acked})
        # the cloud sends them again (same ids): now they are stored and acked
        for i in refused:
            n.send(sent[i])
            n.wait(lambda: len(self.answers(n, sent)[i]) == 2, f"answer to resent {i}")
        answers = self.answers(n, sent)
        self.assertTrue(all(answers[i][1]["content"] == "OK" for i in refused))
        self.assertEqual(n.sql("SELECT count(*) FROM meta_v2 WHERE name LIKE 'rf-%'"), [(150,)])
        self.assertIsNone(n.proc.poll())


class Databases(unittest.TestCase):
    def make_db(self, ddl, rows=()):
        tmp = tempfile.TemporaryDirectory(prefix="ec-mm-db-")
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "edgecore.db")
        con = sqlite3.connect(path)
        con.executescript(ddl)
        for sql, args in rows:
            con.execute(sql, args)
        con.commit()
        con.close()
        return path

    def served(self, node):
        reply, _, raw = node.call(msg("query", "default/pod", None, source="edged", group="meta"))
        self.assertEqual(reply["route"]["operation"], "response", raw)
        return sorted(json.loads(s)["metadata"]["name"] for s in reply["content"])

    def old_rows(self, v2_sql):
        p = pod("old", rv=40)
        typed = dict(p, apiVersion="v1", kind="Pod")
        return [("INSERT INTO meta VALUES (?,?,?)", ("default/pod/old", "pod", json.dumps(p))),
                (v2_sql, ("/core/v1/pods/default/old", "/v1, Resource=pods", "default", "old", 40,
                          json.dumps(typed)))]

    def test_v1_9_2_database_is_migrated_and_served(self):
        db = self.make_db(V192_DDL, self.old_rows("INSERT INTO meta_v2 VALUES (?,?,?,?,?,?)"))
        node = Node(self, db=db).start()
        node.wait(lambda: "migrated table meta_v2" in node.output(), "migration log")
        self.assertEqual(self.served(node), ["old"])
        cols = [r[1] for r in node.sql("PRAGMA table_info(meta_v2)")]
        self.assertEqual(cols, ["key", "group_version_resource", "namespace", "name",
                                "resource_version", "value"])
        self.assertEqual(node.sql("SELECT resource_version FROM meta_v2"), [(40,)])
        # an older version of the migrated object is refused
        mid = node.send(msg("update", "default/pod/old", pod("old", rv=39)))
        node.reply_to(mid)
        self.assertEqual(node.sql("SELECT resource_version FROM meta_v2"), [(40,)])

    def test_head_database_is_served(self):
        db = self.make_db(HEAD_DDL, self.old_rows("INSERT INTO meta_v2 VALUES (?,?,?,?,?,?)"))
        node = Node(self, db=db).start()
        self.assertEqual(self.served(node), ["old"])
        self.assertNotIn("migrated", node.output())

    def failing_start(self, db, expect):
        node = Node(self, db=db).start(expect_up=False)
        out = node.wait(lambda: "metamanager" in node.output() and expect in node.output()
                        and node.output(), f"an error containing {expect!r}")
        self.assertIn(db, out)
        return node

    def test_foreign_schema_is_refused(self):
        db = self.make_db("CREATE TABLE meta (id integer primary key, blob_data blob);"
                          "INSERT INTO meta VALUES (1, x'00');")
        self.failing_start(db, "table meta has columns (id, blob_data)")
        con = sqlite3.connect(db)
        self.assertEqual(con.execute("SELECT count(*) FROM meta").fetchone(), (1,))
        con.close()

    def test_corrupt_file_is_refused(self):
        tmp = tempfile.TemporaryDirectory(prefix="ec-mm-db-")
        self.addCleanup(tmp.cleanup)
        db = os.path.join(tmp.name, "edgecore.db")
        with open(db, "wb") as f:
            f.write(b"SQLite format 3\0" + os.urandom(4080))
        self.failing_start(db, "cannot open database")

    def test_unwritable_path_is_refused(self):
        tmp = tempfile.TemporaryDirectory(prefix="ec-mm-db-")
        self.addCleanup(tmp.cleanup)
        db = os.path.join(tmp.name, "a-directory.db")
        os.mkdir(db)
        self.failing_start(db, "cannot open database")


class Durability(unittest.TestCase):
    def test_kill_9_during_a_burst(self):
        tmp = tempfile.TemporaryDirectory(prefix="ec-mm-kill-")
        self.addCleanup(tmp.cleanup)
        node = Node(self, workdir=tmp.name).start()
        ids = {}
        stop = threading.Event()
        counter = iter(range(10 ** 9))

        def burst():
            while not stop.is_set():
                i = next(counter)
                m = msg("insert", f"default/pod/burst-{i}", pod(f"burst-{i}", rv=i + 1))
                try:
                    node.send(m)
                except (OSError, AssertionError):
                    return
                ids[m["header"]["msg_id"]] = f"burst-{i}"

        threads = [threading.Thread(target=burst) for _ in range(3)]
        for t in threads:
            t.start()
        node.wait(lambda: len([m for m in node.hub() if m["content"] == "OK"]) >= 1500,
                  "1500 acks", timeout=60)
        node.kill(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join()
        acked = [ids.get(m["header"].get("parent_msg_id")) for m in node.hub()
                 if m["content"] == "OK"]
        acked = [a for a in acked if a]
        self.assertGreaterEqual(len(acked), 1500)
        print(f"\n  kill -9 after {len(ids)} sent, {len(acked)} acked", file=sys.stderr)
        names = {r[0] for r in node.sql("SELECT name FROM meta_v2")}
        keys = {r[0] for r in node.sql("SELECT key FROM meta")}
        missing = [a for a in acked if a not in names or f"default/pod/{a}" not in keys]
        self.assertEqual(missing, [], f"{len(missing)} acked objects lost of {len(acked)}")
        # and the node comes back on that database and serves them
        node.start()
        reply, _, raw = node.call(msg("query", "default/pod", None, source="edged", group="meta"),
                                  timeout_ms=20000)
        served = {json.loads(s)["metadata"]["name"] for s in reply["content"]}
        self.assertTrue(set(acked) <= served)
        self.assertEqual(node.stop(), 0)


class JournalFields(unittest.TestCase):
    def journal_entry(self, sock, pred, what, timeout=15):
        """The first datagram on the fake journal socket whose fields match."""
        deadline = time.time() + timeout
        seen = []
        while time.time() < deadline:
            try:
                data = sock.recv(1 << 20)
            except socket.timeout:
                continue
            fields = {}
            for line in data.decode(errors="replace").split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields.setdefault(k, v)
            seen.append(fields)
            if pred(fields):
                return fields
        raise AssertionError(f"no journal entry with {what}; got {seen[-20:]}")

    def test_refusal_carries_the_message_id(self):
        """[core] log-target=journal: metamanager's log line about a refused
        message carries EC_MSG_ID=<its id>, RESOURCE= and EC_OPERATION=, so
        `journalctl -u edgecore EC_MSG_ID=...` finds it."""
        node = Node(self)
        path = os.path.join(node.dir, "journal")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(0.2)
        self.addCleanup(sock.close)
        with open(os.path.join(node.dir, "conf.d", "60-journal.conf"), "w") as f:
            f.write("[core]\nlog-target=journal\n")
        node.env = dict(os.environ, EDGECORE_JOURNAL_SOCKET=path)
        node.start()
        mid = node.send(msg("insert", "default/gizmo/g1", {"metadata": {"name": "g1"}}))
        err = node.reply_to(mid)
        self.assertEqual(err["route"]["operation"], "error")
        e = self.journal_entry(sock, lambda f: f.get("EC_MSG_ID") == mid, f"EC_MSG_ID={mid}")
        self.assertEqual(e["PLUGIN"], "metamanager")
        self.assertEqual(e["RESOURCE"], "default/gizmo/g1")
        self.assertEqual(e["EC_OPERATION"], "insert")
        self.assertEqual(e["SYSLOG_IDENTIFIER"], "edgecore")
        self.assertIn("unknown resource type", e["MESSAGE"])
        self.assertIn(mid, e["MESSAGE"])
        self.assertIsNone(node.proc.poll())


if __name__ == "__main__":
    unittest.main(verbosity=2)
