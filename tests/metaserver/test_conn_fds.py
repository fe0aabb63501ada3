#!/usr/bin/env python3
"""metaserver's sockets: clients that open a connection per request and
close it (kept alive or not, HTTP/1.1 or 1.0, before or after reading the
answer, with a reset, over TLS) leave no file descriptor and no CLOSE-WAIT
socket behind on the node (libsoup 3.2 alone kept every kept-alive one);
kept-alive connections still serve request after request; idle, slow and
evicted connections have their descriptors freed.

Reuses the Node of test_metaserver.py (a real edgecore, seeded sqlite)."""
import http.client
import os
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_metaserver as tm  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import CLOSE_WAIT, fd_count, port_states  # noqa: E402

PATH = "/api/v1/namespaces/default/pods"
REQ11 = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
REQ10 = f"GET {PATH} HTTP/1.0\r\n\r\n".encode()
SLACK = 3    # descriptors the process may open meanwhile (sqlite, logs)


def read_answer(s, buf=None):
    """Reads one answer (headers and a Content-Length body) from a raw
    socket; buf (a bytearray) keeps what follows it, for pipelining."""
    data = buf if buf is not None else bytearray()

    def fill():
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before the answer: {bytes(data)!r}")
        data.extend(chunk)

    while b"\r\n\r\n" not in data:
        fill()
    end = data.index(b"\r\n\r\n") + 4
    head = bytes(data[:end])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(data) < end + length:
        fill()
    body = bytes(data[end:end + length])
    del data[:end + length]
    return head.split(b"\r\n", 1)[0], body


