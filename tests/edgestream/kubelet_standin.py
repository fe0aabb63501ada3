"""A stand-in for the node's local kubelet endpoint (edged's read-only
server on 127.0.0.1:10350) that edgestream relays to: container logs (plain
or followed, chunked), metrics and stats, and exec/attach answered with a
WebSocket remotecommand session (v4.channel.k8s.io). It counts the
connections it holds, so a test can see edgestream close them."""
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import remotecommand as rc  # noqa: E402

METRICS = "".join(f"# HELP m{i} a metric\nm{i}{{node=\"edge-1\"}} {i}\n" for i in range(40))


class Kubelet(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, pods=("default/web",)):
        super().__init__(("127.0.0.1", 0), Handler)
        self.pods = set(pods)
        self.lock = threading.Lock()
        self.active = 0
        self.total = 0
        self.requests = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server_address[1]

    def stop(self):
        self.shutdown()
        self.server_close()

    def count(self, delta, path=None):
        with self.lock:
            self.active += delta
            if delta > 0:
                self.total += 1
                self.requests.append(path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        self.server.count(1)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.count(-1)

    def plain(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def route(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        parts = u.path.split("/")
        with self.server.lock:
            self.server.requests.append(self.command + " " + self.path)
        if u.path.startswith("/containerLogs/") and len(parts) == 5:
            if f"{parts[2]}/{parts[3]}" not in self.server.pods:
                return self.plain(404, f'pods "{parts[3]}" not found')
            return self.logs(parts[4], q)
        if u.path in ("/metrics", "/metrics/cadvisor", "/metrics/resource", "/metrics/probes"):
            return self.plain(200, METRICS)
        if u.path.startswith("/stats"):
            return self.plain(200, json.dumps({"node": {"nodeName": "edge-1", "cpu": {"usageNanoCores": 1}}},
                                              indent=1) + "\n")
        if (u.path.startswith("/exec/") or u.path.startswith("/attach/")) and len(parts) in (5, 6):
            if f"{parts[2]}/{parts[3]}" not in self.server.pods:
                return self.plain(404, f'pod "{parts[3]}" not found')
            return self.exec(q.get("command", []))
        return self.plain(404, "404 page not found")

    def logs(self, container, q):
        follow = q.get("follow", ["false"])[0] == "true"
        limit = int(q.get("limitBytes", ["0"])[0])
        if container == "flood":
            # limitBytes bytes as fast as the reader takes them
            self.send_response(200)
            self.send_header("Content-Length", str(limit))
            self.end_headers()
            block = (b"0123456789abcdef" * 4096)
            left = limit
            try:
                while left > 0:
                    n = min(left, len(block))
                    self.wfile.write(block[:n])
                    left -= n
            except OSError:
                pass
            return
        if not follow:
            n = int(q.get("tailLines", ["10"])[0])
            return self.plain(200, "".join(f"{container} line {i}\n" for i in range(n)))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        interval = float(q.get("interval", ["0.05"])[0]) if "interval" in q else 0.05
        i = 0
        try:
            while True:
                line = f"{container} line {i}\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
                i += 1
                time.sleep(interval)
        except OSError:
            pass
        self.close_connection = True

    def exec(self, command):
        key = self.headers.get("Sec-WebSocket-Key")
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
            return self.plain(400, "not a websocket upgrade")
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", rc.accept_key(key))
        self.send_header("Sec-WebSocket-Protocol", rc.PROTOCOL)
        self.end_headers()
        self.wfile.flush()
        sock = self.connection
        buf = bytearray()

        def send(ch, data):
            sock.sendall(rc.encode_frame(2, bytes([ch]) + data, False))

        status = {"metadata": {}, "status": "Success"}
        try:
            if command[:1] == ["echo"]:
                send(rc.STDOUT, (" ".join(command[1:]) + "\n").encode())
            elif command[:1] == ["cat"]:
                # echoes stdin until a message holding only "EOF\n" (v4 cannot close stdin)
                while True:
                    op, msg = rc.read_message(sock, buf)
                    if op == 8:
                        break
                    if msg[:1] == bytes([rc.STDIN]):
                        if msg[1:] == b"EOF\n":
                            break
                        send(rc.STDOUT, msg[1:])
            elif command[:1] == ["sleep"]:
                time.sleep(float(command[1]))
            elif command[:1] == ["exit"]:
                # what the kubelet sends for a non-zero exit (v4: the code in details.causes)
                status = {"metadata": {}, "status": "Failure",
                          "message": f"command terminated with non-zero exit code: exit status {command[1]}",
                          "reason": "NonZeroExitCode",
                          "details": {"causes": [{"reason": "ExitCode", "message": command[1]}]}}
            elif command[:1] == ["resize"]:
                # reports each terminal size it is sent, until "EOF\n" on stdin
                while True:
                    op, msg = rc.read_message(sock, buf)
                    if op == 8 or msg == bytes([rc.STDIN]) + b"EOF\n":
                        break
                    if msg[:1] == bytes([rc.RESIZE]):
                        size = json.loads(msg[1:])
                        send(rc.STDOUT, b"%dx%d\n" % (size["Width"], size["Height"]))
            else:
                status = {"metadata": {}, "status": "Failure", "message": f"command not found: {command}",
                          "reason": "InternalError"}
            send(rc.ERROR, json.dumps(status).encode())
            sock.sendall(rc.encode_frame(8, b"\x03\xe8", False))
        except (OSError, EOFError, ValueError):
            pass
        self.close_connection = True
