"""Kubernetes' WebSocket remotecommand protocol (v4.channel.k8s.io): the
client kubectl exec/attach is to a kubelet-style endpoint (edged's local
endpoints, cloudsim's stream port in front of edgestream's tunnel), and the
few frame helpers a test's stand-in for the kubelet needs to answer it.

The protocol: an HTTP/1.1 upgrade to WebSocket (RFC 6455) with
Sec-WebSocket-Protocol v4.channel.k8s.io; every binary message starts with
its channel: 0 stdin, 1 stdout, 2 stderr, 3 error (a metav1.Status JSON
once the command ended: status Success, or Failure with reason
NonZeroExitCode and the exit code in details.causes[reason=ExitCode]),
4 resize ({"Width":w,"Height":h}, tty only). A message holding only its
channel byte carries nothing (the server opens each channel with one).

Usage:
    ws = RemoteCommand.connect("127.0.0.1", port, exec_path("ns", "pod", "c", ["echo", "hi"]))
    out, err, code = ws.run()            # reads to the end; ws.status: the Status
Only the standard library is used; every read is bounded by a timeout and
every frame and HTTP head by a size."""
import base64
import hashlib
import json
import os
import socket
import struct
import time
from urllib.parse import quote

V4 = "v4.channel.k8s.io"
PROTOCOL = V4
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_FRAME = 16 << 20
MAX_HEAD = 65536


# ---- frames and HTTP heads (both sides) -------------------------------------
def accept_key(key):
    """The Sec-WebSocket-Accept for a Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def encode_frame(opcode, payload, mask):
    """One frame with FIN; masked (as a client sends) if mask."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n <= 0xFFFF:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def read_exact(sock, n, buf):
    """n bytes from buf (a bytearray of bytes read ahead) then sock; raises
    EOFError at the end of the connection."""
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    out = bytes(buf[:n])
    del buf[:n]
    return out


def read_frame(sock, buf, max_payload=MAX_FRAME):
    """(fin, opcode, payload) of the next frame, unmasked."""
    b0, b1 = read_exact(sock, 2, buf)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", read_exact(sock, 2, buf))[0]
    elif n == 127:
        n = struct.unpack(">Q", read_exact(sock, 8, buf))[0]
    if n > max_payload:
        raise ValueError(f"frame of {n} bytes")
    key = read_exact(sock, 4, buf) if b1 & 0x80 else None
    payload = read_exact(sock, n, buf)
    if key:
        payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    return bool(b0 & 0x80), b0 & 0x0F, payload


def read_message(sock, buf, max_payload=MAX_FRAME):
    """(opcode, payload) of the next data message; answers nothing, skips
    pings and pongs; opcode 8 for a close."""
    data, op = b"", None
    while True:
        fin, opcode, payload = read_frame(sock, buf, max_payload)
        if opcode in (9, 10):
            continue
        if opcode == 8:
            return 8, payload
        if opcode != 0:
            op = opcode
        data += payload
        if len(data) > max_payload:
            raise ValueError(f"message of more than {max_payload} bytes")
        if fin:
            return op, data


def read_http_head(sock, buf, limit=MAX_HEAD):
    """(status, status line, headers with lowercase names) of an HTTP
    answer; what follows the head stays in buf."""
    while b"\r\n\r\n" not in buf:
        if len(buf) > limit:
            raise ValueError("HTTP head too long")
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed before the HTTP head ended: %r" % bytes(buf))
        buf += chunk
    end = buf.index(b"\r\n\r\n")
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    del buf[:end + 4]
    parts = lines[0].split(" ")
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, lines[0], headers


def exit_code(status):
    """The exit code a v4 Status gives: 0 for Success, the ExitCode cause's
    for NonZeroExitCode; None when there is no status."""
    if status is None:
        return None
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    raise AssertionError(f"remotecommand: failure without an exit code: {status}")


def exec_query(command, stdin=False, stdout=True, stderr=True, tty=False):
    """The kubelet query of an exec or attach (command: a list, may be empty)."""
    q = [f"command={quote(c, safe='')}" for c in command]
    for name, on in (("input", stdin), ("output", stdout), ("error", stderr), ("tty", tty)):
        if on:
            q.append(f"{name}=1")
    return "&".join(q)


def exec_path(ns, pod, container, command, stdin=False, stdout=True, stderr=True, tty=False,
              prefix="/exec"):
    """The kubelet path and query of an exec (command: a list)."""
    return f"{prefix}/{ns}/{pod}/{container}?" + exec_query(command, stdin, stdout, stderr, tty)


