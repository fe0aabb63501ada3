"""A small client of Kubernetes' WebSocket remotecommand protocol
(v4.channel.k8s.io), for the tests of kubelet-style exec/attach endpoints
(edged's local endpoints, and through edgestream's tunnel).

The protocol: an HTTP/1.1 upgrade to WebSocket (RFC 6455) with
Sec-WebSocket-Protocol v4.channel.k8s.io; every binary message starts with
its channel: 0 stdin, 1 stdout, 2 stderr, 3 error (a metav1.Status JSON
once the command ended: status Success, or Failure with reason
NonZeroExitCode and the exit code in details.causes[reason=ExitCode]),
4 resize ({"Width":w,"Height":h}, tty only). A message holding only its
channel byte carries nothing (the server opens each channel with one).

Usage:
    ws = RemoteCommand.connect("127.0.0.1", port, "/exec/ns/pod/c?command=echo&command=hi&output=1")
    out, err, code = ws.run()            # reads to the end
Only the standard library is used; every read is bounded by a timeout."""
import base64
import json
import os
import socket
import struct
import time

V4 = "v4.channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4


class HandshakeError(Exception):
    """The server did not switch protocols: status, headers and body kept."""

    def __init__(self, status, head, body):
        super().__init__(f"upgrade refused: HTTP {status}: {body[:300]!r}")
        self.status = status
        self.head = head
        self.body = body


class RemoteCommand:
    def __init__(self, sock, protocol, head):
        self.sock = sock
        self.protocol = protocol
        self.head = head
        self.buf = b""
        self.closed = False

    @classmethod
    def connect(cls, host, port, path, protocols=(V4,), method="GET", timeout=30, headers=None):
        """Opens the WebSocket; raises HandshakeError when the answer is not 101."""
        sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: Upgrade",
                 "Upgrade: websocket", "Sec-WebSocket-Version: 13", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Protocol: " + ", ".join(protocols)]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
            if len(data) > 65536:
                break
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n")[0].decode(errors="replace")
        parts = status_line.split()
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        hdrs = {}
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.decode(errors="replace").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if status != 101:
            body = rest
            sock.settimeout(2)
            try:
                while len(body) < 65536:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    body += chunk
            except OSError:
                pass
            sock.close()
            raise HandshakeError(status, hdrs, body.decode(errors="replace"))
        ws = cls(sock, hdrs.get("sec-websocket-protocol", ""), hdrs)
        ws.buf = rest
        return ws

    # ---- frames ------------------------------------------------------------
    def _send_frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _recv_frame(self):
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._need(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._need(8))[0]
        mask = self._need(4) if b1 & 0x80 else None
        payload = self._need(n)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return b0 & 0x80, b0 & 0x0F, payload

    def recv(self):
        """The next data message (bytes), or None once the server closed."""
        data = b""
        while True:
            try:
                fin, op, payload = self._recv_frame()
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
            if fin:
                return data

    # ---- the channels -------------------------------------------------------
    def send(self, channel, data):
        self._send_frame(0x2, bytes([channel]) + data)

    def stdin(self, data):
        self.send(STDIN, data if isinstance(data, bytes) else data.encode())

    def resize(self, width, height):
        self.send(RESIZE, json.dumps({"Width": width, "Height": height}).encode())

    def read_until(self, pred, timeout=30):
        """Reads until pred(stdout, stderr) is true or the session ends;
        returns (stdout, stderr, status or None)."""
        out, err, status = b"", b"", None
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
                status = json.loads(body)
            if time.monotonic() > deadline:
                raise TimeoutError("remotecommand: no end in time")
        return out, err, status

    def run(self, timeout=30):
        """Reads to the end: (stdout, stderr, exit code)."""
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


def exec_path(ns, pod, container, command, stdin=False, stdout=True, stderr=True, tty=False,
              prefix="/exec"):
    """The kubelet path and query of an exec (command: a list)."""
    from urllib.parse import quote
    q = [f"command={quote(c, safe='')}" for c in command]
    for name, on in (("input", stdin), ("output", stdout), ("error", stderr), ("tty", tty)):
        if on:
            q.append(f"{name}=1")
    return f"{prefix}/{ns}/{pod}/{container}?" + "&".join(q)
