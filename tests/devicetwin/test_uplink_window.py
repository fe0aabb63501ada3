#!/usr/bin/env python3
"""devicetwin sends at most DT_UPLINK_WINDOW (512) twin messages the cloud
has not confirmed yet; the next go out, in order, as confirmations arrive.
edgehub's uplink queue (1024 messages of every module) would drop the rest
of a burst, and devicetwin would keep each dropped one in memory until its
60 s re-send (docs/footprint.md)."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from twinlib import Broker, Node, Sub, device, NODE  # noqa: E402

WINDOW = 512


class UplinkWindow(unittest.TestCase):
    def setUp(self):
        self.broker = Broker(self).start()
        self.sub = Sub(self, self.broker.port)

    def edge_updated(self, node):
        return [m for m in node.recorded() if m["route"].get("resource", "").endswith("/twin/edge_updated")]

    def confirm(self, node, ups):
        for m in ups:
            ack = {"header": {"msg_id": "ack-" + m["header"]["msg_id"], "parent_msg_id": m["header"]["msg_id"],
                              "timestamp": 1},
                   "route": {"source": "devicecontroller", "group": "twin", "operation": "response",
                             "resource": "twin"},
                   "content": "OK"}
            node.ctl("group twin " + json.dumps(ack))

    def test_a_burst_goes_out_a_window_at_a_time_in_order(self):
        n = Node(self, self.broker.port, auto_ack=False).start()
        n.membership(added=[device("default/fan", {"rpm": {"expected": {"value": "0"}}})])
        self.sub.wait(f"$hw/events/node/{NODE}/membership/updated")
        n.cloud(True)
        total = WINDOW + 188
        topic = "$hw/events/device/default/fan/twin/update"
        lines = "".join(json.dumps({"event_id": str(v), "twin": {"rpm": {"actual": {"value": str(v)}}}}) + "\n"
                        for v in range(1, total + 1))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker.port), "-t", topic, "-l",
                        "-q", "1"], input=lines.encode(), check=True, timeout=60)
        self.sub.wait(topic + "/result", total, timeout=60)
        self.assertEqual(n.query("SELECT count(*) FROM edgecore_twin_uplink"), [(total,)])
        first = n.wait_recorded(lambda m: m["route"].get("resource", "").endswith("/twin/edge_updated"),
                                count=WINDOW)
        time.sleep(1)
        # no more than the window while nothing is confirmed
        ups = self.edge_updated(n)
        self.assertEqual(len(ups), WINDOW)
        self.assertEqual([int(m["content"]["twin"]["rpm"]["actual"]["value"]) for m in first],
                         list(range(1, WINDOW + 1)))
        # confirmations make room: the rest go out, oldest first, once each
        self.confirm(n, ups)
        ups = n.wait_recorded(lambda m: m["route"].get("resource", "").endswith("/twin/edge_updated"),
                              count=total, timeout=30)
        time.sleep(0.5)
        ups = self.edge_updated(n)
        self.assertEqual([int(m["content"]["twin"]["rpm"]["actual"]["value"]) for m in ups],
                         list(range(1, total + 1)))
        self.confirm(n, ups[WINDOW:])
        deadline = time.time() + 15
        while n.query("SELECT count(*) FROM edgecore_twin_uplink") != [(0,)] and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(n.query("SELECT count(*) FROM edgecore_twin_uplink"), [(0,)])

    def test_uploads_never_confirmed_do_not_hold_back_newer_ones(self):
        """A cloud that confirms nothing (a v1.9.2 cloud confirms only the
        updates it could apply): 60 s on, the window's uploads leave it, the
        kept ones go out and the old ones are sent again."""
        n = Node(self, self.broker.port, auto_ack=False).start()
        n.membership(added=[device("default/fan", {"rpm": {"expected": {"value": "0"}}})])
        self.sub.wait(f"$hw/events/node/{NODE}/membership/updated")
        n.cloud(True)
        total = WINDOW + 10
        topic = "$hw/events/device/default/fan/twin/update"
        lines = "".join(json.dumps({"event_id": str(v), "twin": {"rpm": {"actual": {"value": str(v)}}}}) + "\n"
                        for v in range(1, total + 1))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker.port), "-t", topic, "-l",
                        "-q", "1"], input=lines.encode(), check=True, timeout=60)
        self.sub.wait(topic + "/result", total, timeout=60)
        n.wait_recorded(lambda m: m["route"].get("resource", "").endswith("/twin/edge_updated"), count=WINDOW)
        time.sleep(1)
        self.assertEqual(len(self.edge_updated(n)), WINDOW)
        # 60 s re-send time and the 10 s tick: the last 10 go out, then the
        # first ones again
        ups = n.wait_recorded(lambda m: m["route"].get("resource", "").endswith("/twin/edge_updated"),
                              count=total + 1, timeout=100)
        values = [int(m["content"]["twin"]["rpm"]["actual"]["value"]) for m in ups]
        self.assertEqual(values[:total], list(range(1, total + 1)))
        self.assertEqual(values[total], 1)

    def test_a_confirmation_of_an_upload_no_longer_in_memory_deletes_its_row(self):
        """Memory holds only the window: after the link went down, the
        uploads sent before are in the store only, and a late confirmation
        deletes them by msg_id; nothing is sent again on reconnect."""
        n = Node(self, self.broker.port, auto_ack=False).start()
        n.membership(added=[device("default/fan", {"rpm": {"expected": {"value": "0"}}})])
        self.sub.wait(f"$hw/events/node/{NODE}/membership/updated")
        n.cloud(True)
        topic = "$hw/events/device/default/fan/twin/update"
        lines = "".join(json.dumps({"event_id": str(v), "twin": {"rpm": {"actual": {"value": str(v)}}}}) + "\n"
                        for v in range(1, 4))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker.port), "-t", topic, "-l",
                        "-q", "1"], input=lines.encode(), check=True, timeout=60)
        ups = n.wait_recorded(lambda m: m["route"].get("resource", "").endswith("/twin/edge_updated"), count=3)
        n.cloud(False)
        self.confirm(n, ups[:2])
        deadline = time.time() + 15
        while n.query("SELECT count(*) FROM edgecore_twin_uplink") != [(1,)] and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(n.query("SELECT msg_id FROM edgecore_twin_uplink"), [(ups[2]["header"]["msg_id"],)])
        # on reconnect only the unconfirmed one goes out again
        n.cloud(True)
        again = n.wait_recorded(lambda m: m["route"].get("resource", "").endswith("/twin/edge_updated"), count=4)
        time.sleep(1)
        ups2 = self.edge_updated(n)
        self.assertEqual(len(ups2), 4)
        self.assertEqual(again[3]["header"]["msg_id"], ups[2]["header"]["msg_id"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