class HandshakeError(Exception):
    """The server did not switch protocols: status, headers and body (bytes) kept."""

    def __init__(self, status, head, body):
        super().__init__(f"upgrade refused: HTTP {status}: {body[:300]!r}")
        self.status = status
        self.head = head
        self.body = body


# ---- the client ---------------------------------------------------------------
class RemoteCommand:
    """One exec or attach session: the client's side of the WebSocket."""

    def __init__(self, sock, protocol, head, buf):
        self.sock = sock
        self.protocol = protocol
        self.head = head
        self.buf = buf
        self.closed = False
        self.status = None

    @classmethod
    def connect(cls, host, port, path, protocols=(V4,), method="GET", timeout=30, headers=None):
        """Opens the WebSocket; raises HandshakeError when the answer is not
        101 (its body read as far as Content-Length or the close)."""
        sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        headers = dict(headers or {})
        lines = [f"{method} {path} HTTP/1.1", "Host: " + headers.pop("Host", f"{host}:{port}"), "Connection: Upgrade",
                 "Upgrade: websocket", "Sec-WebSocket-Version: 13", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Protocol: " + ", ".join(protocols), "User-Agent: kubectl/v1.32.0 (test)"]
        for k, v in headers.items():
            lines.append(f"{k}: {v}")
        buf = bytearray()
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            status, _, hdrs = read_http_head(sock, buf)
        except (OSError, EOFError, ValueError):
            sock.close()
            raise
        if status != 101:
            body = bytes(buf)
            sock.settimeout(min(timeout, 5))
            try:
                n = int(hdrs.get("content-length", "-1"))
                while len(body) < MAX_HEAD and (n < 0 or len(body) < n):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    body += chunk
            except OSError:
                pass
            sock.close()
            raise HandshakeError(status, hdrs, body)
        if hdrs.get("sec-websocket-accept") != accept_key(key):
            sock.close()
            raise ValueError("bad Sec-WebSocket-Accept")
        return cls(sock, hdrs.get("sec-websocket-protocol", ""), hdrs, buf)

    @classmethod
    def open(cls, host, port, path, command=(), stdin=False, tty=False, **kw):
        """connect() to path with an exec query as kubectl builds it (stderr
        apart unless tty)."""
        q = exec_query(command, stdin=stdin, stdout=True, stderr=not tty, tty=tty)
        return cls.connect(host, port, f"{path}?{q}", **kw)

    def _send_frame(self, opcode, payload):
        self.sock.sendall(encode_frame(opcode, payload, True))

    def recv(self):
        """The next data message (bytes), or None once the server closed;
        answers pings."""
        data = b""
        while True:
            try:
                fin, op, payload = read_frame(self.sock, self.buf)
            except EOFError:
                self.closed = True
                return None
            if op == 0x8:
                self.closed = True
                try:
                    self._send_frame(0x8, payload[:2])
                except OSError:
                    pass
                return None
            if op == 0x9:
                self._send_frame(0xA, payload)
                continue
            if op == 0xA:
                continue
            data += payload
            if len(data) > MAX_FRAME:
                raise ValueError("message too long")
            if fin:
                return data

    # ---- the channels -------------------------------------------------------
    def send(self, channel, data):
        self._send_frame(0x2, bytes([channel]) + data)

    def stdin(self, data):
        self.send(STDIN, data if isinstance(data, bytes) else data.encode())

    send_stdin = stdin

    def resize(self, width, height):
        """A terminal size on the resize channel (tty sessions)."""
        self.send(RESIZE, json.dumps({"Width": width, "Height": height}).encode())

    def read_until(self, pred, timeout=30):
        """Reads until pred(stdout, stderr) is true or the session ends;
        returns (stdout, stderr, status or None)."""
        out, err = b"", b""
        deadline = time.monotonic() + timeout
        while not pred(out, err):
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            msg = self.recv()
            if msg is None:
                break
            if not msg:
                continue
            ch, body = msg[0], msg[1:]
            if ch == STDOUT:
                out += body
            elif ch == STDERR:
                err += body
            elif ch == ERROR and body:
                self.status = json.loads(body)
            if time.monotonic() > deadline:
                raise TimeoutError("remotecommand: no end in time")
        return out, err, self.status

    def run(self, stdin=None, timeout=30):
        """Sends stdin (if any), reads to the end: (stdout, stderr, exit
        code); the Status stays in self.status."""
        if stdin is not None:
            self.stdin(stdin)
        out, err, status = self.read_until(lambda o, e: False, timeout)
        self.close()
        return out, err, exit_code(status)

    def close(self):
        try:
            if not self.closed:
                self._send_frame(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()
