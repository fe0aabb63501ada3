#!/usr/bin/env python3
"""eventbus against real mosquitto brokers: dispatch to devicetwin and the
cloud, publishes from the bus, cloud subscriptions, a broker that is not
there at start, and the internal broker that eventbus supervises."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "devicetwin"))
from twinlib import Broker, Node, Sub, free_port, pub, wait_port, NODE  # noqa: E402


def bus_message(op, resource, content, source="router_eventbus", group="user"):
    return json.dumps({"header": {"msg_id": f"m-{time.time_ns()}", "timestamp": 1},
                       "route": {"source": source, "group": group, "operation": op,
                                 "resource": resource}, "content": content})


class External(unittest.TestCase):
    def test_dispatch_publish_subscribe(self):
        broker = Broker(self).start()
        node = Node(self, broker.port).start()
        # uploads: everything outside $hw/events/{device,node}/ goes to the cloud
        pub(broker.port, "a/user/b", "raw text")
        pub(broker.port, "SYS/dis/upload_records", '{"x":1}')
        ups = node.wait_recorded(lambda m: m["route"].get("operation") == "upload", count=2)
        self.assertEqual({(m["route"]["resource"], m["content"]) for m in ups},
                         {("a/user/b", "raw text"), ("SYS/dis/upload_records", '{"x":1}')})
        self.assertTrue(all(m["route"]["source"] == "bus" and m["route"]["group"] == "user" for m in ups))
        # publish from the cloud (group user) and from any module (operation publish)
        sub = Sub(self, broker.port, "out/#")
        node.ctl("send eventbus " + bus_message("publish", "out/cloud", "hello"))
        node.ctl("send eventbus " + bus_message("publish", "out/module", {"k": [1, 2]},
                                                 source="twin", group="bus"))
        node.ctl("send eventbus " + bus_message("message", "", {"message": {"topic": "out/legacy", "v": 1}}))
        sub.wait("out/cloud")
        self.assertEqual(sub.messages("out/cloud"), [("out/cloud", "hello")])
        self.assertEqual(json.loads(sub.wait("out/module")[0]), {"k": [1, 2]})
        self.assertEqual(json.loads(sub.wait("out/legacy")[0]), {"topic": "out/legacy", "v": 1})
        # bad publishes are refused with a log line, the node keeps going
        node.ctl("send eventbus " + bus_message("publish", "bad/#", "x"))
        node.ctl("send eventbus " + bus_message("message", "", {"nothing": 1}))
        node.wait_log("not publishing to invalid MQTT topic")
        # cloud subscriptions: stored in sub_topics, kept across restarts; an
        # invalid filter is refused (stored, it would fail every subscription)
        node.ctl("send eventbus " + bus_message("subscribe", "bad/#/filter", None))
        node.wait_log("not subscribing to invalid MQTT topic filter")
        node.ctl("send eventbus " + bus_message("subscribe", "plant/sensors", None))
        node.wait_log("subscribed MQTT topic plant/sensors")
        time.sleep(0.3)
        pub(broker.port, "plant/sensors", "42")
        node.wait_recorded(lambda m: m["route"].get("resource") == "plant/sensors")
        self.assertEqual(node.query("SELECT topic FROM sub_topics"), [("plant/sensors",)])
        node.stop()
        node.start()
        pub(broker.port, "plant/sensors", "43")
        node.wait_recorded(lambda m: m["route"].get("resource") == "plant/sensors" and m["content"] == "43")
        node.ctl("send eventbus " + bus_message("unsubscribe", "plant/sensors", None))
        node.wait_log("unsubscribed MQTT topic plant/sensors")
        time.sleep(0.3)
        self.assertEqual(node.query("SELECT topic FROM sub_topics"), [])
        # device topics of both id layouts go to devicetwin (404s prove it)
        sub2 = Sub(self, broker.port)
        pub(broker.port, "$hw/events/device/ns1/dev9/twin/get", '{"event_id":"a"}')
        pub(broker.port, "$hw/events/device/dev9/twin/get", '{"event_id":"b"}')
        self.assertEqual(json.loads(sub2.wait("$hw/events/device/ns1/dev9/twin/get/result")[0])["reason"],
                         "Device ns1/dev9 not found while getting twin")
        self.assertEqual(json.loads(sub2.wait("$hw/events/device/dev9/twin/get/result")[0])["code"], 404)

    def test_issue9_deep_legacy_message(self):
        """issue 9: a legacy `message` whose content is a string holding JSON
        was parsed by json-glib without a depth limit (eventbus.c); 100,000
        nested arrays stopped the node. Now it is refused with a log line
        and the next legacy message is published."""
        broker = Broker(self).start()
        node = Node(self, broker.port).start()
        sub = Sub(self, broker.port, "out/#")
        deep = "[" * 100000 + "]" * 100000
        node.ctl("send eventbus " + bus_message("message", "", deep))
        node.ctl("send eventbus " + bus_message("message", "", '{"message":{"topic":"out/x","v":' + deep + "}}"))
        node.ctl("send eventbus " + bus_message("message", "", '{"message":{"topic":"out/after","v":2}}'))
        self.assertEqual(json.loads(sub.wait("out/after")[0]), {"topic": "out/after", "v": 2})
        node.wait_log("nested too deeply")
        self.assertEqual(sub.messages("out/x"), [])
        self.assertIsNone(node.proc.poll())

    def test_broker_unreachable_at_start(self):
        port = free_port()
        node = Node(self, port).start(wait_mqtt=False)
        node.wait_log("cannot connect to tcp://127.0.0.1:%d" % port)
        time.sleep(1)
        self.assertIsNone(node.proc.poll())
        broker = Broker(self, port).start()
        node.wait_log("subscriber: connected", timeout=15)
        time.sleep(0.3)
        sub = Sub(self, broker.port)
        pub(broker.port, "$hw/events/device/x/twin/get", "{}")
        self.assertEqual(json.loads(sub.wait("$hw/events/device/x/twin/get/result")[0])["code"], 404)
        # the broker goes away and comes back: the node reconnects
        broker.stop()
        node.wait_log("connection to tcp://127.0.0.1:%d lost" % port)
        broker.start()
        node.wait_log("subscriber: connected", count=2, timeout=15)
        time.sleep(0.3)
        sub = Sub(self, broker.port)
        pub(broker.port, "$hw/events/device/y/twin/get", "{}")
        self.assertEqual(json.loads(sub.wait("$hw/events/device/y/twin/get/result", timeout=10)[0])["code"], 404)


class Backpressure(unittest.TestCase):
    def members(self, node):
        out = {}
        for line in node.ctl("members").splitlines()[1:]:
            cols = line.split()
            if len(cols) == 8 and cols[2].isdigit():
                out[cols[0]] = dict(zip(("in", "out", "dropped", "unroutable", "queued", "waiting"),
                                        map(int, cols[2:])))
        return out

    def wait_members(self, node, pred, what, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.members(node)
            if pred(m):
                return m
            time.sleep(0.1)
        raise AssertionError(f"bus members never {what}: {self.members(node)}")

    def test_slow_cloud_pauses_mqtt_reading_and_nothing_is_lost(self):
        """The cloud side stops taking messages (cloudrec pauses its bus
        deliveries): eventbus's uploads fill its queue, then wait on the bus,
        then eventbus stops reading MQTT; once the cloud side resumes,
        everything arrives, in order, and nothing was dropped."""
        broker = Broker(self).start()
        node = Node(self, broker.port).start()
        node.ctl("send websocket " + bus_message("cloudrec-pause", "", None))
        node.wait_log("cloudrec: paused")
        n = 4000
        lines = "".join(f"{i}\n" for i in range(n))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", "a/user/flood",
                        "-l"], input=lines.encode(), check=True, timeout=30)
        m = self.wait_members(node, lambda m: m["websocket"]["queued"] == 1024
                              and m["eventbus"]["waiting"] >= 2048, "filled up")
        time.sleep(0.5)
        m = self.members(node)
        print(f"\n  while paused: {m}", file=sys.stderr)
        # reading paused at the mark: what waits stays near it, not at the flood's size
        self.assertLess(m["eventbus"]["waiting"], n - 1024, m)
        self.assertEqual(m["websocket"]["dropped"], 0, m)
        node.proc.send_signal(signal.SIGUSR2)   # the queue is full: no message gets through
        node.wait_log("cloudrec: resumed")
        got = node.wait_recorded(lambda r: r["route"].get("resource") == "a/user/flood", count=n, timeout=60)
        self.assertEqual([int(r["content"]) for r in got], list(range(n)))
        m = self.wait_members(node, lambda m: m["eventbus"]["waiting"] == 0, "drained")
        self.assertEqual(m["websocket"]["dropped"], 0, m)
        self.assertNotIn("not passed to", node.output())


class MqttCheckingProxy:
    """A TCP relay between eventbus and mosquitto that reads the client's
    bytes as MQTT 3.1.1 packets and records any framing error. While
    `paused` is set it reads nothing (with a tiny receive buffer), so the
    client's socket fills up."""

    VALID_FLAGS = {1: 0, 2: 0, 4: 0, 5: 0, 6: 2, 7: 0, 8: 2, 9: 0, 10: 2, 11: 0, 12: 0, 13: 0, 14: 0}

    def __init__(self, test, target_port):
        self.target = target_port
        self.paused = False
        self.errors = []
        self.packets = []   # (connection number, type, topic or None), in order
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.socks = []
        self.threads = [threading.Thread(target=self.accept_loop, daemon=True)]
        self.threads[0].start()
        test.addCleanup(self.close)

    def accept_loop(self):
        n = 0
        while not self.stop.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            n += 1
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.socks += [client, upstream]
            for t in (threading.Thread(target=self.client_to_broker, args=(n, client, upstream), daemon=True),
                      threading.Thread(target=self.pump, args=(upstream, client), daemon=True)):
                self.threads.append(t)
                t.start()

    def pump(self, src, dst):
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def client_to_broker(self, conn, src, dst):
        buf = b""
        try:
            while not self.stop.is_set():
                if self.paused:
                    time.sleep(0.02)
                    continue
                chunk = src.recv(65536)
                if not chunk:
                    break
                dst.sendall(chunk)
                buf = self.parse(conn, buf + chunk)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def parse(self, conn, buf):
        """Consumes whole packets from buf; returns the rest."""
        while len(buf) >= 2:
            kind, flags = buf[0] >> 4, buf[0] & 15
            remaining, mult, i = 0, 1, 1
            while True:
                if i >= len(buf):
                    return buf
                remaining += (buf[i] & 127) * mult
                mult *= 128
                i += 1
                if not buf[i - 1] & 128:
                    break
                if i > 4:
                    self.error(conn, f"remaining length longer than 4 bytes: {buf[:8].hex()}")
                    return b""
            if len(buf) < i + remaining:
                return buf
            body = buf[i:i + remaining]
            topic = None
            if kind == 3:
                tlen = int.from_bytes(body[:2], "big") if remaining >= 2 else -1
                if (flags >> 1) & 3 == 3 or tlen < 0 or tlen + 2 > remaining:
                    self.error(conn, f"malformed PUBLISH header {buf[:8].hex()}")
                    return b""
                try:
                    topic = body[2:2 + tlen].decode()
                except UnicodeDecodeError:
                    self.error(conn, f"PUBLISH topic not UTF-8: {body[2:2 + tlen][:40]!r}")
                    return b""
            elif self.VALID_FLAGS.get(kind) != flags or (kind == 12 and remaining != 0):
                self.error(conn, f"not an MQTT packet: type {kind} flags {flags} length {remaining}")
                return b""
            with self.lock:
                self.packets.append((conn, kind, topic))
            buf = buf[i + remaining:]
        return buf

    def error(self, conn, text):
        with self.lock:
            self.errors.append(f"connection {conn}: {text}")

    def close(self):
        self.stop.set()
        self.listener.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


