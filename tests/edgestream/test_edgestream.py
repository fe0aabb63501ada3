#!/usr/bin/env python3
"""edgestream against cloudsim's cloudStream, real processes on 127.0.0.1:
kube-apiserver's requests (HTTP on cloudsim's stream port) become tunnel
messages, edgecore's edgestream relays them to a stand-in for the node's
local kubelet endpoint (tests/edgestream/kubelet_standin.py) and back:
logs (plain and followed), metrics and stats, exec over WebSocket
remotecommand, bad input from the cloud, many streams at once with bounded
memory, a tunnel drop, and a v1.9.2-profile cloud."""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "edgehub"))
import harness  # noqa: E402
import remotecommand as rc  # noqa: E402
import test_edgehub as eh  # noqa: E402
from harness import read, wait_for  # noqa: E402
from kubelet_standin import Kubelet  # noqa: E402

EDGESTREAM_DIR = os.environ["EDGESTREAM_PLUGIN_DIR"]
NODE = eh.NODE


class Node(eh.Node):
    """edgecore with edgehub (for the node certificate), the fake
    metamanager and edgestream."""

    def __init__(self, test, root, cloud, tunnel_port, extra="", env=None):
        self.tunnel_port = tunnel_port
        self.env = env or {}
        certs = os.path.join(root, "kubeedge")
        extra = ("[edgestream]\nenable=true\n"
                 f"server=127.0.0.1:{tunnel_port}\n"
                 f"tls-tunnel-ca-file={certs}/ca/rootCA.crt\n"
                 f"tls-tunnel-cert-file={certs}/certs/server.crt\n"
                 f"tls-tunnel-private-key-file={certs}/certs/server.key\n" + extra)
        super().__init__(test, root, cloud, extra)

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([eh.BIN, "--config-dir", self.confd, "--plugin-dir", eh.EDGEHUB_DIR,
                                      "--plugin-dir", eh.FAKE_DIR, "--plugin-dir", eh.MM_DIR,
                                      "--plugin-dir", EDGESTREAM_DIR],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, G_DEBUG="", **self.env))
        wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None, 20,
                 "edgecore's control socket")
        if self.proc.poll() is not None:
            raise AssertionError("edgecore exited:\n" + self.output())
        return self

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss_kb(self):
        for line in read(f"/proc/{self.proc.pid}/status").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


