#!/usr/bin/env python3
"""devicetwin through MQTT and the bus: payloads compared with the Go
EdgeCore v1.9.2 capture, bad input, 10,000 devices, the offline uplink."""
import json
import os
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from twinlib import Broker, Node, Sub, device, pub, pub_stdin, shape, NODE  # noqa: E402

CAPTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kubeedge-v1.9.2-mqtt.log")

# The capture's database: dev1 with twin temperature, expected 20, type
# string, expected version {cloud 1, edge 0}, not optional.
DEV1_TWIN = {"temperature": {"expected": {"value": "20"}, "optional": False,
                             "metadata": {"type": "string"},
                             "expected_version": {"cloud": 1, "edge": 0}}}


def capture():
    with open(CAPTURE) as f:
        for line in f:
            topic, _, payload = line.rstrip("\n").partition(" ")
            yield topic, payload


def is_request(topic):
    return not topic.endswith(("/result", "/document", "/delta"))


class Base(unittest.TestCase):
    def setUp(self):
        self.broker = Broker(self).start()
        self.sub = Sub(self, self.broker.port)

    def node(self, **kw):
        return Node(self, self.broker.port, **kw).start()

    def pub(self, topic, payload):
        pub(self.broker.port, topic, payload)

    def answer(self, topic, count=1, pred=None):
        return json.loads(self.sub.wait(topic, count, pred=pred)[count - 1])


class CapturedShapes(Base):
    """Replays the capture's requests and compares every answer's shape."""

    def check(self, topic, want, got):
        want_shape, got_shape = shape(want), shape(got)
        if topic.endswith("/state/update/result"):
            # HEAD (the reference) spells it lastOnlineTime (DeviceCloudMsg);
            # v1.9.2 used last_online. Same place, same type.
            want_shape["device"]["lastOnlineTime"] = want_shape["device"].pop("last_online")
        self.assertEqual(want_shape, got_shape, f"shape of {topic}:\nwant {want}\ngot  {got}")
        for key in ("code", "reason"):
            self.assertEqual(want.get(key), got.get(key), f"{key} of {topic}")
        if not topic.endswith(("/delta", "/state/update/result")):
            self.assertEqual(want["event_id"], got["event_id"], topic)
        if "delta" in want:
            self.assertEqual(want["delta"], got["delta"])
        for name, twin in want.get("twin", {}).items():
            for side in ("expected", "actual"):
                if twin and side in twin:
                    self.assertEqual(twin[side]["value"], got["twin"][name][side]["value"])
            if twin and "optional" in twin:
                self.assertEqual(twin["optional"], got["twin"][name]["optional"])
                self.assertEqual(twin["metadata"], got["twin"][name]["metadata"])

    def test_capture(self):
        node = self.node()
        seen = {}
        added = False
        for topic, payload in capture():
            if is_request(topic):
                if topic == "$hw/events/device/dev1/twin/update" and "evt-10" in payload and not added:
                    node.membership(added=[device("dev1", DEV1_TWIN)])
                    self.answer(f"$hw/events/node/{NODE}/membership/updated")
                    # adding the twin from the cloud announced it to the mapper
                    for suffix in ("document", "delta"):
                        key = f"$hw/events/device/dev1/twin/update/{suffix}"
                        seen[key] = seen.get(key, 0) + 1
                        added_doc = self.answer(key, seen[key])
                        self.assertEqual(added_doc["twin"]["temperature"].get("current", added_doc["twin"]
                                         ["temperature"])["expected"]["value"], "20")
                    added = True
                self.pub(topic, payload)
                continue
            seen[topic] = seen.get(topic, 0) + 1
            got = self.answer(topic, seen[topic])
            self.check(topic, json.loads(payload), got)
        # an upload topic went to the cloud, untouched (reference 1.2)
        up = node.wait_recorded(lambda m: m["route"].get("operation") == "upload")[0]
        self.assertEqual(up["route"], {"source": "bus", "group": "user", "operation": "upload",
                                       "resource": "$hw/events/upload/foo"})
        self.assertEqual(up["content"], '{"hello":"world"}')
        # what is stored is KubeEdge's rows
        rows = node.query("SELECT deviceid, name, expected, actual, expected_version, actual_version,"
                          " optional, attr_type FROM device_twin")
        self.assertEqual(rows, [("dev1", "temperature", "20", "26", '{"cloud":1,"edge":0}',
                                 '{"cloud":0,"edge":2}', 0, "string")])
        self.assertEqual(node.query("SELECT id, name, state FROM device"), [("dev1", "dev1", "online")])


