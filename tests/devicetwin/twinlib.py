"""Helpers for the eventbus and devicetwin tests: a real mosquitto broker on
a free loopback port, the real edgecore with eventbus + devicetwin (and the
cloudrec stand-in for edgehub), mosquitto_pub / mosquitto_sub clients."""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

BIN = os.environ["EDGECORE_BIN"]
PLUGIN_DIRS = os.environ["TWIN_PLUGIN_DIRS"].split(":")
CLOUDREC_DIR = os.environ["CLOUDREC_PLUGIN_DIR"]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
NODE = "edgenode1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


class Broker:
    """A mosquitto process with a generated config."""

    def __init__(self, test, port=None):
        self.dir = tempfile.mkdtemp(prefix="ec-mqtt-")
        self.port = port or free_port()
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                    "max_queued_messages 0\npersistence false\n")
        self.proc = None
        test.addCleanup(self.close)

    def start(self):
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Sub:
    """mosquitto_sub -v on a topic filter, lines collected in a file."""

    def __init__(self, test, port, topic="$hw/events/#"):
        fd, self.path = tempfile.mkstemp(prefix="ec-sub-")
        os.close(fd)
        self.out = open(self.path, "w")
        self.proc = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-v",
                                      "-t", topic], stdout=self.out, stderr=subprocess.DEVNULL)
        test.addCleanup(self.close)
        time.sleep(0.3)

    def lines(self):
        with open(self.path) as f:
            # complete lines only: mosquitto_sub may be half-way through a big one
            return [l.rstrip("\n") for l in f if l.endswith("\n") and l.strip()]

    def messages(self, topic=None):
        out = []
        for line in self.lines():
            t, _, p = line.partition(" ")
            if topic is None or t == topic:
                out.append((t, p))
        return out

    def wait(self, topic, count=1, timeout=15, pred=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = [p for t, p in self.messages(topic) if pred is None or pred(p)]
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{count} message(s) on {topic} expected, got: "
                             + "\n".join(self.lines()[-20:]))

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)
        if not self.out.closed:
            self.out.close()
            os.unlink(self.path)


def pub(port, topic, payload):
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-m", payload],
                   check=True, timeout=10)


def pub_stdin(port, topic, payload):
    """Publishes a payload too long for one argument (`-s`: from stdin)."""
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-s"],
                   input=payload.encode(), check=True, timeout=10)


class Node:
    """An edgecore with eventbus + devicetwin (+ cloudrec as edgehub)."""

    def __init__(self, test, broker_port, extra="", cloudrec=True, auto_ack=False, datadir=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="ec-twin-")
        test.addCleanup(self.close)
        self.data = datadir or self.tmp.name
        self.confd = os.path.join(self.tmp.name, "conf.d")
        os.mkdir(self.confd)
        self.sock = os.path.join(self.tmp.name, "ctl.sock")
        self.record = os.path.join(self.tmp.name, "cloud.jsonl")
        self.db = os.path.join(self.data, "edgecore.db")
        conf = (f"[core]\ncontrol-socket={self.sock}\ndata-dir={self.data}\nnode-name={NODE}\n"
                f"stop-timeout=5\n[database]\ndata-source={self.db}\n"
                f"[eventbus]\nmqtt-server-external=tcp://127.0.0.1:{broker_port}\n")
        if cloudrec:
            conf += f"[cloudrec]\nrecord-file={self.record}\nauto-ack={'true' if auto_ack else 'false'}\n"
        with open(os.path.join(self.confd, "00-test.conf"), "w") as f:
            f.write(conf + extra)
        self.args = [BIN, "--config-dir", self.confd]
        for d in PLUGIN_DIRS + ([CLOUDREC_DIR] if cloudrec else []):
            self.args += ["--plugin-dir", d]
        self.env = dict(os.environ, EDGECORE_SYSTEM_CONFIG_DIRS="", EDGECORE_SYSTEM_PLUGIN_DIRS="")
        self.proc = None
        self.log_path = os.path.join(self.tmp.name, "node.log")
        self.log = None

    def start(self, wait_mqtt=True):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + 20
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError("edgecore did not start:\n" + self.output())
            time.sleep(0.05)
        if wait_mqtt:
            self.wait_log("subscriber: connected", count=1)
            time.sleep(0.2)   # SUBACK
        return self

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, text, count=1, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.output().count(text) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"log never had {count}x {text!r}:\n" + self.output())

    def ctl(self, command, timeout=60):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            s.sendall(command.encode() + b"\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        out = data.decode()
        assert out.startswith("ok"), out
        return out

    def to_twin(self, source, op, resource, content, msg_id=None):
        msg = {"header": {"msg_id": msg_id or f"cloud-{time.time_ns()}", "timestamp": 1},
               "route": {"source": source, "group": "twin", "operation": op, "resource": resource},
               "content": content}
        return self.ctl("group twin " + json.dumps(msg))

    def membership(self, added=None, removed=None, msg_id=None):
        return self.to_twin("devicecontroller", "update", "membership",
                            {"event_id": "", "timestamp": int(time.time() * 1000),
                             "added_devices": added, "removed_devices": removed}, msg_id)

    def cloud(self, connected):
        msg = {"header": {"msg_id": f"conn-{time.time_ns()}", "timestamp": 1},
               "route": {"source": "edgehub", "group": "meta", "operation": "connect",
                         "resource": "node/connection"},
               "content": "cloud_connected" if connected else "cloud_disconnected"}
        self.ctl("group twin " + json.dumps(msg))

    def recorded(self):
        if not os.path.exists(self.record):
            return []
        with open(self.record) as f:
            return [json.loads(l) for l in f if l.strip()]

    def wait_recorded(self, pred, count=1, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = [m for m in self.recorded() if pred(m)]
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"cloud never got {count} matching message(s): {self.recorded()[-10:]}")

    def query(self, sql):
        db = sqlite3.connect(self.db, timeout=10)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=30)
            self.log.close()
            assert rc == 0, f"edgecore exited with {rc}:\n" + self.output()[-6000:]
            return rc
        return None

    def close(self):
        """Stops the node the normal way; a bad exit status (a crash, or a
        sanitizer report in ASan builds) fails the test."""
        rc = 0
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = -9
        if self.log and not self.log.closed:
            self.log.close()
        text = self.output() if rc else ""
        self.tmp.cleanup()
        if rc:
            raise AssertionError(f"edgecore exited with {rc}:\n" + text[-6000:])


def device(dev_id, twins=None, name=None, **extra):
    d = {"id": dev_id, "name": name or dev_id.split("/")[-1]}
    if twins:
        d["twin"] = twins
    d.update(extra)
    return d


def shape(value):
    """The JSON shape: objects keep their keys, leaves become type names."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "string"
