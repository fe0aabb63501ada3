"""Kubernetes' remotecommand over WebSocket (subprotocol v4.channel.k8s.io),
as kubectl exec/attach speak it to kube-apiserver, and the few WebSocket
frame helpers a test's stand-in for the kubelet needs to answer it.

Every message is a binary WebSocket message whose first byte is the
channel: 0 stdin, 1 stdout, 2 stderr, 3 error (a metav1.Status JSON when the
command ends), 4 resize. No third-party module is used."""
import base64
import hashlib
import json
import os
import socket
import struct
import urllib.parse

PROTOCOL = "v4.channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


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


def read_frame(sock, buf, max_payload=16 << 20):
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


def read_message(sock, buf):
    """(opcode, payload) of the next data message; answers nothing, skips
    pings and pongs; opcode 8 for a close."""
    data, op = b"", None
    while True:
        fin, opcode, payload = read_frame(sock, buf)
        if opcode in (9, 10):
            continue
        if opcode == 8:
            return 8, payload
        if opcode != 0:
            op = opcode
        data += payload
        if fin:
            return op, data


def read_http_head(sock, buf, limit=65536):
    """The status line and headers (lowercase names) of an HTTP answer."""
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
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, lines[0], headers


def exit_code(status):
    """The exit code a v4 status reports: 0 for Success, the ExitCode cause
    of a NonZeroExitCode failure, None otherwise."""
    if status and status.get("status") == "Success":
        return 0
    for cause in ((status or {}).get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    return None


class ExecError(Exception):
    """The server answered the upgrade with an HTTP error."""

    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body!r}")
        self.status = status
        self.body = body


class Session:
    """One exec or attach session against host:port (kube-apiserver's view:
    the stream server of cloudcore, or a kubelet)."""

    def __init__(self, host, port, path, command=(), stdin=False, tty=False, headers=None, timeout=30,
                 method="POST"):
        query = [("command", c) for c in command]
        query += [("input", "1" if stdin else "0"), ("output", "1"), ("error", "0" if tty else "1"),
                  ("tty", "1" if tty else "0")]
        target = path + "?" + urllib.parse.urlencode(query)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()
        key = base64.b64encode(os.urandom(16)).decode()
        head = (f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: Upgrade\r\n"
                f"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Protocol: {PROTOCOL}\r\nUser-Agent: kubectl/v1.32.0 (test)\r\n")
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n"
        self.sock.sendall((head + "\r\n").encode())
        status, line, hdrs = read_http_head(self.sock, self.buf)
        if status != 101:
            body = bytes(self.buf)
            try:
                n = int(hdrs.get("content-length", "-1"))
                while n >= 0 and len(body) < n:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        break
                    body += chunk
            except OSError:
                pass
            self.sock.close()
            raise ExecError(status, body)
        if hdrs.get("sec-websocket-accept") != accept_key(key):
            raise ValueError("bad Sec-WebSocket-Accept")
        if hdrs.get("sec-websocket-protocol") != PROTOCOL:
            raise ValueError("subprotocol not %s: %r" % (PROTOCOL, hdrs.get("sec-websocket-protocol")))

    def send_stdin(self, data):
        self.sock.sendall(encode_frame(2, bytes([STDIN]) + data, True))

    def resize(self, width, height):
        """A terminal size on the resize channel (tty sessions)."""
        msg = json.dumps({"Width": width, "Height": height}).encode()
        self.sock.sendall(encode_frame(2, bytes([RESIZE]) + msg, True))

    def run(self, stdin_data=None):
        """Sends stdin_data (if any), then reads until the error channel
        or the close: (stdout, stderr, status dict or None)."""
        if stdin_data is not None:
            self.send_stdin(stdin_data)
        out, err, status = b"", b"", None
        while True:
            try:
                op, msg = read_message(self.sock, self.buf)
            except EOFError:
                break
            if op == 8:
                break
            if not msg:
                continue
            ch, data = msg[0], msg[1:]
            if ch == STDOUT:
                out += data
            elif ch == STDERR:
                err += data
            elif ch == ERROR:
                status = json.loads(data.decode()) if data else None
        self.close()
        return out, err, status

    def close(self):
        try:
            self.sock.sendall(encode_frame(8, struct.pack(">H", 1000), True))
        except OSError:
            pass
        self.sock.close()