class TwinRules(Base):
    def setUp(self):
        super().setUp()
        self.n = self.node()
        self.n.membership(added=[device("default/thermo-1", {
            "setpoint": {"expected": {"value": "21"}, "metadata": {"type": "int"},
                         "expected_version": {"cloud": 1, "edge": 0}}})])
        self.answer(f"$hw/events/node/{NODE}/membership/updated")
        self.topic = "$hw/events/device/default/thermo-1/twin"

    def test_versions_and_cloud_report(self):
        self.pub(self.topic + "/update", json.dumps(
            {"event_id": "e1", "timestamp": 1, "twin": {"setpoint": {"actual": {"value": "19"}},
                                                        "humidity": {"actual": {"value": "40"}}}}))
        res = self.answer(self.topic + "/update/result")
        self.assertEqual(sorted(res["twin"]), ["humidity", "setpoint"])
        self.assertNotIn("actual_version", res["twin"]["setpoint"])
        delta = self.answer(self.topic + "/update/delta")
        self.assertEqual(delta["delta"], {"setpoint": "21"})
        rows = dict(self.n.query("SELECT name, actual_version FROM device_twin"))
        self.assertEqual(rows, {"setpoint": '{"cloud":0,"edge":1}', "humidity": '{"cloud":0,"edge":1}'})
        # kept for the cloud (disconnected): HEAD resource with <ns>/<name>
        up = self.n.query("SELECT resource, content FROM edgecore_twin_uplink ORDER BY seq")
        self.assertEqual(up[-1][0], "device/default/thermo-1/twin/edge_updated")
        sent = json.loads(up[-1][1])
        self.assertEqual(sent["twin"]["setpoint"]["actual_version"], {"cloud": 0, "edge": 1})
        # a second update bumps the edge version again
        self.pub(self.topic + "/update", json.dumps(
            {"event_id": "e2", "timestamp": 1, "twin": {"setpoint": {"actual": {"value": "21"}}}}))
        self.answer(self.topic + "/update/result", 2)
        self.assertEqual(self.n.query("SELECT actual_version FROM device_twin WHERE name='setpoint'"),
                         [('{"cloud":0,"edge":2}',)])
        # delete (optional twin) -> null in the result, tombstone row kept
        self.pub(self.topic + "/update", json.dumps({"event_id": "e3", "twin": {"humidity": None}}))
        res = self.answer(self.topic + "/update/result", 3)
        self.assertEqual(res["twin"], {"humidity": None})
        self.assertEqual(self.n.query("SELECT attr_type, actual FROM device_twin WHERE name='humidity'"),
                         [("deleted", None)])
        self.pub(self.topic + "/get", '{"event_id":"g1"}')
        got = self.answer(self.topic + "/get/result")
        self.assertEqual(list(got["twin"]), ["setpoint"])

    def test_cloud_sync_rejected_when_older(self):
        self.pub(self.topic + "/update", json.dumps(
            {"event_id": "e1", "twin": {"setpoint": {"expected": {"value": "25"}}}}))
        self.answer(self.topic + "/update/result")
        # local expected version is now {cloud 1, edge 1}; the cloud's {1, 0} is older
        self.n.to_twin("devicecontroller", "update", "device/default/thermo-1/twin/cloud_updated",
                       {"event_id": "c1", "twin": {"setpoint": {
                           "expected": {"value": "30"}, "metadata": {"type": "int"},
                           "expected_version": {"cloud": 1, "edge": 0}}}})
        time.sleep(0.5)
        self.assertEqual(self.n.query("SELECT expected FROM device_twin WHERE name='setpoint'"), [("25",)])
        up = [json.loads(c) for (c,) in self.n.query(
            "SELECT content FROM edgecore_twin_uplink ORDER BY seq")]
        self.assertEqual(up[-1]["twin"]["setpoint"]["expected"]["value"], "25")
        self.assertEqual(up[-1]["twin"]["setpoint"]["expected_version"], {"cloud": 1, "edge": 1})
        # a newer one is taken, with its version
        self.n.to_twin("devicecontroller", "update", "device/default/thermo-1/twin/cloud_updated",
                       {"event_id": "c2", "twin": {"setpoint": {
                           "expected": {"value": "30"}, "metadata": {"type": "int"},
                           "expected_version": {"cloud": 2, "edge": 1}}}})
        doc = self.answer(self.topic + "/update/document", pred=lambda p: '"30"' in p)
        self.assertEqual(doc["twin"]["setpoint"]["current"]["expected"]["value"], "30")
        self.assertEqual(self.n.query("SELECT expected, expected_version FROM device_twin WHERE name='setpoint'"),
                         [("30", '{"cloud":2,"edge":1}')])