def http_get(port, path, headers=None, timeout=20, tls=None):
    """(status, headers, body) of a GET to cloudsim's stream server, read to
    the end (chunked decoded); tls: an ssl.SSLContext for an HTTPS port."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if tls:
            s = tls.wrap_socket(s, server_hostname="127.0.0.1")
        head = f"GET {path} HTTP/1.1\r\nHost: {(headers or {}).pop('Host', '127.0.0.1:10350')}\r\n"
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n"
        s.sendall((head + "Connection: close\r\n\r\n").encode())
        buf = bytearray()
        status, _, hdrs = rc.read_http_head(s, buf)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    body = bytes(buf)
    if hdrs.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return status, hdrs, body


def dechunk(data):
    out, pos = [], 0
    while True:
        end = data.index(b"\r\n", pos)
        n = int(data[pos:end].split(b";")[0], 16)
        if n == 0:
            return b"".join(out)
        out.append(data[end + 2:end + 2 + n])
        pos = end + 2 + n + 2


class Follow:
    """A followed log read through cloudsim in a thread, counting lines."""

    def __init__(self, port, path, host="127.0.0.1:10350"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        self.buf = bytearray()
        self.status, _, self.headers = rc.read_http_head(self.sock, self.buf)
        self.data = bytearray(self.buf)
        self.ended = False
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            while not self.stop:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.data += chunk
        except OSError:
            pass
        self.ended = True

    def lines(self):
        return bytes(self.data).count(b" line ")

    def close(self):
        self.stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(10)


# In the ASan build, freed memory waits in ASan's quarantine (256 MB) before
# it is reused, so RSS says nothing about what edgestream holds; the tests
# that measure RSS run the node with no quarantine (ASan's checks stay on).
# Harmless in a build without sanitizers.
NO_QUARANTINE = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0"
                 ":thread_local_quarantine_size_kb=0"}


class Base(unittest.TestCase):
    profile = None
    node_env = None
    cloud_args = ()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="edgestream-")
        self.addCleanup(self.tmp.cleanup)
        self.kubelet = Kubelet(pods=("default/web", "kube-system/proxy"))
        self.addCleanup(self.kubelet.stop)
        args = ["--tunnel-port", "0", "--stream-kubelet-port", str(self.kubelet.port)]
        if self.profile:
            args += ["--profile", self.profile]
        args += list(self.cloud_args)
        self.cloud = eh.Cloud(self, self.tmp.name, *args).start()
        self.tunnel_port = int(re.search(r"server=127\.0\.0\.1:(\d+)",
                                         read(os.path.join(self.cloud.dir, "edgestream.conf"))).group(1))
        self.api_port = int(re.search(r"stream server https?://127\.0\.0\.1:(\d+)", self.cloud.output()).group(1))
        self.node = Node(self, self.tmp.name, self.cloud, self.tunnel_port, env=self.node_env).start()
        self.wait_tunnels(1)
        self.cloud.cmd(f"stream-pod default/web {NODE}")
        self.cloud.cmd(f"stream-pod default/ghost {NODE}")
        self.cloud.cmd(f"stream-pod kube-system/proxy {NODE}")
        wait_for(lambda: len(self.cloud.events("command")) >= 3, 10, "cloudsim to take the commands")

    def wait_tunnels(self, n, timeout=30):
        wait_for(lambda: len(self.cloud.events("stream-connect")) >= n, timeout,
                 lambda: f"{n} tunnel connection(s):\n" + self.node.output()[-3000:])

    def stream_msgs(self, dir=None, type=None):
        return [e for e in self.cloud.events("stream-msg")
                if (dir is None or e["dir"] == dir) and (type is None or e["type"] == type)]

    def logs(self, query="tailLines=3", pod="default/web/c1"):
        return http_get(self.api_port, f"/containerLogs/{pod}?{query}")

    def exec(self, command, stdin=None, pod="default/web", path="exec", **kw):
        """(stdout, stderr, Status) of a whole session, POST as kubectl's."""
        s = rc.RemoteCommand.open("127.0.0.1", self.api_port, f"/{path}/{pod}/c1", command=command,
                                  stdin=stdin is not None, method="POST", **kw)
        out, err, _ = s.run(stdin)
        return out, err, s.status


