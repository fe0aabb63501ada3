#!/usr/bin/env python3
"""edgehub against cloudsim, both real processes on 127.0.0.1: certificate
bootstrap from a join token, the mutual-TLS websocket, routing into a
metamanager (the fake one from tests/edgehub/fake-metamanager.c, which
stores into the shared sqlite file and acks after the commit), the offline
queue across reconnects and restarts, and bad input from the cloud."""
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import read, wait_for  # noqa: E402

BIN = os.environ["EDGECORE_BIN"]
CLOUDSIM = os.environ["CLOUDSIM_BIN"]
EDGEHUB_DIR = os.environ["EDGEHUB_PLUGIN_DIR"]
FAKE_DIR = os.environ["FAKE_PLUGIN_DIR"]
MM_DIR = os.environ["METAMANAGER_PLUGIN_DIR"]
NODE = "edge-1"
V192_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "tls-v1.9.2")


class Cloud:
    """One cloudsim process: its stdin takes commands, its record is read back."""

    def __init__(self, test, root, *args, port=0, https_port=None, name="cloud"):
        self.test = test
        self.dir = os.path.join(root, name)
        self.record_path = os.path.join(self.dir, "record.jsonl")
        self.args = ["--port", str(port)] + list(args)
        if https_port is not None:
            self.args += ["--https-port", str(https_port)]
        self.out_path = os.path.join(root, name + ".out")
        self.proc = None
        test.addCleanup(self.kill)

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.proc, self.out = harness.start_cloudsim(CLOUDSIM, self.dir, self.out_path, self.args, 15,
                                                     "cloudsim to start")
        self.conf = read(os.path.join(self.dir, "edgehub.conf"))
        self.port, self.https_port, self.token = harness.cloud_addresses(self.dir)
        return self

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def events(self, kind=None):
        return harness.cloud_events(self.dir, kind)

    def received(self):
        return [e["msg"] for e in self.events("recv")]

    def wait_event(self, pred, timeout=10, what="a cloudsim event"):
        return wait_for(lambda: [e for e in self.events() if pred(e)], timeout, what)

    def wait_connects(self, n, timeout=15):
        return wait_for(lambda: len(self.events("connect")) >= n and self.events("connect"), timeout,
                        f"{n} node connection(s)")

    def output(self):
        return read(self.out_path)

    def kill(self):
        if self.proc:
            harness.stop_process(self.proc)
            self.proc.stdin.close()
            self.out.close()
        self.proc = None