class BadInput(Base):
    def test_bad_input(self):
        n = self.node()
        n.membership(added=[device("dev1", {"count": {"expected": {"value": "1"}, "metadata": {"type": "int"},
                                                       "expected_version": {"cloud": 1, "edge": 0}}})])
        self.answer(f"$hw/events/node/{NODE}/membership/updated")
        t = "$hw/events/device/dev1/twin/update"
        cases = [
            ("not json", 400, "Unmarshal update request body failed, please check the request"),
            ('{"event_id":"x","twin":{"count":{"actual":{"value":5}}}}', 400,
             "Unmarshal update request body failed, please check the request"),
            ('{"event_id":"x","timestamp":"soon","twin":{}}', 400,
             "Unmarshal update request body failed, please check the request"),
            ('{"event_id":"x"}', 400, "Update twin error, key:twin does not exist"),
            ('{"event_id":"x","twin":{"bad key!":{"actual":{"value":"1"}}}}', 400, None),
            ('{"event_id":"x","twin":{"count":{"actual":{"value":"abc"}}}}', 400,
             "the value is not int or integer"),
            ('{"event_id":"x","twin":{"count":{"actual":{"value":"1 2"}}}}', 400, None),
            ('{"event_id":"x","twin":{"unknown":{"foo":1}}}', 400, None),
            ("", 400, None),
        ]
        for i, (payload, code, reason) in enumerate(cases, 1):
            self.pub(t, payload)
            res = self.answer(t + "/result", i)
            self.assertEqual(res["code"], code, payload)
            if reason:
                self.assertEqual(res["reason"], reason, payload)
        # empty and oversized ids: a log line, or an error result; nothing stored
        self.pub("$hw/events/device//twin/update", '{"twin":{}}')
        long_id = "x" * 400
        self.pub(f"$hw/events/device/{long_id}/twin/get", "{}")
        res = self.answer(f"$hw/events/device/{long_id}/twin/get/result")
        self.assertEqual(res["code"], 400)
        self.pub("$hw/events/device/dev1/twin/get", "[1,2")
        self.assertEqual(self.answer("$hw/events/device/dev1/twin/get/result")["code"], 400)
        self.pub("$hw/events/device/dev1/state/update", "{{{")
        self.pub(f"$hw/events/node/{NODE}/membership/get", '{"event_id":7}')
        self.assertEqual(self.answer(f"$hw/events/node/{NODE}/membership/get/result")["code"], 400)
        # malformed cloud messages are logged, not applied
        n.membership(added=[{"id": 5}])
        n.to_twin("devicecontroller", "update", "membership", "not json")
        # the node still serves and nothing changed
        self.pub("$hw/events/device/dev1/twin/get", '{"event_id":"after"}')
        got = self.answer("$hw/events/device/dev1/twin/get/result", pred=lambda p: "after" in p)
        self.assertEqual(got["twin"]["count"]["expected"]["value"], "1")
        self.assertNotIn("actual", got["twin"]["count"])
        self.assertEqual(n.query("SELECT name FROM device_twin"), [("count",)])
        self.assertEqual(n.query("SELECT count(*) FROM device"), [(1,)])
        self.assertIsNone(n.proc.poll())
        self.assertIn("no valid device id", n.output())