class RawPublish(unittest.TestCase):
    def test_keepalive_while_the_socket_is_full_keeps_the_stream_valid(self):
        """QoS 0 publishes are written by eventbus itself; libmosquitto's
        PINGREQ, due while a broker that stopped reading leaves a PUBLISH
        half written, must go out between packets, not inside one.

        The keepalive is 5 s: libmosquitto queues its PINGREQ 5 to 6 s
        after the CONNECT and gives up 5 s after that without a PINGRESP,
        so the relay stops reading from the start and resumes 7.5 s after
        the connection, in the middle of that window."""
        broker = Broker(self).start()
        sub = Sub(self, broker.port, "raw/#")
        proxy = MqttCheckingProxy(self, broker.port)
        node = Node(self, proxy.port, extra="[eventbus]\nmqtt-keepalive=5\n").start(wait_mqtt=False)
        node.wait_log("publisher: connected")
        proxy.paused = True
        connected = time.monotonic()
        # 4.8 MB: more than the kernel takes into the node's socket (about 3 MB)
        count, pad = 100, "x" * 48000
        for i in range(count):
            node.ctl("send eventbus " + bus_message("publish", "raw/test", f"{i:04d}:{pad}"))
        time.sleep(max(0.0, connected + 7.5 - time.monotonic()))
        proxy.paused = False
        def received():
            # bytes: a PINGREQ inside a payload is not UTF-8
            with open(sub.path, "rb") as f:
                return [line[len(b"raw/test "):].rstrip(b"\n").decode(errors="replace")
                        for line in f if line.startswith(b"raw/test ")]
        deadline = time.time() + 120
        while time.time() < deadline and not proxy.errors and len(received()) < count:
            time.sleep(0.2)
        got = received()
        summary = (f"errors {proxy.errors}; received {[p[:4] for p in got]}; "
                   f"node log:\n{node.output()[-2000:]}")
        self.assertEqual(proxy.errors, [], summary)
        self.assertEqual(len(got), count, summary)
        self.assertTrue(got == [f"{i:04d}:{pad}" for i in range(count)], summary)
        # a keepalive fell due while the publishes were streaming, and went
        # out between two of them
        with proxy.lock:
            packets = list(proxy.packets)
        raw = [k for k, (_, kind, topic) in enumerate(packets) if topic == "raw/test"]
        pub_conn = packets[raw[0]][0]
        pings = [k for k, (c, kind, _) in enumerate(packets) if c == pub_conn and kind == 12]
        self.assertTrue(any(raw[0] < k < raw[-1] for k in pings), (len(raw), pings, raw[0], raw[-1]))
        self.assertNotIn("lost", node.output())