class Streams(Base):
    def test_logs(self):
        status, hdrs, body = self.logs("tailLines=3")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"c1 line 0\nc1 line 1\nc1 line 2\n")
        api = self.cloud.events("stream-api")[-1]
        self.assertEqual(api["type"], "LOGS_CONNECT")
        # the connector the edge received named the path and query the apiserver asked for
        self.assertIn("GET /containerLogs/default/web/c1?tailLines=3", self.kubelet.requests)
        # the edge ended the stream with REMOVE_CONNECT after the body
        wait_for(lambda: [m for m in self.stream_msgs("recv", "REMOVE_CONNECT") if m["id"] == api["id"]], 10,
                 "REMOVE_CONNECT from the edge")
        wait_for(lambda: self.kubelet.active == 0, 10, "the local connection to close")

    def test_logs_follow_and_client_goes_away(self):
        f = Follow(self.api_port, "/containerLogs/default/web/c1?follow=true")
        self.assertEqual(f.status, 200)
        wait_for(lambda: f.lines() >= 10, 20, "10 followed lines")
        text = bytes(f.data)
        self.assertIn(b"c1 line 0\n", dechunk_prefix(text))
        f.close()
        # cloudsim sends REMOVE_CONNECT; the edge closes the local connection and answers REMOVE_CONNECT
        api = self.cloud.events("stream-api")[-1]
        wait_for(lambda: [m for m in self.stream_msgs("send", "REMOVE_CONNECT") if m["id"] == api["id"]], 10,
                 "REMOVE_CONNECT from the cloud")
        wait_for(lambda: self.kubelet.active == 0, 10, "the local connection to close")
        wait_for(lambda: [m for m in self.stream_msgs("recv", "REMOVE_CONNECT") if m["id"] == api["id"]], 10,
                 "REMOVE_CONNECT from the edge")

    def test_metrics_and_stats(self):
        status, _, body = http_get(self.api_port, "/metrics", {"Host": "127.0.0.1:10350"})
        self.assertEqual(status, 200)
        self.assertEqual(body.decode().count("\n"), 80)
        self.assertIn('m39{node="edge-1"} 39\n', body.decode())
        status, _, body = http_get(self.api_port, "/stats/summary",
                                   {"X-Forwarded-Uri": f"/api/v1/nodes/{NODE}/proxy/stats/summary"})
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["node"]["nodeName"], "edge-1")
        self.assertEqual([e["type"] for e in self.cloud.events("stream-api")], ["METRIC_CONNECT"] * 2)
        # metrics go line by line: one DATA per line is not recorded, but the local request said identity
        status, _, body = http_get(self.api_port, "/metrics", {"Host": "10.9.9.9:10350"})
        self.assertEqual(status, 500)
        self.assertIn(b"can not find 10.9.9.9 session", body)

    def test_exec_echo_and_stdin(self):
        # ConnectIDs of two and three uvarint bytes
        self.cloud.cmd("stream-id 300")
        wait_for(lambda: [e for e in self.cloud.events("command") if e["line"] == "stream-id 300"], 10, "stream-id")
        out, err, status = self.exec(["echo", "hello", "tunnel"])
        self.assertEqual(out, b"hello tunnel\n")
        self.assertEqual(status["status"], "Success")
        s = rc.RemoteCommand.open("127.0.0.1", self.api_port, "/exec/default/web/c1", command=["cat"], stdin=True)
        payload = bytes(range(256)) * 40   # not UTF-8, IDs and data cross the TEXT frames untouched
        s.send_stdin(payload)
        s.send_stdin(b"EOF\n")
        out, err, code = s.run()
        self.assertEqual(out, payload)
        self.assertEqual(s.status["status"], "Success")
        self.assertEqual(self.cloud.events("stream-api")[-1]["type"], "EXEC_CONNECT")
        self.assertEqual([e["id"] for e in self.cloud.events("stream-api")], [300, 301])
        self.cloud.cmd("stream-id 20000")
        wait_for(lambda: [e for e in self.cloud.events("command") if e["line"] == "stream-id 20000"], 10, "stream-id")
        out, _, _ = self.exec(["echo", "three", "bytes"])
        self.assertEqual(out, b"three bytes\n")
        wait_for(lambda: {300, 301, 20000} <= {m["id"] for m in self.stream_msgs("recv", "REMOVE_CONNECT")}, 10,
                 "REMOVE_CONNECT from the edge for each")
        wait_for(lambda: self.kubelet.active == 0, 10, "the local connections to close")

    def test_exec_exit_code_and_tty_resize(self):
        out, _, status = self.exec(["exit", "3"])
        self.assertEqual(rc.exit_code(status), 3)
        self.assertEqual(status["reason"], "NonZeroExitCode")
        s = rc.RemoteCommand.open("127.0.0.1", self.api_port, "/exec/default/web/c1", command=["resize"], stdin=True, tty=True)
        s.resize(80, 24)
        s.resize(132, 43)
        s.send_stdin(b"EOF\n")
        out, _, code = s.run()
        self.assertEqual(out, b"80x24\n132x43\n")
        self.assertEqual(code, 0)

    def test_attach(self):
        out, _, status = self.exec(["echo", "attached"], path="attach")
        self.assertEqual(out, b"attached\n")
        self.assertEqual(self.cloud.events("stream-api")[-1]["type"], "ATTACH_CONNECT")

    def test_exec_missing_pod_is_an_error_on_that_stream(self):
        with self.assertRaises(rc.HandshakeError) as e:
            self.exec(["echo", "x"], pod="default/ghost")
        self.assertEqual(e.exception.status, 404)
        self.assertIn(b'pod "ghost" not found', e.exception.body)
        # a pod the cloud does not know is the cloud's own error
        with self.assertRaises(rc.HandshakeError) as e:
            self.exec(["echo", "x"], pod="default/nowhere")
        self.assertEqual(e.exception.status, 500)
        # the tunnel stays up and serves the next request
        out, _, _ = self.exec(["echo", "still", "up"])
        self.assertEqual(out, b"still up\n")
        self.assertEqual(len(self.cloud.events("stream-connect")), 1)

    def test_bad_input_from_the_cloud(self):
        port = self.kubelet.port

        def connector(path, host=f"127.0.0.1:{port}", scheme="http"):
            return json.dumps({"MessID": 900, "url": {"Scheme": scheme, "Host": host, "Path": path,
                                                      "RawQuery": ""}, "header": {}}).encode().hex()
        self.cloud.cmd("stream-raw 8407" + "03" + b"data for nobody".hex())   # DATA, unknown ConnectID 900
        self.cloud.cmd("stream-raw 8407" + "04")                             # REMOVE, unknown ConnectID
        self.cloud.cmd("stream-raw 80")                                      # truncated uvarint
        self.cloud.cmd("stream-raw 05ff")                                    # type uvarint truncated
        self.cloud.cmd("stream-raw 0109")                                    # unknown type 9
        self.cloud.cmd("stream-raw 0600" + b"{not json".hex())               # LOGS_CONNECT, bad JSON
        self.cloud.cmd("stream-raw 0700" + connector("containerLogs/x"))     # not an absolute path
        self.cloud.cmd("stream-raw 0800" + connector("/metrics", host="192.0.2.1:10350"))   # not loopback
        self.cloud.cmd("stream-raw 0901" + connector("/exec/a/b/c", scheme="https"))         # EXEC, bad scheme
        self.cloud.cmd("stream-raw 0a00" + connector("/no/such/endpoint"))    # unknown path: the local 404 text
        self.node.wait_log(r"ignoring a message from the cloud: malformed tunnel message: no valid ConnectID", 10)
        self.node.wait_log(r"no valid MessageType uvarint", 10)
        self.node.wait_log(r"unknown type 9 for ConnectID 1", 10)
        self.node.wait_log(r"stream 6: bad LOGS_CONNECT", 10)
        self.node.wait_log(r"stream 7: bad LOGS_CONNECT: connector url path \"containerLogs/x\"", 10)
        self.node.wait_log(r"stream 8: bad LOGS_CONNECT: connector url host \"192.0.2.1:10350\" is not a loopback", 10)
        self.node.wait_log(r"stream 9: bad EXEC_CONNECT: connector url scheme is \"https\"", 10)
        removed = lambda: {m["id"] for m in self.stream_msgs("recv", "REMOVE_CONNECT")}  # noqa: E731
        wait_for(lambda: {6, 7, 8, 9, 10} <= removed(), 10, "REMOVE_CONNECT for each refused stream")
        self.assertIn("GET /no/such/endpoint", self.kubelet.requests)
        self.assertNotIn(900, removed())
        # the tunnel is the same one and still works
        status, _, body = self.logs("tailLines=1")
        self.assertEqual(body, b"c1 line 0\n")
        self.assertEqual(len(self.cloud.events("stream-connect")), 1)
        self.assertEqual(len(self.cloud.events("stream-disconnect")), 0)

    def test_error_text_reaches_the_client(self):
        # a logs stream the edge cannot serve ends with its reason as the log text
        self.kubelet.stop()
        status, _, body = self.logs("tailLines=1")
        self.assertEqual(status, 200)
        self.assertIn(b"edgestream: cannot connect to the local endpoint", body)
        with self.assertRaises(rc.HandshakeError) as e:
            self.exec(["echo", "x"])
        self.assertEqual(e.exception.status, 502)
        self.assertIn(b"cannot connect to the local endpoint", e.exception.body)

    def test_close_connect_drops_the_tunnel_and_reconnects(self):
        self.cloud.cmd("stream-close-connect failed to update the node's kubelet endpoint")
        self.node.wait_log(r"the cloud sent CLOSE_CONNECT \(failed to update the node's kubelet endpoint\)", 10)
        self.wait_tunnels(2, 20)
        self.assertEqual(self.logs("tailLines=2")[2], b"c1 line 0\nc1 line 1\n")

    def test_foreign_certificate_is_refused(self):
        """The tunnel port requires a certificate of the cloud's CA: a node
        certificate from another CA is refused at the handshake, edgestream
        says so and keeps trying every 2 s; nothing reaches the session table."""
        work = os.path.join(self.tmp.name, "foreign")
        ca_crt, ca_key = eh.make_ca(work, "other-ca")
        crt, key = os.path.join(work, "node.crt"), os.path.join(work, "node.key")
        eh.issue_cert(work, ca_crt, ca_key, crt, key, f"/O=system:nodes/CN=system:node:{NODE}", days=1)
        self.node.stop()
        with open(os.path.join(self.node.confd, "50-foreign.conf"), "w") as f:
            f.write(f"[edgestream]\ntls-tunnel-cert-file={crt}\ntls-tunnel-private-key-file={key}\n")
        self.node.start()
        # (TLS 1.3: the refusal shows after the handshake, when the upgrade is written)
        self.node.wait_log(r"edgestream: cannot (connect|open) the tunnel (to )?wss://127\.0\.0\.1:\d+/v1/kubeedge/"
                           r"connect: .*trying again every 2 s", 20)
        time.sleep(5)
        self.assertEqual(len(self.cloud.events("stream-connect")), 1)   # the first node's, before the swap
        # one warning, not one every 2 s
        self.assertEqual(len(re.findall(r"WARNING edgestream: cannot (?:connect|open) the tunnel",
                                        self.node.output())), 1)

    def test_pings(self):
        wait_for(lambda: len(self.cloud.events("stream-ping")) >= 2, 20, "two pings from the edge")
        e = self.cloud.events("stream-connect")[0]
        self.assertEqual(e["node"], NODE)
        self.assertEqual(e["ip"], "127.0.0.1")
        # [edgestream] node-ip empty: the header carries the connected
        # socket's local address (not cloudsim's fallback to the peer's)
        self.assertEqual(e["internal_ip"], "127.0.0.1")

    def test_node_ip_is_sent_as_session_internal_ip(self):
        """[edgestream] node-ip set (as `edgecore join --edgenode-ip` and
        `import-config` write it from edged's nodeIP): it is the
        SessionInternalIP, the address cloudcore keys the session by."""
        self.node.stop()
        with open(os.path.join(self.node.confd, "50-ip.conf"), "w") as f:
            f.write("[edgestream]\nnode-ip=192.0.2.7\n")
        self.node.start()
        self.wait_tunnels(2)
        e = self.cloud.events("stream-connect")[1]
        self.assertEqual((e["node"], e["internal_ip"], e["ip"]), (NODE, "192.0.2.7", "192.0.2.7"))
        self.assertEqual(self.logs("tailLines=1")[2], b"c1 line 0\n")

    def test_tunnel_drop_ends_every_stream(self):
        base_fds = self.node.fds()
        follows = [Follow(self.api_port, f"/containerLogs/default/web/c{i}?follow=true") for i in range(5)]
        ex = rc.RemoteCommand.open("127.0.0.1", self.api_port, "/exec/default/web/c1", command=["cat"], stdin=True)
        ex.send_stdin(b"ping\n")
        wait_for(lambda: all(f.lines() >= 3 for f in follows), 20, "the followed lines")
        wait_for(lambda: self.kubelet.active == 6, 10, "six local connections")
        self.assertGreaterEqual(self.node.fds(), base_fds + 6)
        self.cloud.cmd("stream-drop")
        wait_for(lambda: all(f.ended for f in follows), 10, "every followed log to end")
        wait_for(lambda: self.kubelet.active == 0, 10, "every local connection to close")
        wait_for(lambda: self.node.fds() <= base_fds, 10,
                 lambda: f"edgecore's fds back to {base_fds} (now {self.node.fds()})")
        self.node.wait_log(r"tunnel to .* closed after .*: .*; ending 6 stream\(s\)", 10)
        for f in follows:
            f.close()
        ex.sock.close()
        # and it comes back within the 2 s retry
        self.wait_tunnels(2, 15)
        self.assertEqual(self.logs("tailLines=1")[2], b"c1 line 0\n")

    def test_stop_with_open_streams(self):
        """SIGTERM while streams are open: every local connection closes, the
        process exits 0 (in the ASan build: no leak, no sanitizer report)."""
        follows = [Follow(self.api_port, f"/containerLogs/default/web/c{i}?follow=true") for i in range(3)]
        ex = rc.RemoteCommand.open("127.0.0.1", self.api_port, "/exec/default/web/c1", command=["cat"], stdin=True)
        ex.send_stdin(b"hi\n")
        wait_for(lambda: all(f.lines() >= 2 for f in follows) and self.kubelet.active == 4, 20, "open streams")
        self.assertEqual(self.node.stop(), 0)
        out = self.node.output()
        self.assertNotRegex(out, r"AddressSanitizer|LeakSanitizer|runtime error|CRITICAL")
        self.assertRegex(out, r"tunnel to .* closed after .*: edgestream stopped; ending 4 stream\(s\)")
        wait_for(lambda: self.kubelet.active == 0, 10, "every local connection to close")
        wait_for(lambda: all(f.ended for f in follows), 10, "every followed log to end")
        for f in follows:
            f.close()
        ex.sock.close()