class DeepNesting(Base):
    def test_issue9_deep_payloads_on_every_topic(self):
        """issue 9: a payload nested 100,000 deep (200 KB of `[` then `]`) on
        membership/get or state/update overflowed the stack in json-glib
        and stopped the node. Now each is refused, the node answers, and
        the stored twin is intact."""
        n = self.node()
        n.membership(added=[device("dev1", {"count": {"expected": {"value": "1"}, "metadata": {"type": "int"},
                                                       "expected_version": {"cloud": 1, "edge": 0}}})])
        self.answer(f"$hw/events/node/{NODE}/membership/updated")
        deep = "[" * 100000 + "]" * 100000
        deep_in_object = '{"event_id":"d","state":"online","twin":{"count":' + deep + "}}"
        topics = [f"$hw/events/node/{NODE}/membership/get", "$hw/events/device/dev1/state/update",
                  "$hw/events/device/dev1/twin/update", "$hw/events/device/dev1/twin/get"]
        for topic in topics:
            for payload in (deep, deep_in_object):
                pub_stdin(self.broker.port, topic, payload)
        # membership/get and the twin topics answer 400; state/update is logged
        for topic in topics:
            if "state/update" in topic:
                continue
            got = [json.loads(p) for p in self.sub.wait(topic + "/result", 2, timeout=30)[:2]]
            self.assertEqual([g["code"] for g in got], [400, 400], topic)
        n.wait_log("nested too deeply")   # (later lines are rate-limited)
        self.assertIsNone(n.proc.poll())
        # the node still answers, and the twin is as stored
        self.pub("$hw/events/device/dev1/twin/get", '{"event_id":"after"}')
        got = self.answer("$hw/events/device/dev1/twin/get/result", pred=lambda p: "after" in p)
        self.assertEqual(got["twin"]["count"]["expected"]["value"], "1")
        self.assertNotIn("actual", got["twin"]["count"])
        self.pub(f"$hw/events/node/{NODE}/membership/get", '{"event_id":"m"}')
        res = self.answer(f"$hw/events/node/{NODE}/membership/get/result", pred=lambda p: '"m"' in p)
        self.assertEqual([d["id"] for d in res["devices"]], ["dev1"])
        self.assertEqual(n.query("SELECT name, expected FROM device_twin"), [("count", "1")])
        self.assertEqual(n.query("SELECT state FROM device"), [("",)])


    def test_issue9_deep_stored_twin_columns(self):
        """issue 9: devicetwin read its stored version and metadata columns
        with json-glib (dt-store.c) at start. A row holding 100,000 nested
        arrays (written by another program) now loads as if the column were
        unreadable: the node starts and serves the twin's value."""
        n = self.node()
        n.membership(added=[device("dev1", {"count": {"expected": {"value": "1"}, "metadata": {"type": "int"},
                                                       "expected_version": {"cloud": 1, "edge": 0}}})])
        self.answer(f"$hw/events/node/{NODE}/membership/updated")
        n.stop()
        deep = "[" * 100000 + "]" * 100000
        db = sqlite3.connect(n.db, timeout=10)
        db.execute("UPDATE device_twin SET expected_meta=?, expected_version=?, actual_version=?",
                   (deep, deep, deep))
        db.commit()
        db.close()
        n.start()
        self.pub("$hw/events/device/dev1/twin/get", '{"event_id":"after"}')
        got = self.answer("$hw/events/device/dev1/twin/get/result", pred=lambda p: "after" in p)
        self.assertEqual(got["twin"]["count"]["expected"]["value"], "1")
        self.assertIsNone(n.proc.poll())