def raw_request(port, request, read=True, reset=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        s.sendall(request)
        if read:
            status, _ = read_answer(s)
            if b" 200 " not in status:
                raise AssertionError(status)
        if reset:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()


def kept_alive_client(port):
    """Python's http.client: HTTP/1.1, no Connection: close, closes after reading."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", PATH)
    r = c.getresponse()
    r.read()
    if r.status != 200 or r.getheader("Connection", "").lower() == "close":
        raise AssertionError((r.status, r.getheaders()))
    c.close()


def closing_client(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", PATH, headers={"Connection": "close"})
    r = c.getresponse()
    r.read()
    c.close()


VARIANTS = {
    "kept alive, closed after the answer": kept_alive_client,
    "Connection: close": closing_client,
    "HTTP/1.0": lambda port: raw_request(port, REQ10),
    "closed before reading the answer": lambda port: raw_request(port, REQ11, read=False),
    "reset after the answer": lambda port: raw_request(port, REQ11, reset=True),
}


def wait_back(test, node, baseline, what, timeout=60):
    """Waits (bounded) until the node's descriptors are back near baseline
    and none of its port's sockets is in CLOSE-WAIT."""
    deadline = time.time() + timeout
    while True:
        fds = fd_count(node.proc.pid)
        close_wait = port_states(node.port).count(CLOSE_WAIT)
        if fds <= baseline + SLACK and close_wait == 0:
            return
        if time.time() > deadline:
            test.fail(f"{what}: {fds} descriptors (baseline {baseline}), {close_wait} sockets in CLOSE-WAIT")
        time.sleep(0.05)


def baseline_of(node):
    """The process's descriptors once a first request has opened what it keeps."""
    kept_alive_client(node.port)
    closing_client(node.port)
    wait_back_quiet = time.time() + 10
    while port_states(node.port).count(CLOSE_WAIT) and time.time() < wait_back_quiet:
        time.sleep(0.05)
    return fd_count(node.proc.pid)


def closed_by_server(s, timeout):
    """Whether the server closes s within timeout (reads its end)."""
    s.settimeout(timeout)
    try:
        return s.recv(65536) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class PerRequestConnections(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = tm.Node(cls).start()
        cls.baseline = baseline_of(cls.node)

    def test_5000_requests_each_on_its_own_connection(self):
        for i in range(5000):
            kept_alive_client(self.node.port)
        wait_back(self, self.node, self.baseline, "5000 kept-alive connections closed by their clients")

    def test_every_way_a_client_leaves(self):
        for name, client in VARIANTS.items():
            with self.subTest(name):
                for i in range(200):
                    client(self.node.port)
                wait_back(self, self.node, self.baseline, name)

    def test_200_requests_on_one_kept_alive_connection(self):
        c = http.client.HTTPConnection("127.0.0.1", self.node.port, timeout=20)
        self.addCleanup(c.close)
        c.connect()
        sock = c.sock
        for i in range(200):
            c.request("GET", PATH)
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read()[:1], b"{")
            # http.client reconnects silently: the same socket all along
            self.assertIs(c.sock, sock, f"request {i} needed a new connection")
        # and the server holds it still (not closed, not in CLOSE-WAIT)
        self.assertFalse(closed_by_server(sock, 0.2))
        c.close()
        wait_back(self, self.node, self.baseline, "the kept-alive connection, closed")

    def test_a_burst_of_connections_waits_in_the_accept_queue(self):
        # libsoup listens with GSocket's backlog of 10: with the process
        # stopped, the kernel completes 11 handshakes and drops the other
        # SYNs (each client then retries after 1 s, 3 s, ...). With a real
        # backlog all 200 are established at once and all are answered.
        import select
        import signal
        n = 200
        os.kill(self.node.proc.pid, signal.SIGSTOP)
        socks = []
        try:
            for i in range(n):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                socks.append(s)
                s.connect_ex(("127.0.0.1", self.node.port))
            pending = list(socks)
            deadline = time.time() + 20
            established = 0
            while pending and time.time() < deadline:
                _, writable, _ = select.select([], pending, [], 0.5)
                for s in writable:
                    pending.remove(s)
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                        established += 1
                # the stopped process accepts nothing: only the queue fills
                if not writable and established:
                    break
            self.assertEqual(established, n, f"{established} of {n} connections in the accept queue")
        finally:
            os.kill(self.node.proc.pid, signal.SIGCONT)
        for s in socks:
            s.setblocking(True)
            s.settimeout(30)
            s.sendall(REQ10)
        for s in socks:
            status, _ = read_answer(s)
            self.assertIn(b" 200 ", status)
            s.close()
        wait_back(self, self.node, self.baseline, "a burst of 200 connections")

    def test_pipelined_requests_are_all_answered(self):
        s = socket.create_connection(("127.0.0.1", self.node.port), timeout=20)
        self.addCleanup(s.close)
        s.sendall(REQ11 * 5)
        buf = bytearray()
        for i in range(5):
            status, body = read_answer(s, buf)
            self.assertIn(b" 200 ", status)
        s.close()
        wait_back(self, self.node, self.baseline, "the pipelining connection, closed")


class Timeouts(unittest.TestCase):
    """Idle, slow and evicted connections: closed, and their descriptors freed."""
    IDLE_S = 2
    HEADER_S = 3

    @classmethod
    def setUpClass(cls):
        cls.node = tm.Node(cls, extra_conf=f"read-header-timeout={cls.HEADER_S}\n"
                                           f"idle-timeout={cls.IDLE_S}\n").start()
        cls.baseline = baseline_of(cls.node)

    def test_idle_kept_alive_connection_is_closed_and_freed(self):
        c = http.client.HTTPConnection("127.0.0.1", self.node.port, timeout=20)
        self.addCleanup(c.close)
        c.request("GET", PATH)
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        r.read()
        t0 = time.monotonic()
        self.assertTrue(closed_by_server(c.sock, self.IDLE_S + 60), "idle connection never closed")
        self.assertGreaterEqual(time.monotonic() - t0, self.IDLE_S - 0.1)
        wait_back(self, self.node, self.baseline, "the idle connection")

    def test_silent_slowloris_is_closed_and_freed(self):
        s = socket.create_connection(("127.0.0.1", self.node.port), timeout=20)
        self.addCleanup(s.close)
        s2 = socket.create_connection(("127.0.0.1", self.node.port), timeout=20)
        self.addCleanup(s2.close)
        s2.sendall(b"GET " + PATH.encode() + b" HTTP/1.1\r\n")   # half a request
        self.assertTrue(closed_by_server(s, self.HEADER_S + 60), "silent connection never closed")
        self.assertTrue(closed_by_server(s2, self.HEADER_S + 60), "half request never closed")
        wait_back(self, self.node, self.baseline, "the slow connections")



class Eviction(unittest.TestCase):
    CAP = 6

    @classmethod
    def setUpClass(cls):
        cls.node = tm.Node(cls, extra_conf=f"max-connections={cls.CAP}\nidle-timeout=600\n").start()
        cls.baseline = baseline_of(cls.node)

    def test_evicted_idle_connections_are_freed(self):
        """Twice the cap of kept-alive connections left idle: the oldest are
        closed to make room, their descriptors freed at once."""
        conns = []
        for i in range(self.CAP * 2):
            c = http.client.HTTPConnection("127.0.0.1", self.node.port, timeout=20)
            self.addCleanup(c.close)
            c.request("GET", PATH)
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
            conns.append(c)
            self.assertLessEqual(fd_count(self.node.proc.pid), self.baseline + self.CAP + SLACK)
        for c in conns[:self.CAP]:
            self.assertTrue(closed_by_server(c.sock, 10), "an evicted connection was not closed")
        for c in conns:
            c.close()
        wait_back(self, self.node, self.baseline, "the evicted and closed connections")


@unittest.skipUnless(tm.OPENSSL, "openssl is not installed (scripts/deps.sh)")
class Tls(unittest.TestCase):
    """Over TLS a client's close_notify comes before its end."""

    def test_tls_connections_closed_by_their_clients(self):
        pki = tempfile.mkdtemp(prefix="ec-ms-pki-")
        self.addCleanup(shutil.rmtree, pki, True)
        files = tm.Https.make_pki(self, pki)
        node = tm.Node(self, https=files).start()
        ctx = ssl.create_default_context(cafile=files["ca"])
        ctx.load_cert_chain(os.path.join(pki, "client.crt"), os.path.join(pki, "client.key"))

        def tls_client(close_notify):
            raw = socket.create_connection(("127.0.0.1", node.port), timeout=20)
            s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            s.sendall(REQ11)
            status, _ = read_answer(s)
            self.assertIn(b" 200 ", status)
            if close_notify:
                # sends close_notify (not waiting for the server's), then the end
                s.setblocking(False)
                try:
                    s.unwrap()
                except (ssl.SSLError, OSError):
                    pass
            s.close()

        tls_client(True)
        baseline = fd_count(node.proc.pid)
        for close_notify in (True, False):
            for i in range(100):
                tls_client(close_notify)
            wait_back(self, node, baseline, f"TLS connections (close_notify {close_notify})")
        # a kept-alive TLS connection still serves
        c = http.client.HTTPSConnection("127.0.0.1", node.port, context=ctx, timeout=20)
        self.addCleanup(c.close)
        c.connect()
        sock = c.sock
        for i in range(20):
            c.request("GET", PATH)
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
            self.assertIs(c.sock, sock)


if __name__ == "__main__":
    unittest.main(verbosity=2)
