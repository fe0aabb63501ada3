"""Servers on 127.0.0.1 that edged's probes talk to, for test_probe_checks.py
and test_probes_tls.py: an HTTP or HTTPS server answering per path, a
server that accepts and never answers (a hanging TLS handshake), and a
minimal gRPC health server over h2c (HTTP/2 framing and HPACK literals
written by hand from RFC 7540/7541 and grpc's health.proto: grpcio and h2
are not installed). Each is started by the test and stopped at its
cleanup."""
import http.server
import os
import socket
import socketserver
import ssl
import struct
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
CERTS = os.path.join(HERE, "..", "data", "probe-tls")


class WebServer:
    """HTTP (or HTTPS with cert, one of tests/data/probe-tls) on 127.0.0.1.
    Paths: /ok 200, /fail 500, /code the settable self.code, /same
    302 to /ok, /other 302 to another host, /loop 302 to itself, /to-fail
    302 to /fail, /to-https 302 to self.https_target, /huge 200 with an
    endless body, /chunked 200 chunked, /300 a 300 without Location.
    It records (path, headers) and the TLS server names (SNI) seen."""

    def __init__(self, test, cert=None):
        self.code = 200
        self.requests = []
        self.sni = []
        self.huge_sent = 0
        self.https_target = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def reply(self, code, body=b"ok", headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                outer.requests.append((self.path, dict(self.headers)))
                p = self.path.split("?")[0]
                if p == "/ok":
                    self.reply(200)
                elif p == "/fail":
                    self.reply(500, b"broken")
                elif p == "/code":
                    self.reply(outer.code)
                elif p == "/same":
                    self.reply(302, b"", [("Location", "/ok")])
                elif p == "/other":
                    self.reply(302, b"elsewhere", [("Location", "http://other.invalid:1/x")])
                elif p == "/loop":
                    self.reply(302, b"", [("Location", "/loop")])
                elif p == "/to-fail":
                    self.reply(301, b"", [("Location", "/fail")])
                elif p == "/to-https":
                    self.reply(307, b"", [("Location", outer.https_target)])
                elif p == "/300":
                    self.reply(300, b"choices")
                elif p == "/chunked":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for part in (b"hello ", b"chunked ", b"world"):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                elif p == "/huge":
                    # an endless body: edged reads at most 10 KiB and closes
                    self.send_response(200)
                    self.send_header("Content-Length", str(1 << 40))
                    self.end_headers()
                    block = b"x" * 65536
                    try:
                        while outer.huge_sent < (256 << 20):
                            self.wfile.write(block)
                            outer.huge_sent += len(block)
                    except OSError:
                        pass
                else:
                    self.reply(404, b"no")

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128   # many probes at once (bench_probes.py)

            def get_request(self):
                sock, addr = super().get_request()
                if cert:
                    # the handshake runs in the handler's thread
                    sock = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                return sock, addr

            def handle_error(self, request, client_address):
                pass   # handshakes that fail (a plain-HTTP client) are expected

        ctx = None
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(CERTS, cert + ".crt"), os.path.join(CERTS, cert + ".key"))
            ctx.sni_callback = lambda sobj, name, c: outer.sni.append(name)
        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        test.addCleanup(self.stop)

    def paths(self):
        return [p for p, _ in self.requests]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class SilentServer:
    """Accepts connections and never sends a byte (a TLS handshake or an
    HTTP answer that never comes)."""

    def __init__(self, test):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopped = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        test.addCleanup(self.stop)

    def run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def stop(self):
        self.stopped = True
        self.sock.close()
        for c in self.conns:
            c.close()


# ---- gRPC health over h2c ------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0, 1, 3, 4, 6, 7
END_STREAM, END_HEADERS, ACK, PADDED, PRIORITY = 0x1, 0x4, 0x1, 0x8, 0x20
STATUS = {"UNKNOWN": 0, "SERVING": 1, "NOT_SERVING": 2, "SERVICE_UNKNOWN": 3}