class Membership(Base):
    def test_10k_devices(self):
        n = self.node(extra="[core]\nlog-level=info\n")
        devices = [device(f"ns/dev-{i}", {"t": {"expected": {"value": "1"},
                                                 "expected_version": {"cloud": 1, "edge": 0}}},
                          description="d")
                   for i in range(10000)]
        # in ten memberships of 1,000 (the control socket takes lines of at
        # most 256 KiB), each acknowledged after its commit, with KubeEdge's
        # ack shape
        for c in range(10):
            n.membership(added=devices[c * 1000:(c + 1) * 1000], msg_id=f"big-membership-{c}")
        for c in range(10):
            ack = n.wait_recorded(lambda m: m["header"].get("parent_msg_id") == f"big-membership-{c}",
                                  timeout=60)[0]
            self.assertEqual(ack["route"]["operation"], "response")
            self.assertEqual(ack["content"], "OK")
        self.assertEqual(n.query("SELECT count(*) FROM device"), [(10000,)])
        self.assertEqual(n.query("SELECT count(*) FROM device_twin"), [(10000,)])
        self.sub.wait(f"$hw/events/node/{NODE}/membership/updated", 10000, timeout=60)
        self.pub(f"$hw/events/node/{NODE}/membership/get", '{"event_id":"m"}')
        res = self.answer(f"$hw/events/node/{NODE}/membership/get/result")
        self.assertEqual(len(res["devices"]), 10000)
        self.assertEqual(res["devices"][0], {"id": "ns/dev-0", "name": "dev-0", "description": "d"})
        # remove three
        n.membership(removed=[device(f"ns/dev-{i}") for i in range(3)])
        got = self.sub.wait(f"$hw/events/node/{NODE}/membership/updated", 10003, timeout=30)
        last = json.loads(got[-1])
        self.assertIsNone(last["added_devices"])
        self.assertEqual(last["removed_devices"][0]["id"], "ns/dev-2")
        time.sleep(0.3)
        self.assertEqual(n.query("SELECT count(*) FROM device"), [(9997,)])
        self.assertEqual(n.query("SELECT count(*) FROM device_twin"), [(9997,)])
        # restart: the devices come back from the database
        n.stop()
        n.start()
        self.pub("$hw/events/device/ns/dev-5/twin/get", '{"event_id":"r"}')
        self.assertEqual(self.answer("$hw/events/device/ns/dev-5/twin/get/result")["twin"]["t"]
                         ["expected"]["value"], "1")

    def test_log_lines_do_not_grow(self):
        n = self.node()
        n.membership(added=[device("d1", {"t": {"expected": {"value": "1"},
                                                  "expected_version": {"cloud": 1, "edge": 0}}})])
        self.answer(f"$hw/events/node/{NODE}/membership/updated")
        time.sleep(0.3)
        before = len(n.output().splitlines())
        for i in range(300):
            self.pub("$hw/events/device/d1/twin/update",
                     json.dumps({"event_id": str(i), "twin": {"t": {"actual": {"value": str(i)}}}}))
        self.answer("$hw/events/device/d1/twin/update/result", 300)
        self.assertLessEqual(len(n.output().splitlines()) - before, 2, n.output())


