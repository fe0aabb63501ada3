#!/usr/bin/env python3
"""edged's local endpoints (plugins/edged/server.c) keep connections alive
and still leave no file descriptor and no CLOSE-WAIT socket behind when
clients open a connection per request and close it, however they close
it (tests/metaserver/test_conn_fds.py does the same for metaserver).

Runs as test_server.py does (with-runtime.sh; joins containerd's network
namespace through it)."""
import http.client
import os
import socket
import struct
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_server as ts  # noqa: E402  (joins containerd's network namespace)
from harness import CLOSE_WAIT, fd_count, port_states  # noqa: E402

t = ts.t
SLACK = 3


def close_waits(port):
    return port_states(port).count(CLOSE_WAIT)


def kept_alive(port, path="/healthz"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    if r.status != 200 or r.getheader("Connection", "").lower() == "close":
        raise AssertionError((r.status, r.getheaders()))
    c.close()


def closing(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", "/healthz", headers={"Connection": "close"})
    r = c.getresponse()
    r.read()
    c.close()


def raw(port, request, read=True, reset=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        s.sendall(request)
        if read:
            data = b""
            while b"\r\n\r\nok" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            if b" 200 " not in data.split(b"\r\n", 1)[0]:
                raise AssertionError(data)
        if reset:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()


REQ11 = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
VARIANTS = {
    "kept alive, closed after the answer": kept_alive,
    "Connection: close": closing,
    "HTTP/1.0": lambda port: raw(port, b"GET /healthz HTTP/1.0\r\n\r\n"),
    "closed before reading the answer": lambda port: raw(port, REQ11, read=False),
    "reset after the answer": lambda port: raw(port, REQ11, reset=True),
}


class ServerConnections(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.tmp = tempfile.TemporaryDirectory(prefix="ec-edged-conns-")
        cls.case = unittest.TestCase()
        cls.port = ts.free_port()
        cls.cloud = t.Cloud(cls.case, cls.tmp.name)
        cls.node = t.Node(cls.case, cls.tmp.name, cls.cloud,
                          f"container-runtime-endpoint=unix://{t.SOCK}\n"
                          f"image-service-endpoint=unix://{t.SOCK}\n"
                          f"node-ip=127.0.0.1\naddress=127.0.0.1\nread-only-port={cls.port}\n")
        cls.node.wait_log(rf"local endpoints on http://127\.0\.0\.1:{cls.port}")
        kept_alive(cls.port, "/pods")
        closing(cls.port)
        cls.baseline = fd_count(cls.node.proc.pid)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.case.doCleanups()
        finally:
            cls.tmp.cleanup()

    def wait_back(self, what, timeout=60):
        pid = self.node.proc.pid
        deadline = time.time() + timeout
        while True:
            fds, cw = fd_count(pid), close_waits(self.port)
            # edged's own activity (status updates, the runtime) may hold a
            # few descriptors for a moment
            if fds <= self.baseline + SLACK and cw == 0:
                return
            if time.time() > deadline:
                self.fail(f"{what}: {fds} descriptors (baseline {self.baseline}), {cw} in CLOSE-WAIT")
            time.sleep(0.05)

    def test_1000_requests_each_on_its_own_connection(self):
        for i in range(1000):
            kept_alive(self.port)
        self.wait_back("1000 kept-alive connections closed by their clients")

    def test_every_way_a_client_leaves(self):
        for name, client in VARIANTS.items():
            with self.subTest(name):
                for i in range(100):
                    client(self.port)
                self.wait_back(name)

    def test_200_requests_on_one_kept_alive_connection(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        self.addCleanup(c.close)
        c.connect()
        sock = c.sock
        for i in range(200):
            c.request("GET", "/healthz" if i % 2 else "/pods")
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
            self.assertIs(c.sock, sock, f"request {i} needed a new connection")
        c.close()
        self.wait_back("the kept-alive connection, closed")


if __name__ == "__main__":
    unittest.main(verbosity=2)