def frame(type_, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([type_, flags]) + struct.pack(">I", stream) + payload


def hpack_literal(name, value):
    """A literal header field without indexing, new name, no Huffman
    (RFC 7541 6.2.2); names and values under 127 bytes."""
    n, v = name.encode(), value.encode()
    assert len(n) < 127 and len(v) < 127
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def health_request_service(body):
    """The service of a gRPC-framed HealthCheckRequest (field 1, string)."""
    if len(body) < 5 or body[0] != 0:
        raise ValueError("not an uncompressed gRPC message")
    (n,) = struct.unpack(">I", body[1:5])
    msg = body[5:5 + n]
    if not msg:
        return ""
    if msg[0] != 0x0A:
        raise ValueError(f"unexpected field {msg[0]:#x}")
    length, i, shift = 0, 1, 0
    while True:
        b = msg[i]
        length |= (b & 0x7F) << shift
        i += 1
        shift += 7
        if not b & 0x80:
            break
    return msg[i:i + length].decode()


def health_response(status):
    """A gRPC-framed HealthCheckResponse (field 1, enum; 0 is omitted)."""
    msg = b"" if status == 0 else bytes([0x08, status])
    return b"\x00" + struct.pack(">I", len(msg)) + msg


class GrpcHealthServer:
    """grpc.health.v1.Health/Check over h2c. self.mode: a status name
    ("SERVING", "NOT_SERVING", ...), "unimplemented" (grpc-status 12,
    trailers only) or "hang" (no answer). Records the services asked."""

    def __init__(self, test, mode="SERVING"):
        self.mode = mode
        self.services = []
        self.errors = []
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def recv_exact(self, n):
                data = b""
                while len(data) < n:
                    chunk = self.request.recv(n - len(data))
                    if not chunk:
                        raise EOFError
                    data += chunk
                return data

            def handle(self):
                try:
                    self.serve()
                except (EOFError, OSError):
                    pass
                except Exception as e:  # a protocol surprise fails the test
                    outer.errors.append(repr(e))

            def serve(self):
                if self.recv_exact(len(PREFACE)) != PREFACE:
                    raise ValueError("no HTTP/2 preface")
                self.request.sendall(frame(SETTINGS, 0, 0))
                bodies = {}
                while True:
                    hdr = self.recv_exact(9)
                    length = int.from_bytes(hdr[:3], "big")
                    type_, flags = hdr[3], hdr[4]
                    stream = int.from_bytes(hdr[5:9], "big") & 0x7FFFFFFF
                    payload = self.recv_exact(length) if length else b""
                    if type_ == SETTINGS and not flags & ACK:
                        self.request.sendall(frame(SETTINGS, ACK, 0))
                    elif type_ == PING and not flags & ACK:
                        self.request.sendall(frame(PING, ACK, 0, payload))
                    elif type_ == HEADERS:
                        bodies[stream] = b""
                    elif type_ == DATA:
                        if flags & PADDED:
                            payload = payload[1:len(payload) - payload[0]]
                        bodies[stream] = bodies.get(stream, b"") + payload
                        if flags & END_STREAM:
                            self.answer(stream, bodies.pop(stream))
                    elif type_ == GOAWAY:
                        return

            def answer(self, stream, body):
                outer.services.append(health_request_service(body))
                mode = outer.mode
                head = b"\x88" + hpack_literal("content-type", "application/grpc")   # :status 200
                if mode == "hang":
                    return
                if mode == "unimplemented":
                    self.request.sendall(frame(HEADERS, END_HEADERS | END_STREAM, stream, head
                                               + hpack_literal("grpc-status", "12")
                                               + hpack_literal("grpc-message", "unknown service")))
                    return
                self.request.sendall(frame(HEADERS, END_HEADERS, stream, head)
                                     + frame(DATA, 0, stream, health_response(STATUS[mode]))
                                     + frame(HEADERS, END_HEADERS | END_STREAM, stream,
                                             hpack_literal("grpc-status", "0")))

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        test.addCleanup(self.stop)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    """A port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