class Node:
    """One edgecore process with edgehub and the fake metamanager."""

    def __init__(self, test, root, cloud, extra="", token=None):
        self.root = root
        self.confd = os.path.join(root, "conf.d")
        os.makedirs(self.confd, exist_ok=True)
        self.sock = os.path.join(root, "ctl.sock")
        self.db = os.path.join(root, "edgecore.db")
        self.certs = os.path.join(root, "kubeedge")
        self.ca = os.path.join(self.certs, "ca", "rootCA.crt")
        self.cert = os.path.join(self.certs, "certs", "server.crt")
        self.key = os.path.join(self.certs, "certs", "server.key")
        self.log_path = os.path.join(root, "node.log")
        self.write_conf(cloud, extra, token)
        self.proc = None
        test.addCleanup(self.kill)

    def write_conf(self, cloud, extra="", token=None):
        text = (f"[core]\ncontrol-socket={self.sock}\ndata-dir={self.root}\nnode-name={NODE}\n"
                f"stop-timeout=5\n[database]\ndata-source={self.db}\n"
                f"[edgehub]\ntls-ca-file={self.ca}\ntls-cert-file={self.cert}\n"
                f"tls-private-key-file={self.key}\ntoken-file=\n"
                f"websocket-server=127.0.0.1:{cloud.port}\n"
                f"http-server=https://127.0.0.1:{cloud.https_port}\n"
                f"token={cloud.token if token is None else token}\n"
                "reconnect-backoff-initial=0.2\nreconnect-backoff-max=1\n"
                "[fake-metamanager]\nenable=true\n" + extra)
        with open(os.path.join(self.confd, "00-test.conf"), "w") as f:
            f.write(text)

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.log = open(self.log_path, "a")
        env = dict(os.environ, G_DEBUG="")
        self.proc = subprocess.Popen([BIN, "--config-dir", self.confd, "--plugin-dir", EDGEHUB_DIR,
                                      "--plugin-dir", FAKE_DIR, "--plugin-dir", MM_DIR],
                                     stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None, 20,
                 "edgecore's control socket")
        if self.proc.poll() is not None:
            raise AssertionError("edgecore exited:\n" + self.output())
        return self

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, pattern, timeout=10, count=1):
        wait_for(lambda: len(re.findall(pattern, self.output())) >= count, timeout,
                 f"log line {pattern!r} x{count}:\n" + self.output()[-3000:])

    def ctl(self, command, timeout=10):
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

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        self.log.close()
        self.proc = None
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.log.close()
        self.proc = None

    def crash(self):
        """kill -9: no stop handler runs."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()
        self.proc = None

    def stored(self):
        with sqlite3.connect(self.db, timeout=5) as db:
            return {r[0]: (r[1], r[2]) for r in db.execute("SELECT key, op, rv FROM fake_meta")}

    def uplink_rows(self):
        with sqlite3.connect(self.db, timeout=5) as db:
            return list(db.execute("SELECT seq, key, msg_id FROM edgecore_uplink ORDER BY seq"))


class Stall:
    """A server on 127.0.0.1 that takes connections and never answers:
    mode "tcp" accepts and sends nothing (the client's TLS handshake hangs),
    "tls" completes the TLS handshake with cert/key and then reads without
    answering; "forward" relays to 127.0.0.1:target until switched to
    another mode (for connections made after the switch)."""

    def __init__(self, test, mode, cert=None, key=None, target=None):
        self.mode = mode
        self.target = target
        self.ctx = None
        if cert:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert, key)
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.accepted = 0
        self.requests = 0    # connections that sent bytes after the TLS handshake ("tls")
        self.held = []
        self.closing = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()
        test.addCleanup(self.close)

    def serve(self):
        while not self.closing:
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)
            threading.Thread(target=self.handle, args=(conn, self.mode), daemon=True).start()

    def handle(self, conn, mode):
        try:
            if mode == "forward":
                up = socket.create_connection(("127.0.0.1", self.target))
                self.held.append(up)
                threading.Thread(target=self.pipe, args=(up, conn), daemon=True).start()
                self.pipe(conn, up)
                return
            if mode in ("tls", "flood"):
                conn = self.ctx.wrap_socket(conn, server_side=True)
                self.held.append(conn)
                if conn.recv(4096):
                    self.requests += 1
            if mode == "flood":
                # a chunked answer whose chunk-size line never ends
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;")
                self.flooded = 0
                while self.flooded < (64 << 20):
                    conn.sendall(b"x" * 65536)
                    self.flooded += 65536
                return
            while conn.recv(4096):
                pass
        except OSError:
            pass

    @staticmethod
    def pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def wait_accepted(self, n, timeout=20):
        wait_for(lambda: self.accepted >= n, timeout, f"{n} connection(s) to the stalled server")

    def close(self):
        self.closing = True
        self.lsock.close()
        for s in self.held:
            try:
                s.close()
            except OSError:
                pass


def openssl(*args, cwd=None):
    subprocess.run(["openssl"] + list(args), check=True, cwd=cwd, capture_output=True)


def issue_cert(work, ca_crt, ca_key, crt, key, subject, start=None, end=None, days=None):
    """A client certificate made with the openssl tool: a new P-256 key,
    subject, clientAuth, signed by ca_crt/ca_key, valid [start, end] (as
    YYYYMMDDHHMMSSZ) or for days from now."""
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, "index.txt"), "w"):
        pass
    with open(os.path.join(work, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nrand_serial=yes\n"
                "default_md=sha256\npolicy=p\nunique_subject=no\nx509_extensions=ext\n"
                "[p]\ncommonName=supplied\norganizationName=optional\n"
                "[ext]\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n")
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
    csr = os.path.join(work, "req.csr")
    openssl("req", "-new", "-key", key, "-subj", subject, "-out", csr)
    span = ["-startdate", start, "-enddate", end] if start else ["-days", str(days)]
    openssl("ca", "-batch", "-config", "ca.cnf", "-cert", ca_crt, "-keyfile", ca_key, "-in", csr,
            "-out", crt, "-notext", *span, cwd=work)


def make_ca(work, name):
    os.makedirs(work, exist_ok=True)
    crt, key = os.path.join(work, name + ".crt"), os.path.join(work, name + ".key")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", crt, "-subj", "/CN=" + name, "-days", "365")
    return crt, key


def server_cert(work, ca_crt, ca_key):
    """A server certificate for 127.0.0.1 signed by ca_crt/ca_key, which
    the node's check of the cloud accepts."""
    os.makedirs(work, exist_ok=True)
    crt, key, csr = (os.path.join(work, n) for n in ("server.crt", "server.key", "server.csr"))
    ext = os.path.join(work, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n")
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
    openssl("req", "-new", "-key", key, "-subj", "/CN=127.0.0.1", "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
            "-days", "2", "-extfile", ext, "-out", crt)
    return crt, key


def pod(name, rv, msg_id=None):
    m = {"header": {"resourceversion": str(rv)},
         "route": {"source": "edgecontroller", "group": "resource", "operation": "insert",
                   "resource": f"default/pod/{name}"},
         "content": {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                                  "resourceVersion": str(rv)},
                     "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "pause"}]}}}
    if msg_id:
        m["header"]["msg_id"] = msg_id
    return json.dumps(m)


def edge_msg(op, resource, content, source="edged", group="meta", msg_id=None):
    m = {"header": {"msg_id": msg_id or f"edge-{time.time_ns()}", "timestamp": int(time.time() * 1000)},
         "route": {"source": source, "group": group, "operation": op, "resource": resource},
         "content": content}
    return json.dumps(m)


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ec-edgehub-")
        self.addCleanup(self.tmp.cleanup)
        self.root = self.tmp.name

    def joined(self, *cloud_args, extra=""):
        cloud = Cloud(self, self.root, *cloud_args).start()
        node = Node(self, self.root, cloud, extra).start()
        cloud.wait_connects(1)
        node.wait_log(r"fake-metamanager: cloud_connected")
        return cloud, node

    def acked(self, cloud, msg_id):
        return [m for m in cloud.received()
                if m["route"].get("operation") == "response" and m["header"].get("parent_msg_id") == msg_id]


class Join(Base):
    def test_bootstrap_connect_exchange(self):
        cloud, node = self.joined()
        # bootstrap: token accepted, CSR subject per KubeEdge HEAD, files and modes
        csr = cloud.events("csr")
        self.assertEqual(csr[0]["status"], 200)
        self.assertEqual(csr[0]["node"], NODE)
        self.assertIn("CN=system:node:edge-1", csr[0]["subject"])
        self.assertIn("O=system:nodes", csr[0]["subject"])
        self.assertEqual(stat.S_IMODE(os.stat(node.key).st_mode), 0o600)
        self.assertIn("BEGIN EC PRIVATE KEY", read(node.key))
        self.assertIn("BEGIN CERTIFICATE", read(node.cert))
        self.assertEqual(read(node.ca), read(os.path.join(cloud.dir, "ca.crt")))
        # the websocket: URL, headers, client certificate, no extensions
        conn = cloud.events("connect")[0]
        self.assertEqual(conn["path"], f"/e632aba927ea4ac2b575ec1603d56f10/{NODE}/events")
        self.assertEqual(conn["node_id"], NODE)
        self.assertEqual(conn["project_id"], "e632aba927ea4ac2b575ec1603d56f10")
        self.assertEqual(conn["connection_use"], "msg")
        self.assertIn("CN=system:node:edge-1", conn["subject"])
        self.assertEqual(conn["extensions"], 0)
        # the first frame is the keepalive, a text frame ending in a newline
        first = cloud.wait_event(lambda e: e["event"] == "recv")[0]
        self.assertEqual(first["opcode"], 1)
        self.assertTrue(first["trailing_newline"])
        self.assertEqual(first["msg"]["route"], {"source": "websocket", "group": "resource",
                                                  "operation": "keepalive", "resource": "node"})
        self.assertEqual(first["msg"]["content"], "ping")

        # cloud -> metamanager: stored, then acked with the parent id
        cloud.cmd("send " + pod("nginx", 11, msg_id="pod-msg-1"))
        wait_for(lambda: self.acked(cloud, "pod-msg-1"), 10, "the ack of pod-msg-1")
        ack = self.acked(cloud, "pod-msg-1")[0]
        self.assertEqual(ack["content"], "OK")
        self.assertEqual(ack["route"]["resource"], "default/pod/nginx")
        self.assertEqual(node.stored()["default/pod/nginx"], ("insert", "11"))

        # edge -> cloud from any plugin (here the control socket), and the cloud's OK back
        out = node.ctl("send websocket " + edge_msg("update", "default/nodestatus/edge-1",
                                                    {"Status": {"phase": "Running"}}, msg_id="ns-1"))
        self.assertTrue(out.startswith("ok"), out)
        cloud.wait_event(lambda e: e["event"] == "recv" and e["msg"]["header"]["msg_id"] == "ns-1")
        node.wait_log(r"fake-metamanager: got response for ns-1")

        # a sync call through edgehub gets the cloud's reply
        out = node.ctl("call websocket 5000 " + edge_msg("insert", "default/event/e1", {"k": 1}))
        self.assertTrue(out.startswith("ok"), out)
        self.assertIn('"operation":"response"', out)

        # restart: the certificates exist, no second bootstrap
        self.assertEqual(node.stop(), 0)
        node.start()
        cloud.wait_connects(2)
        self.assertEqual(len(cloud.events("csr")), 1)
        self.assertEqual(len([e for e in cloud.events("http") if e["path"] == "/ca.crt"]), 1)

    def test_wrong_ca_hash_refused(self):
        cloud = Cloud(self, self.root, "--bad-ca-hash").start()
        node = Node(self, self.root, cloud).start()
        node.wait_log(r"does not match the join token")
        # retried, but said once
        wait_for(lambda: len([e for e in cloud.events("http") if e["path"] == "/ca.crt"]) >= 3, 15,
                 "three attempts")
        self.assertEqual(len(re.findall(r"WARNING.*does not match the join token", node.output())), 1)
        self.assertFalse(os.path.exists(node.ca))
        self.assertFalse(os.path.exists(node.cert))
        self.assertFalse(os.path.exists(node.key))
        self.assertEqual(cloud.events("csr"), [])

    def test_invalid_token(self):
        cloud = Cloud(self, self.root).start()
        node = Node(self, self.root, cloud, token="not-a-token").start()
        node.wait_log(r"invalid join token: expected <ca-hash>\.<jwt-header>")
        self.assertFalse(os.path.exists(node.cert))

    def test_expired_token(self):
        cloud = Cloud(self, self.root, "--token-ttl", "-60").start()
        node = Node(self, self.root, cloud).start()
        node.wait_log(r"the join token expired at")
        self.assertFalse(os.path.exists(node.cert))
        self.assertEqual(cloud.events("csr"), [])

    def test_token_refused_by_cloud(self):
        cloud = Cloud(self, self.root).start()
        cloud.cmd("refuse-token on")
        node = Node(self, self.root, cloud).start()
        node.wait_log(r"the cloud answered 401 .*invalid token")
        self.assertFalse(os.path.exists(node.cert))
        # the node keeps trying; once the cloud takes the token it joins
        cloud.cmd("refuse-token off")
        cloud.wait_connects(1, timeout=15)
        self.assertTrue(os.path.exists(node.cert))

    def test_quic_is_refused_clearly(self):
        cloud = Cloud(self, self.root).start()
        node = Node(self, self.root, cloud, extra="[edgehub]\nquic-enable=true\n").start()
        node.wait_log(r"quic-enable=true is not supported: KubeEdge's QUIC transport is pre-standard")


class Reliability(Base):
    def test_resends_are_idempotent(self):
        cloud, node = self.joined("--resend-ms", "300")
        cloud.cmd("ignore-acks on")
        cloud.cmd("send " + pod("web", 5, msg_id="again"))
        wait_for(lambda: len(self.acked(cloud, "again")) >= 3, 10, "three acks of a resent message")
        self.assertGreaterEqual(len(cloud.events("resend")), 2)
        self.assertEqual(node.stored(), {"default/pod/web": ("insert", "5")})
        cloud.cmd("ignore-acks off")

    def test_ack_only_after_commit_and_delayed_cloud_replies(self):
        cloud, node = self.joined()
        cloud.cmd("ack-delay 1500")
        node.ctl("send websocket " + edge_msg("update", "default/nodestatus/edge-1", {"s": 1},
                                              msg_id="slow-1"))
        t0 = time.time()
        node.wait_log(r"got response for slow-1", timeout=10)
        self.assertGreaterEqual(time.time() - t0, 1.2)
        applied = [m for m in node.output().splitlines() if "applied insert default/pod/p1" in m]
        self.assertEqual(applied, [])
        cloud.cmd("send " + pod("p1", 1, msg_id="p1"))
        wait_for(lambda: self.acked(cloud, "p1"), 10, "ack of p1")
        # the ack came after the fake metamanager's commit log line
        self.assertIn("applied insert default/pod/p1", node.output())

    def test_drop_reconnect_and_offline_queue_in_order(self):
        cloud, node = self.joined()
        cloud.cmd("drop")
        node.wait_log(r"fake-metamanager: cloud_disconnected")
        cloud.wait_connects(2)
        node.wait_log(r"fake-metamanager: cloud_connected", count=2)

        port, https = cloud.port, cloud.https_port
        cloud.kill()
        node.wait_log(r"fake-metamanager: cloud_disconnected", count=2)
        ids = []
        for i in range(5):
            ids.append(f"ev-{i}")
            node.ctl("send websocket " + edge_msg("insert", f"default/event/ev{i}", {"i": i},
                                                  msg_id=ids[-1]))
        for i in range(3):
            node.ctl("send websocket " + edge_msg("update", "default/nodestatus/edge-1", {"n": i},
                                                  msg_id=f"st-{i}"))
        # a sync call while offline fails at once
        out = node.ctl("call websocket 5000 " + edge_msg("query", "default/configmap/c", None))
        self.assertIn('"operation":"error"', out)
        self.assertIn("cloud unreachable", out)
        # the latest status is in the store already (only one row for it)
        wait_for(lambda: [r[2] for r in node.uplink_rows() if r[1]] == ["st-2"], 5,
                 "only the latest status saved")

        # restart edgecore while the cloud is away: the queue survives
        self.assertEqual(node.stop(), 0)
        self.assertEqual([r[2] for r in node.uplink_rows()], ids + ["st-2"])
        node.start()
        node.wait_log(r"6 message\(s\) for the cloud kept from the last run")

        cloud2 = Cloud(self, self.root, port=port, https_port=https).start()
        cloud2.wait_connects(1)

        def uplinked():
            return [m["header"]["msg_id"] for m in cloud2.received()
                    if m["route"].get("operation") != "keepalive"
                    and m["route"].get("source") == "edged"]
        wait_for(lambda: len(uplinked()) >= 6, 10, "the queued messages")
        time.sleep(0.5)
        self.assertEqual(uplinked(), ids + ["st-2"])
        wait_for(lambda: node.uplink_rows() == [], 5, "the saved queue to be emptied")
        # and nothing comes twice after another restart
        self.assertEqual(node.stop(), 0)
        node.start()
        cloud2.wait_connects(2)
        time.sleep(0.5)
        self.assertEqual(uplinked(), ids + ["st-2"])

    def test_crash_while_offline_keeps_every_kind_in_order(self):
        cloud, node = self.joined()
        port, https = cloud.port, cloud.https_port
        cloud.kill()
        node.wait_log(r"fake-metamanager: cloud_disconnected")
        # several kinds: event inserts, a registration, node status (coalesced),
        # pod status, an ack of a cloud message, a twin message, a user message
        sent = [
            ("ev-a", edge_msg("insert", "default/event/a", {"i": 1}, msg_id="ev-a")),
            ("reg-1", edge_msg("insert", "default/nodestatus/edge-1", {"reg": 1}, msg_id="reg-1")),
            ("st-0", edge_msg("update", "default/nodestatus/edge-1", {"n": 0}, msg_id="st-0")),
            ("ps-1", edge_msg("update", "default/podstatus/web", {"phase": "Running"}, msg_id="ps-1")),
            ("ack-1", json.dumps({"header": {"msg_id": "ack-1", "parent_msg_id": "cloud-9",
                                             "timestamp": 1},
                                  "route": {"source": "metaManager", "group": "resource",
                                            "operation": "response", "resource": "default/pod/x"},
                                  "content": "OK"})),
            ("tw-1", edge_msg("update", "node/edge-1/device/d1/twin/edge_updated", {"t": 1},
                              source="twin", group="twin", msg_id="tw-1")),
            ("st-1", edge_msg("update", "default/nodestatus/edge-1", {"n": 1}, msg_id="st-1")),
            ("ev-b", edge_msg("delete", "default/event/b", None, msg_id="ev-b")),
            ("us-1", edge_msg("publish", "node/edge-1/user/topic", {"u": 1}, source="router_eventbus",
                              group="user", msg_id="us-1")),
        ]
        for _, m in sent:
            out = node.ctl("send websocket " + m)
            self.assertTrue(out.startswith("ok"), out)
        # st-0 is replaced by st-1 (latest status per object); everything is in
        # the table before the crash (the batch commits within milliseconds)
        expected = ["ev-a", "reg-1", "ps-1", "ack-1", "tw-1", "st-1", "ev-b", "us-1"]
        wait_for(lambda: [r[2] for r in node.uplink_rows()] == expected, 5,
                 "every queued message saved: " + repr(node.uplink_rows()))
        node.crash()
        self.assertEqual([r[2] for r in node.uplink_rows()], expected)
        node.start()
        node.wait_log(r"8 message\(s\) for the cloud kept from the last run")

        cloud2 = Cloud(self, self.root, port=port, https_port=https).start()
        cloud2.wait_connects(1)

        def uplinked():
            return [m["header"]["msg_id"] for m in cloud2.received()
                    if m["header"].get("msg_id") in {k for k, _ in sent}]
        wait_for(lambda: len(uplinked()) >= len(expected), 10, "the queued messages")
        wait_for(lambda: node.uplink_rows() == [], 5, "the saved queue to be emptied")
        self.assertEqual(uplinked(), expected)
        # the texts are the ones sent (sync false), byte for byte in meaning
        got = {m["header"]["msg_id"]: m for m in cloud2.received()}
        self.assertEqual(got["ps-1"]["content"], {"phase": "Running"})
        self.assertEqual(got["ack-1"]["header"]["parent_msg_id"], "cloud-9")
        # another crash after delivery sends nothing twice
        node.crash()
        node.start()
        cloud2.wait_connects(2)
        time.sleep(1)
        self.assertEqual(uplinked(), expected)

    def silent_cloud(self, extra):
        cloud, node = self.joined("--relay", extra="[edgehub]\n" + extra)
        wait_for(lambda: len(cloud.received()) >= 1, 5, "the first keepalive")
        cloud.cmd("silent")
        cloud.wait_event(lambda e: e["event"] == "silent" and e["connections"] == 1)
        return cloud, node, time.time()

    def test_silent_cloud_found_by_read_deadline(self):
        # idle link: only the read deadline (pings unanswered) can notice
        cloud, node, t0 = self.silent_cloud("websocket-read-deadline=2\nwebsocket-write-deadline=0\n")
        node.wait_log(r"the cloud is not answering: nothing, not even a pong, came from it for 2\.\d s "
                      r"\(websocket-read-deadline 2 s\)", timeout=6)
        took = time.time() - t0
        self.assertLess(took, 2 + 3.0, "noticed too late")
        self.assertGreaterEqual(took, 1.0, "noticed before the deadline")
        node.wait_log(r"fake-metamanager: cloud_disconnected")
        cloud.wait_connects(2, timeout=10)
        node.wait_log(r"fake-metamanager: cloud_connected", count=2)
        # the new link works both ways
        cloud.cmd("send " + pod("after-silence", 4, msg_id="as-1"))
        wait_for(lambda: self.acked(cloud, "as-1"), 10, "the ack on the new link")
        # a healthy idle link stays up well past the deadline (pongs count)
        n = len(cloud.events("connect"))
        time.sleep(3.5)
        self.assertEqual(len(cloud.events("connect")), n)

    def test_cloud_not_reading_found_by_write_deadline_and_nothing_lost(self):
        cloud, node, t0 = self.silent_cloud("websocket-read-deadline=0\nwebsocket-write-deadline=2\n")
        ids = [f"quiet-{i}" for i in range(5)]
        for i, mid in enumerate(ids):
            out = node.ctl("send websocket " + edge_msg("insert", f"default/event/q{i}", {"i": i},
                                                        msg_id=mid))
            self.assertTrue(out.startswith("ok"), out)
        t1 = time.time()
        node.wait_log(r"the cloud is not answering: a message written 2\.\d s ago is still not read "
                      r"by it \(websocket-write-deadline 2 s\)", timeout=6)
        self.assertLess(time.time() - t1, 2 + 3.0, "noticed too late")
        node.wait_log(r"5 message\(s\) the cloud did not confirm reading will be sent again")
        cloud.wait_connects(2, timeout=10)

        def got():
            return [m["header"]["msg_id"] for m in cloud.received() if m["header"]["msg_id"] in ids]
        wait_for(lambda: len(got()) >= 5, 10, "the messages written into the silent link")
        time.sleep(0.5)
        self.assertEqual(got(), ids)   # each once, in order
        wait_for(lambda: node.uplink_rows() == [], 5, "their saved copies to be deleted")


class BadInput(Base):
    def test_malformed_frames_logged_and_ignored(self):
        cloud, node = self.joined(extra="[edgehub]\nwebsocket-max-message-size=65536\n")
        cloud.cmd("raw this is not json")
        cloud.cmd('raw {"header":{"msg_id":"half-1"},"route":')
        cloud.cmd('raw {"header":{"msg_id":"typed-1","timestamp":"soon"},"route":{},"content":1}')
        cloud.cmd("binary \x01\x02garbage")
        cloud.cmd('send-noack {"header":{"msg_id":"grp-1"},"route":{"source":"x","group":"nosuchgroup",'
                  '"operation":"insert","resource":"a/b/c"},"content":null}')
        cloud.cmd('send-noack {"header":{"msg_id":"op-1"},"route":{"source":"edgecontroller",'
                  '"group":"resource","operation":"frobnicate","resource":"default/pod/x"},"content":{}}')
        cloud.cmd("big 100000")
        node.wait_log(r"dropped invalid message \(none\) from the cloud")
        node.wait_log(r"dropped invalid message half-1 from the cloud")
        node.wait_log(r"dropped invalid message typed-1 from the cloud")
        node.wait_log(r"dropped message grp-1 from the cloud: unknown group \"nosuchgroup\" \(1 so far\)")
        node.wait_log(r"message op-1 from the cloud has unknown operation \"frobnicate\" \(1 so far\)")
        node.wait_log(r"dropped message [0-9a-f-]{36} from the cloud: \d+ bytes is more than "
                      r"websocket-max-message-size")
        # still the same session, and it still works
        cloud.cmd("send " + pod("after", 3, msg_id="after-1"))
        wait_for(lambda: self.acked(cloud, "after-1"), 10, "the ack after bad frames")
        self.assertEqual(len(cloud.events("connect")), 1)
        self.assertEqual(cloud.events("disconnect"), [])
        self.assertIsNone(node.proc.poll())

    def test_one_mebibyte_message_accepted(self):
        cloud, node = self.joined()
        cloud.cmd("big 1048576")
        big = cloud.wait_event(lambda e: e["event"] == "send-big")[0]["msg_id"]
        wait_for(lambda: self.acked(cloud, big), 15, "the ack of the 1 MiB message")
        self.assertIn("default/configmap/big", node.stored())
        self.assertEqual(cloud.events("disconnect"), [])

    def tls_refused(self, node, cloud_args, pattern):
        cloud = Cloud(self, self.root, *cloud_args, name="other").start()
        node.write_conf(cloud)
        node.start()
        node.wait_log(pattern, timeout=10)
        node.wait_log(r"connecting to wss://", count=3)   # retried
        self.assertEqual(len(re.findall(pattern, node.output())), 1, "said once per cause")
        self.assertEqual(cloud.events("connect"), [])
        node.stop()
        cloud.kill()

    def test_refused_tls(self):
        cloud, node = self.joined()
        self.assertEqual(node.stop(), 0)
        cloud.kill()
        # another cloud with another CA: the node's CA does not trust it
        self.tls_refused(node, [], r"TLS refused \(chain\) at wss://.*: the cloud's certificate is not "
                                   r"signed by the cloud CA \(.*rootCA.crt\)")
        # this cloud (same CA), certificate for another host name
        c = self.same_ca_cloud("cloud2", "--server-name", "cloud.invalid")
        node.write_conf(c)
        node.start()
        pattern = (r"TLS refused \(name\) at wss://.*: the cloud's certificate is not valid for the "
                   r"address dialled, 127\.0\.0\.1: it names DNS:cloud\.invalid")
        node.wait_log(pattern)
        node.wait_log(r"connecting to wss://", count=3 + 3)
        self.assertEqual(len(re.findall(pattern, node.output())), 1)
        self.assertNotIn("TLS refused (chain)", node.output().split("registered as")[-1])
        node.stop()
        c.kill()
        # this cloud (same CA), expired certificate
        c = self.same_ca_cloud("cloud3", "--server-cert-expired")
        node.write_conf(c)
        node.start()
        node.wait_log(r"TLS refused \(expiry\) at wss://.*: the cloud's certificate has expired \(valid from")
        self.assertEqual(c.events("connect"), [])
        self.assertIsNone(node.proc.poll())

    def same_ca_cloud(self, name, *args):
        c = Cloud(self, self.root, *args, name=name)
        os.makedirs(c.dir)
        for f in ("ca.crt", "ca.key"):
            shutil.copy(os.path.join(self.root, "cloud", f), c.dir)
        return c.start()


class EndToEnd(Base):
    """cloudsim -> edgehub -> the real metamanager -> sqlite, and the ack back."""

    REAL = "[fake-metamanager]\nenable=false\n[metamanager]\nenable=true\n"

    def meta_v2(self, node, key):
        with sqlite3.connect(node.db, timeout=5) as db:
            row = db.execute("SELECT resource_version, value FROM meta_v2 WHERE key = ?",
                             (key,)).fetchone()
        return row

    def test_cloud_pod_stored_and_acked_by_metamanager(self):
        cloud = Cloud(self, self.root).start()
        node = Node(self, self.root, cloud, extra=self.REAL).start()
        cloud.wait_connects(1)
        node.wait_log(r"plugin metamanager started")
        cloud.cmd("send " + pod("web", 21, msg_id="e2e-1"))
        wait_for(lambda: self.acked(cloud, "e2e-1"), 10, "metamanager's ack of e2e-1")
        ack = self.acked(cloud, "e2e-1")[0]
        self.assertEqual(ack["content"], "OK")
        self.assertEqual(ack["route"]["resource"], "default/pod/web")
        row = self.meta_v2(node, "/core/v1/pods/default/web")
        self.assertIsNotNone(row, "pod not in meta_v2")
        self.assertEqual(row[0], 21)
        obj = json.loads(row[1])
        self.assertEqual((obj["apiVersion"], obj["kind"]), ("v1", "Pod"))  # filled in
        # the cloud resends the same message (no ack seen in time): stored once, acked again
        cloud.cmd("send " + pod("web", 21, msg_id="e2e-1"))
        wait_for(lambda: len(self.acked(cloud, "e2e-1")) >= 2, 10, "the second ack")
        # an edge query for a configmap goes to the cloud while connected
        self.assertEqual(node.stop(), 0)
        # after a restart the object is still served from the store
        node.start()
        cloud.wait_connects(2)
        self.assertIsNotNone(self.meta_v2(node, "/core/v1/pods/default/web"))


class Rotation(Base):
    def test_rotation_before_expiry(self):
        cloud, node = self.joined("--edge-cert-validity", "8")
        first = read(node.cert)
        rot = cloud.wait_event(lambda e: e["event"] == "csr" and e["rotation"], timeout=12,
                               what="a rotation request")[0]
        self.assertEqual(rot["status"], 200)
        cloud.wait_connects(2, timeout=10)
        self.assertNotEqual(read(node.cert), first)
        node.wait_log(r"rotated node certificate")


class V192(Base):
    """The node against cloudsim --profile v1.9.2: the TLS of a default
    KubeEdge v1.9.2 CloudCore (tests/data/tls-v1.9.2)."""

    def cloud(self, *args):
        return Cloud(self, self.root, "--profile", "v1.9.2", *args).start()

    def install(self, node, crt, key, ca=None):
        for src, dst in ((ca or os.path.join(V192_DIR, "ca.crt"), node.ca), (crt, node.cert), (key, node.key)):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy(src, dst)

    def round_trip(self, cloud, node, tag):
        cloud.cmd("send " + pod(tag, 7, msg_id=tag))
        wait_for(lambda: self.acked(cloud, tag), 10, "the ack of " + tag)
        self.assertEqual(node.stored()[f"default/pod/{tag}"], ("insert", "7"))

    def test_cloudsim_serves_what_v192_serves(self):
        import ssl
        cloud = self.cloud()
        with open(os.path.join(V192_DIR, "cloudcore.crt")) as f:
            served = ssl.PEM_cert_to_DER_cert(f.read())

        def dial(port, cert=True, ciphers=None, tls12=True):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if tls12:
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            if ciphers:
                ctx.set_ciphers(ciphers)
            if cert:
                ctx.load_cert_chain(os.path.join(V192_DIR, "edge-v192.crt"), os.path.join(V192_DIR, "edge-v192.key"))
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
            s.sendall(b"GET /ca.crt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            out = (s.getpeercert(binary_form=True), s.cipher(), data)
            s.close()
            return out

        # both ports serve the captured certificate, alone (no chain)
        for port in (cloud.port, cloud.https_port):
            self.assertEqual(dial(port)[0], served)
        # websocket port: TLS 1.2 only with ECDHE-ECDSA-AES128-GCM-SHA256
        self.assertEqual(dial(cloud.port)[1][0], "ECDHE-ECDSA-AES128-GCM-SHA256")
        with self.assertRaises(ssl.SSLError):
            dial(cloud.port, ciphers="ECDHE-ECDSA-AES256-GCM-SHA384")
        # ... and a client certificate is required (TLS 1.2: refused in the handshake)
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            dial(cloud.port, cert=False)
        cloud.wait_event(lambda e: e["event"] == "tls-refused" and "did not return a certificate" in e["reason"])
        # certificate port: no client certificate needed; /ca.crt is the DER CA
        cert, _, data = dial(cloud.https_port, cert=False)
        with open(os.path.join(V192_DIR, "ca.crt")) as f:
            self.assertTrue(data.startswith(b"HTTP/1.1 200"))
            self.assertTrue(data.endswith(ssl.PEM_cert_to_DER_cert(f.read())))

    def test_token_join(self):
        cloud = self.cloud()
        node = Node(self, self.root, cloud).start()
        cloud.wait_connects(1)
        node.wait_log(r"fake-metamanager: cloud_connected")
        self.assertEqual(read(node.ca), read(os.path.join(V192_DIR, "ca.crt")))
        csr = cloud.events("csr")
        self.assertEqual(csr[0]["status"], 200)
        self.assertIn("CN=system:node:edge-1", cloud.events("connect")[0]["subject"])
        self.round_trip(cloud, node, "join-1")
        self.assertNotIn("TLS refused", node.output())

    def test_v192_node_certificate_kept_without_token(self):
        cloud = self.cloud()
        node = Node(self, self.root, cloud, token="")
        self.install(node, os.path.join(V192_DIR, "edge-v192.crt"), os.path.join(V192_DIR, "edge-v192.key"))
        node.start()
        conn = cloud.wait_connects(1)[0]
        self.assertIn("CN=kubeedge.io", conn["subject"])
        self.assertIn("O=kubeEdge", conn["subject"])
        node.wait_log(r"fake-metamanager: cloud_connected")
        self.round_trip(cloud, node, "kept-1")
        self.assertEqual(cloud.events("csr"), [])
        self.assertEqual(cloud.events("http"), [])
        self.assertEqual(read(node.cert), read(os.path.join(V192_DIR, "edge-v192.crt")))
        self.assertNotIn("applying for", node.output())

    def test_v192_certificate_renewed_without_token(self):
        # a v1.9.2 node certificate near its end is renewed with mutual TLS, no
        # token: the v1.9.2 cloud checks the chain only and copies the CSR subject
        work = os.path.join(self.root, "pki")
        crt, key = os.path.join(work, "short.crt"), os.path.join(work, "short.key")
        now = time.time()
        fmt = "%Y%m%d%H%M%SZ"
        issue_cert(work, os.path.join(V192_DIR, "ca.crt"), os.path.join(V192_DIR, "ca.key"), crt, key,
                   "/O=kubeEdge/CN=kubeedge.io", start=time.strftime(fmt, time.gmtime(now - 100)),
                   end=time.strftime(fmt, time.gmtime(now + 30)))
        cloud = self.cloud()
        node = Node(self, self.root, cloud, token="")
        self.install(node, crt, key)
        node.start()
        self.assertIn("CN=kubeedge.io", cloud.wait_connects(1)[0]["subject"])
        rot = cloud.wait_event(lambda e: e["event"] == "csr" and e["rotation"], timeout=20,
                               what="a renewal")[0]
        self.assertEqual(rot["status"], 200)
        self.assertIn("CN=system:node:edge-1", rot["subject"])
        node.wait_log(r"rotated node certificate")
        try:
            self.assertIn("CN=system:node:edge-1", cloud.wait_connects(2)[1]["subject"])
        except AssertionError:
            print(node.output()[-2500:], cloud.output()[-1500:], open(cloud.record_path).read()[-3000:])
            raise
        self.assertEqual(cloud.events("http"), [e for e in cloud.events("http") if e["path"] == "/edge.crt"])

    def rebootstrap(self, crt, key, why):
        cloud = self.cloud()
        node = Node(self, self.root, cloud)
        self.install(node, crt, key)
        node.start()
        node.wait_log(why)
        node.wait_log(r"applying for a new certificate with the join token")
        conn = cloud.wait_connects(1)[0]
        self.assertIn("CN=system:node:edge-1", conn["subject"])
        self.assertEqual(len(cloud.events("csr")), 1)
        node.wait_log(r"fake-metamanager: cloud_connected")
        self.round_trip(cloud, node, "again-1")

    def test_expired_certificate_rebootstraps(self):
        work = os.path.join(self.root, "pki")
        crt, key = os.path.join(work, "old.crt"), os.path.join(work, "old.key")
        issue_cert(work, os.path.join(V192_DIR, "ca.crt"), os.path.join(V192_DIR, "ca.key"), crt, key,
                   "/O=kubeEdge/CN=kubeedge.io", start="20200101000000Z", end="20210101000000Z")
        self.rebootstrap(crt, key, r"the node certificate .*server\.crt has expired "
                                   r"\(valid from 2020-01-01T00:00:00Z to 2021-01-01T00:00:00Z\)")

    def test_foreign_certificate_rebootstraps(self):
        work = os.path.join(self.root, "pki")
        fca, fkey = make_ca(work, "Foreign")
        crt, key = os.path.join(work, "f.crt"), os.path.join(work, "f.key")
        issue_cert(work, fca, fkey, crt, key, "/O=system:nodes/CN=system:node:edge-1", days=30)
        self.rebootstrap(crt, key, r"the node certificate .*server\.crt is not signed by the cloud CA in "
                                   r".*rootCA\.crt")

    def test_client_certificate_refused_by_the_cloud(self):
        # the node trusts a bundle of the cloud's CA and another one, and holds a
        # certificate from the other: usable by its own rules, refused by the cloud
        work = os.path.join(self.root, "pki")
        fca, fkey = make_ca(work, "Other")
        crt, key = os.path.join(work, "o.crt"), os.path.join(work, "o.key")
        issue_cert(work, fca, fkey, crt, key, "/O=system:nodes/CN=system:node:edge-1", days=30)
        bundle = os.path.join(work, "bundle.crt")
        with open(bundle, "w") as f:
            f.write(read(os.path.join(V192_DIR, "ca.crt")) + read(fca))
        cloud = self.cloud()
        node = Node(self, self.root, cloud, token="")
        self.install(node, crt, key, ca=bundle)
        node.start()
        pattern = (r"TLS refused \(client certificate refused\) at wss://127\.0\.0\.1:\d+/.*: the cloud "
                   r"refused the node's client certificate \(TLS alert: unknown CA\); node certificate .*server\.crt")
        node.wait_log(pattern)
        node.wait_log(r"connecting to wss://", count=3)
        self.assertEqual(len(re.findall(pattern, node.output())), 1)
        cloud.wait_event(lambda e: e["event"] == "tls-refused" and "certificate verify failed" in e["reason"])
        self.assertEqual(cloud.events("connect"), [])

    def test_name_not_in_certificate_refused(self):
        # the v1.9.2 certificate names "DNS:" (empty) and IP 127.0.0.1: dialled as
        # localhost, the node refuses it, saying so once, and keeps trying
        cloud = self.cloud()
        node = Node(self, self.root, cloud, token="")
        self.install(node, os.path.join(V192_DIR, "edge-v192.crt"), os.path.join(V192_DIR, "edge-v192.key"))
        node.write_conf(cloud, extra=f"[edgehub]\nwebsocket-server=localhost:{cloud.port}\n", token="")
        node.start()
        pattern = (r"TLS refused \(name\) at wss://localhost:\d+/.*: the cloud's certificate is not valid "
                   r"for the address dialled, localhost: it names DNS:, IP:127\.0\.0\.1")
        node.wait_log(pattern)
        node.wait_log(r"connecting to wss://localhost", count=3)
        self.assertEqual(len(re.findall(pattern, node.output())), 1)
        self.assertEqual(cloud.events("connect"), [])
        # another cause (the cloud is gone) is logged, once; when the first
        # cause comes back it is logged again
        port, https = cloud.port, cloud.https_port
        cloud.kill()
        refused = r"WARNING.*cannot connect to wss://localhost:\d+/.*: .*(refused|Could not connect)"
        node.wait_log(refused)
        n = len(re.findall(r"connecting to wss://localhost", node.output()))
        node.wait_log(r"connecting to wss://localhost", count=n + 2)
        self.assertEqual(len(re.findall(refused, node.output())), 1)
        Cloud(self, self.root, "--profile", "v1.9.2", port=port, https_port=https, name="cloud-again").start()
        node.wait_log(pattern, count=2)
        self.assertIsNone(node.proc.poll())

class Flood(Base):
    def test_dropped_uplink_flood_is_rate_limited(self):
        """Offline, 5,000 messages for the cloud meet an uplink queue of 100:
        4,900 are dropped, and the log says so in a line or two (it once
        wrote one WARNING per message)."""
        cloud = Cloud(self, self.root).start()
        node = Node(self, self.root, cloud, "flood-uplink=5000\n")
        with open(os.path.join(node.confd, "10-flood.conf"), "w") as f:
            f.write("[edgehub]\nuplink-queue-length=100\n")
        node.start()
        cloud.wait_connects(1)
        node.wait_log(r"fake-metamanager: cloud_connected")
        cloud.kill()
        node.wait_log(r"fake-metamanager: flooded 5000 messages for the cloud")

        def member(name):
            for line in node.ctl("members").splitlines():
                cols = line.split()
                if cols and cols[0] == name:
                    return [int(c) for c in cols[2:]]   # in out dropped unroutable queued waiting
            raise AssertionError("no bus member " + name)
        # edgehub has taken every flood message off the bus
        wait_for(lambda: member("websocket")[0] >= 5000 and member("metamanager")[5] == 0
                 and member("websocket")[4] == 0, 20, "edgehub to take the flood")
        self.assertEqual(node.stop(), 0)
        out = node.output()
        drops = re.findall(r"dropped message \S+ for the cloud .*", out)
        self.assertGreaterEqual(len(drops), 1, out[-3000:])
        self.assertLessEqual(len(drops), 3, "\n".join(drops[:10]))
        # the count of all 4,900 drops is still told
        self.assertRegex(out, r"dropped message \S+ for the cloud .*; \d+ dropped so far")
        self.assertEqual(len(out.splitlines()) < 400, True, f"{len(out.splitlines())} log lines")
        # what fit in the queue is kept for the cloud
        self.assertEqual(len(node.uplink_rows()), 100)


class StopInFlight(Base):
    """SIGTERM while edgehub waits on the cloud: the certificate bootstrap
    (TLS handshake or HTTP answer that never comes), the websocket dial,
    and a certificate rotation. edgecore must exit 0 at once, with nothing
    of the stopped plugin running afterwards (under ASan, no use after
    free)."""

    def stop_cleanly(self, node):
        t0 = time.monotonic()
        rc = node.stop()
        out = node.output()
        self.assertEqual(rc, 0, out[-3000:])
        # far below the stop-timeout (5 s) of the watchdog and the handshake timeout (30 s)
        self.assertLess(time.monotonic() - t0, 5, out[-3000:])
        self.assertRegex(out, r"edgehub: stopped: ")
        self.assertNotRegex(out, r"ERROR|AddressSanitizer|runtime error|did not stop")
        return out

    def node_with_cloud(self, http_port=None, ws_port=None, extra=""):
        cloud = Cloud(self, self.root).start()
        node = Node(self, self.root, cloud, extra)
        if http_port or ws_port:
            conf = os.path.join(node.confd, "00-test.conf")
            text = read(conf)
            if http_port:
                text = text.replace(f"http-server=https://127.0.0.1:{cloud.https_port}",
                                    f"http-server=https://127.0.0.1:{http_port}")
            if ws_port:
                text = text.replace(f"websocket-server=127.0.0.1:{cloud.port}",
                                    f"websocket-server=127.0.0.1:{ws_port}")
            with open(conf, "w") as f:
                f.write(text)
        return cloud, node

    def test_stop_during_bootstrap_handshake(self):
        stall = Stall(self, "tcp")
        cloud, node = self.node_with_cloud(http_port=stall.port)
        for i in range(1, 4):
            node.start()
            stall.wait_accepted(i)
            node.wait_log(r"applying for certificates at")
            self.stop_cleanly(node)
        self.assertFalse(os.path.exists(node.cert))

    def test_stop_during_bootstrap_request(self):
        crt, key = make_ca(os.path.join(self.root, "stall"), "127.0.0.1")
        stall = Stall(self, "tls", crt, key)
        cloud, node = self.node_with_cloud(http_port=stall.port)
        for i in range(1, 4):
            node.start()
            # the handshake done, GET /ca.crt sent and waiting for its answer
            wait_for(lambda: stall.requests >= i, 20, "GET /ca.crt at the stalled server")
            self.stop_cleanly(node)
        self.assertFalse(os.path.exists(node.ca))

    def test_endless_chunk_line_is_refused(self):
        # outside input: an answer of the certificate server that never ends
        # its chunk-size line is refused early, not buffered to the end
        crt, key = make_ca(os.path.join(self.root, "flood"), "127.0.0.1")
        stall = Stall(self, "flood", crt, key)
        cloud, node = self.node_with_cloud(http_port=stall.port)
        node.start()
        node.wait_log(r"chunk-size line of the cloud's answer is longer than 1024 bytes")
        self.assertLess(getattr(stall, "flooded", 0), 64 << 20)
        self.stop_cleanly(node)
        self.assertFalse(os.path.exists(node.ca))

    def test_stop_during_dial(self):
        # certificates from the cloud, then websocket servers that never
        # shake hands ("tcp") or never answer the upgrade ("tls", with a
        # certificate from the cloud's CA, so the node sends its request)
        cloud, node = self.joined()
        self.assertEqual(node.stop(), 0)
        crt, key = server_cert(os.path.join(self.root, "stall"), os.path.join(cloud.dir, "ca.crt"),
                               os.path.join(cloud.dir, "ca.key"))
        conf = os.path.join(node.confd, "00-test.conf")
        joined_conf = read(conf)
        for mode in ("tcp", "tls"):
            stall = Stall(self, mode, crt, key)
            with open(conf, "w") as f:
                f.write(joined_conf.replace(f"websocket-server=127.0.0.1:{cloud.port}",
                                            f"websocket-server=127.0.0.1:{stall.port}"))
            for i in range(1, 4):
                node.start()
                if mode == "tcp":
                    stall.wait_accepted(i)
                else:
                    wait_for(lambda: stall.requests >= i, 20, "the websocket upgrade at the stalled server")
                self.stop_cleanly(node)

    def stop_during_rotation(self, mode):
        proxy = Stall(self, "forward")
        cloud = Cloud(self, self.root, "--edge-cert-validity", "10", name="cloud-" + mode).start()
        proxy.target = cloud.https_port
        node = Node(self, os.path.join(self.root, mode), cloud)
        conf = os.path.join(node.confd, "00-test.conf")
        text = read(conf).replace(f"http-server=https://127.0.0.1:{cloud.https_port}",
                                  f"http-server=https://127.0.0.1:{proxy.port}")
        with open(conf, "w") as f:
            f.write(text)
        node.start()
        cloud.wait_connects(1)
        # from now on the certificate server takes connections and never
        # answers: no handshake ("tcp") or no answer to GET /edge.crt ("tls");
        # a rotation already done through the relay (a slow start) is let be
        proxy.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        proxy.ctx.load_cert_chain(*server_cert(os.path.join(self.root, "stall-" + mode),
                                               os.path.join(cloud.dir, "ca.crt"),
                                               os.path.join(cloud.dir, "ca.key")))
        seen = proxy.accepted
        rotations = len(re.findall(r"rotating the node certificate", node.output()))
        proxy.mode = mode
        node.wait_log(r"rotating the node certificate", timeout=30, count=rotations + 1)
        if mode == "tcp":
            proxy.wait_accepted(seen + 1)
        else:
            wait_for(lambda: proxy.requests >= 1, 20, "GET /edge.crt at the stalled server")
        connects = len(cloud.events("connect"))
        self.stop_cleanly(node)
        self.assertNotRegex(node.output().split("rotating the node certificate")[-1], r"rotated node certificate")
        self.assertEqual(len(cloud.events("connect")), connects)

    def test_stop_during_rotation_handshake(self):
        self.stop_during_rotation("tcp")

    def test_stop_during_rotation_request(self):
        self.stop_during_rotation("tls")


if __name__ == "__main__":
    unittest.main(verbosity=2)