class Internal(unittest.TestCase):
    def test_internal_broker_is_supervised(self):
        port = free_port()
        unused = free_port()
        node = Node(self, unused, extra=f"[eventbus]\nmqtt-mode=0\nmqtt-server-internal=tcp://127.0.0.1:{port}\n"
                    "mqtt-qos=1\n").start(wait_mqtt=False)
        node.wait_log("subscriber: connected", timeout=15)
        with open(os.path.join(node.data, "eventbus", "mosquitto-internal.conf")) as f:
            conf = f.read()
        self.assertIn(f"listener {port} 127.0.0.1", conf)
        pid_file = os.path.join(node.data, "eventbus", "mosquitto-internal.pid")
        with open(pid_file) as f:
            pid = int(f.read())
        time.sleep(0.3)
        sub = Sub(self, port)
        pub(port, "$hw/events/device/x/twin/get", "{}")
        self.assertEqual(json.loads(sub.wait("$hw/events/device/x/twin/get/result")[0])["code"], 404)
        sub.close()
        os.kill(pid, signal.SIGKILL)
        node.wait_log("internal MQTT broker exited")
        node.wait_log("subscriber: connected", count=2, timeout=20)
        with open(pid_file) as f:
            new_pid = int(f.read())
        self.assertNotEqual(pid, new_pid)
        time.sleep(0.3)
        sub = Sub(self, port)
        pub(port, "$hw/events/device/z/twin/get", "{}")
        self.assertEqual(json.loads(sub.wait("$hw/events/device/z/twin/get/result")[0])["code"], 404)
        # the broker stops with the node
        self.assertEqual(node.stop(), 0)
        time.sleep(0.2)
        with self.assertRaises(ProcessLookupError):
            os.kill(new_pid, 0)

    def test_both_mode_publishes_to_both(self):
        ext = Broker(self).start()
        port = free_port()
        node = Node(self, ext.port, extra=f"[eventbus]\nmqtt-mode=1\nmqtt-server-internal=tcp://127.0.0.1:{port}\n")
        node.start(wait_mqtt=False)
        node.wait_log("subscriber: connected", count=2, timeout=15)
        node.wait_log("publisher: connected", count=2, timeout=15)
        time.sleep(0.3)
        s_ext = Sub(self, ext.port, "both/#")
        s_int = Sub(self, port, "both/#")
        node.ctl("send eventbus " + bus_message("publish", "both/t", "v"))
        s_ext.wait("both/t")
        s_int.wait("both/t")


if __name__ == "__main__":
    unittest.main(verbosity=2)