def dechunk_prefix(data):
    """The data of the complete chunks at the start of data."""
    out, pos = b"", 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return out
        n = int(data[pos:end].split(b";")[0], 16)
        if n == 0 or end + 2 + n + 2 > len(data):
            return out
        out += data[end + 2:end + 2 + n]
        pos = end + 2 + n + 2


class Load(Base):
    """Many streams, slow readers and memory (RSS measured)."""
    node_env = NO_QUARANTINE

    def test_back_pressure_when_the_cloud_does_not_read(self):
        """The cloud stops reading the tunnel while a 64 MiB log flows: the
        node stops reading that local socket (its share of the send queue is
        full) instead of buffering the log; when the cloud reads again the
        whole log arrives intact."""
        size = 64 << 20
        box = {}
        rss0 = self.node.rss_kb()
        self.cloud.cmd("stream-pause on")
        wait_for(lambda: [e for e in self.cloud.events("command") if e["line"] == "stream-pause on"], 10,
                 "the pause")
        th = threading.Thread(target=lambda: box.update(r=http_get(
            self.api_port, f"/containerLogs/default/web/flood?limitBytes={size}", timeout=120)), daemon=True)
        th.start()
        time.sleep(3)   # less than a ping interval: the tunnel stays up
        grown = self.node.rss_kb() - rss0
        self.cloud.cmd("stream-pause off")
        th.join(120)
        status, _, body = box["r"]
        self.assertEqual(status, 200)
        self.assertEqual(len(body), size)
        self.assertEqual(body[:32], b"0123456789abcdef" * 2)
        self.assertLess(grown, 4 * 1024, f"edgecore grew by {grown} kB while the cloud did not read")
        self.assertEqual(len(self.cloud.events("stream-connect")), 1)

    def test_slow_reader_holds_up_no_other_stream(self):
        # a client that never reads a 64 MiB log: its stream is stuck, others go on
        slow = socket.create_connection(("127.0.0.1", self.api_port), timeout=30)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(b"GET /containerLogs/default/web/flood?limitBytes=67108864 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(1)
        rss0 = self.node.rss_kb()
        t0 = time.time()
        for _ in range(5):
            self.assertEqual(self.logs("tailLines=2")[2], b"c1 line 0\nc1 line 1\n")
            out, _, _ = self.exec(["echo", "fast"])
            self.assertEqual(out, b"fast\n")
        self.assertLess(time.time() - t0, 60)
        self.assertLess(self.node.rss_kb() - rss0, 8 * 1024)
        slow.close()
        wait_for(lambda: self.kubelet.active == 0, 30, "the flood's local connection to close")


    def test_20_followers_and_an_exec_for_30_s_memory_comes_back(self):
        # warm up: one round of the same streams, so the allocator has its pools
        for f in [Follow(self.api_port, f"/containerLogs/default/web/w{i}?follow=true") for i in range(20)]:
            wait_for(lambda: f.lines() >= 2, 20, "warm-up lines")
            f.close()
        wait_for(lambda: self.kubelet.active == 0, 20, "warm-up streams to close")
        time.sleep(1)
        rss0 = self.node.rss_kb()
        follows = [Follow(self.api_port, f"/containerLogs/default/web/c{i}?follow=true") for i in range(20)]
        ex = rc.RemoteCommand.open("127.0.0.1", self.api_port, "/exec/default/web/c1", command=["cat"], stdin=True)
        echoed = 0
        t_end = time.time() + 30
        buf_out = b""
        while time.time() < t_end:
            ex.send_stdin(b"tick %d\n" % echoed)
            msg = ex.recv()
            self.assertEqual(msg[:1], bytes([rc.STDOUT]))
            buf_out += msg[1:]
            echoed += 1
            time.sleep(0.2)
        self.assertEqual(buf_out, b"".join(b"tick %d\n" % i for i in range(echoed)))
        counts = [f.lines() for f in follows]
        # every stream kept flowing the whole time (a line every 50 ms at the source)
        self.assertTrue(all(c >= 100 for c in counts), counts)
        ex.send_stdin(b"EOF\n")
        out, _, code = ex.run()
        self.assertEqual(ex.status["status"], "Success")
        for f in follows:
            f.close()
        wait_for(lambda: self.kubelet.active == 0, 20, "every local connection to close")
        time.sleep(1)
        rss1 = self.node.rss_kb()
        self.assertLess(rss1 - rss0, 1024, f"RSS {rss0} kB before, {rss1} kB after")


class StreamPortTLS(Base):
    """--stream-tls: the stream port speaks HTTPS as cloudcore's does."""
    cloud_args = ("--stream-tls",)

    def test_logs_over_https(self):
        import ssl
        ctx = ssl.create_default_context(cafile=os.path.join(self.cloud.dir, "ca.crt"))
        status, _, body = http_get(self.api_port, "/containerLogs/default/web/c1?tailLines=2", tls=ctx)
        self.assertEqual(status, 200)
        self.assertEqual(body, b"c1 line 0\nc1 line 1\n")
        with self.assertRaises((ssl.SSLError, ConnectionError, EOFError, ValueError)):
            http_get(self.api_port, "/containerLogs/default/web/c1?tailLines=2")   # plain HTTP is refused


class V192(Base):
    """A cloud with CloudCore v1.9.2's TLS and stream server: no ATTACH, no
    CLOSE_CONNECT, exec keyed by the Host header (the node's IP)."""
    profile = "v1.9.2"

    def test_logs_exec_metrics(self):
        self.assertEqual(self.logs("tailLines=2")[2], b"c1 line 0\nc1 line 1\n")
        out, _, status = self.exec(["echo", "old", "cloud"], headers=None)
        self.assertEqual(out, b"old cloud\n")
        status, _, body = http_get(self.api_port, "/metrics/cadvisor", {"Host": "127.0.0.1:10350"})
        self.assertEqual(status, 200)
        self.assertIn(b"m0{", body)
        status, _, _ = http_get(self.api_port, "/attach/default/web/c1")
        self.assertEqual(status, 404)
        # the node's certificate is the v1.9.2 one (CN=kubeedge.io) and was accepted on the tunnel port
        self.assertEqual(len(self.cloud.events("stream-connect")), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