class OfflineUplink(Base):
    def test_offline_update_reaches_cloud_after_reconnect(self):
        n = self.node(auto_ack=True)
        n.membership(added=[device("default/pump", {"speed": {"expected": {"value": "5"},
                                                              "expected_version": {"cloud": 1, "edge": 0}}})])
        self.answer(f"$hw/events/node/{NODE}/membership/updated")
        t = "$hw/events/device/default/pump/twin/update"
        for v in ("1", "2"):
            self.pub(t, json.dumps({"event_id": v, "twin": {"speed": {"actual": {"value": v}}}}))
        self.answer(t + "/result", 2)
        self.pub("$hw/events/device/default/pump/state/update", '{"state":"online"}')
        self.answer("$hw/events/device/default/pump/state/update/result")
        time.sleep(0.3)
        # started disconnected: nothing went up, all is kept on disk
        self.assertEqual([m for m in n.recorded() if m["route"].get("source") == "twin"
                          and m["route"].get("operation") == "update"], [])
        self.assertEqual(n.query("SELECT count(*) FROM edgecore_twin_uplink"), [(3,)])
        # survives a restart
        n.stop()
        n.start()
        n.cloud(True)
        ups = n.wait_recorded(lambda m: m["route"].get("source") == "twin"
                              and m["route"].get("operation") == "update", count=3)
        self.assertEqual([m["route"]["resource"] for m in ups],
                         ["device/default/pump/twin/edge_updated"] * 2 + ["device/default/pump/state/update"])
        self.assertEqual([m["content"]["twin"]["speed"]["actual"]["value"] for m in ups[:2]], ["1", "2"])
        self.assertEqual(ups[0]["route"]["group"], "resource")
        self.assertIsInstance(ups[2]["content"], str)
        self.assertEqual(json.loads(ups[2]["content"])["device"]["state"], "online")
        detail = n.wait_recorded(lambda m: m["route"].get("resource") == "membership/detail")[0]
        self.assertEqual(detail["route"]["operation"], "get")
        self.assertEqual(json.loads(detail["content"])["group_id"], NODE)
        # confirmed by the cloud -> forgotten
        deadline = time.time() + 10
        while n.query("SELECT count(*) FROM edgecore_twin_uplink") != [(0,)] and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(n.query("SELECT count(*) FROM edgecore_twin_uplink"), [(0,)])
        # connected: sent at once
        self.pub(t, json.dumps({"event_id": "3", "twin": {"speed": {"actual": {"value": "3"}}}}))
        n.wait_recorded(lambda m: m["route"].get("resource") == "device/default/pump/twin/edge_updated"
                        and m["content"]["twin"]["speed"]["actual"]["value"] == "3")
        # disconnected again: kept, then sent on the next connect
        n.cloud(False)
        self.pub(t, json.dumps({"event_id": "4", "twin": {"speed": {"actual": {"value": "4"}}}}))
        self.answer(t + "/result", 4)
        time.sleep(0.3)
        self.assertEqual(len([m for m in n.recorded() if m["route"].get("resource", "").endswith("edge_updated")
                              and m["content"]["twin"]["speed"]["actual"]["value"] == "4"]), 0)
        n.cloud(True)
        n.wait_recorded(lambda m: m["route"].get("resource", "").endswith("edge_updated")
                        and m["content"]["twin"]["speed"]["actual"]["value"] == "4")

    def test_kept_messages_go_before_new_ones_after_reconnect(self):
        """The kept messages are read off the main loop on connect; one made
        right after the connect still reaches the cloud after them."""
        n = self.node(auto_ack=False)
        n.membership(added=[device("default/fan", {"rpm": {"expected": {"value": "0"}}})])
        self.answer(f"$hw/events/node/{NODE}/membership/updated")
        t = "$hw/events/device/default/fan/twin/update"
        for v in range(1, 41):
            self.pub(t, json.dumps({"event_id": str(v), "twin": {"rpm": {"actual": {"value": str(v)}}}}))
        self.answer(t + "/result", 40)
        n.cloud(True)
        self.pub(t, json.dumps({"event_id": "41", "twin": {"rpm": {"actual": {"value": "41"}}}}))
        ups = n.wait_recorded(lambda m: m["route"].get("resource", "").endswith("edge_updated"), count=41)
        self.assertEqual([int(m["content"]["twin"]["rpm"]["actual"]["value"]) for m in ups],
                         list(range(1, 42)))
        # a second connect sends the unconfirmed ones again, once each, in order
        n.cloud(False)
        n.cloud(True)
        ups = n.wait_recorded(lambda m: m["route"].get("resource", "").endswith("edge_updated"), count=82)
        time.sleep(0.3)
        ups = [m for m in n.recorded() if m["route"].get("resource", "").endswith("edge_updated")]
        self.assertEqual([int(m["content"]["twin"]["rpm"]["actual"]["value"]) for m in ups[41:]],
                         list(range(1, 42)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
