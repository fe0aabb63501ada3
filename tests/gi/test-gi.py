#!/usr/bin/python3
"""GObject Introspection test of libedgecore-1 (typelib EdgeCore-1.0).

Builds messages through the introspected API, encodes them with to_json(),
decodes them with Message.new_from_json() and compares every field; checks
that bad input raises GLib.Error in the EdgeCore message error domain.

Run with GI_TYPELIB_PATH and LD_LIBRARY_PATH pointing at build/plugin-api,
or give that directory as the first argument and the script sets both and
re-executes itself:

    /usr/bin/python3 tests/gi/test-gi.py build/plugin-api
"""

import json
import os
import re
import sys
import unittest


def _reexec_with_env():
    """If a directory is given on the command line, put it on the typelib and
    library search paths. LD_LIBRARY_PATH is only read at process start, so
    the script runs itself again with the new environment."""
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        return
    libdir = os.path.abspath(sys.argv.pop(1))
    if os.environ.get("EC_GI_TEST_REEXEC") == libdir:
        return
    env = dict(os.environ)
    for var in ("GI_TYPELIB_PATH", "LD_LIBRARY_PATH"):
        env[var] = libdir + (os.pathsep + env[var] if env.get(var) else "")
    env["EC_GI_TEST_REEXEC"] = libdir
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)


_reexec_with_env()

import gi  # noqa: E402

gi.require_version("GLib", "2.0")
gi.require_version("Json", "1.0")
gi.require_version("EdgeCore", "1.0")
from gi.repository import EdgeCore, GLib, Json  # noqa: E402,F401

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

MESSAGE_ERROR_DOMAIN = GLib.quark_to_string(EdgeCore.message_error_quark())

# EcMessageError codes as the C header defines them.
EC_MESSAGE_ERROR_INVALID_JSON = 0
EC_MESSAGE_ERROR_INVALID_FIELD = 1


def to_json(message):
    """Message.to_json() returns (text, length); check the length and return the text."""
    text, length = message.to_json()
    assert length == len(text.encode("utf-8")), (length, text)
    return text


def fields(message):
    """Every field of a message, content as its exact JSON text."""
    content, length = message.get_content_json()
    assert length == len(content.encode("utf-8"))
    return {
        "msg_id": message.get_id(),
        "parent_msg_id": message.get_parent_id(),
        "timestamp": message.get_timestamp(),
        "resourceversion": message.get_resource_version(),
        "sync": message.get_sync(),
        "type": message.get_message_type(),
        "source": message.get_source(),
        "destination": message.get_destination(),
        "group": message.get_group(),
        "operation": message.get_operation(),
        "resource": message.get_resource(),
        "content": content,
    }


def round_trip(message):
    text = to_json(message)
    return text, EdgeCore.Message.new_from_json(text.encode("utf-8"))


class ConstantsTest(unittest.TestCase):
    def test_versions(self):
        self.assertEqual(EdgeCore.PLUGIN_ABI_MAJOR, 1)
        self.assertGreaterEqual(EdgeCore.PLUGIN_ABI_MINOR, 0)
        self.assertEqual(EdgeCore.PLUGIN_DESCRIPTOR_SYMBOL, "ec_plugin_descriptor")
        self.assertRegex(EdgeCore.VERSION, r"^\d+\.\d+\.\d+")
        self.assertRegex(EdgeCore.KUBEEDGE_VERSION, r"^v\d+\.\d+")

    def test_operations(self):
        self.assertEqual(EdgeCore.OP_INSERT, "insert")
        self.assertEqual(EdgeCore.OP_RESPONSE, "response")
        self.assertEqual(EdgeCore.OP_KEEPALIVE, "keepalive")

    def test_uuid(self):
        a, b = EdgeCore.new_uuid(), EdgeCore.new_uuid()
        self.assertRegex(a, UUID_RE)
        self.assertNotEqual(a, b)

    def test_error_domains(self):
        self.assertEqual(MESSAGE_ERROR_DOMAIN, "ec-message-error-quark")
        self.assertEqual(GLib.quark_to_string(EdgeCore.bus_error_quark()), "ec-bus-error-quark")

    def test_error_enum_names(self):
        # Names follow the C identifiers: EC_MESSAGE_ERROR_INVALID_JSON is
        # EdgeCore.MessageError.INVALID_JSON. Without a GType for the enum,
        # g-ir-scanner strips the members' common prefix "INVALID_" and
        # they become MessageError.JSON and .FIELD.
        self.assertTrue(
            hasattr(EdgeCore.MessageError, "INVALID_JSON"),
            "EdgeCore.MessageError has members %s, not INVALID_JSON/INVALID_FIELD: register "
            "a GType for EcMessageError (G_DEFINE_ENUM_TYPE with nicks invalid-json, "
            "invalid-field) so that g-ir-scanner takes the member names from it"
            % sorted(k for k in vars(EdgeCore.MessageError) if k.isupper()))
        self.assertEqual(int(EdgeCore.MessageError.INVALID_JSON), EC_MESSAGE_ERROR_INVALID_JSON)
        self.assertEqual(int(EdgeCore.MessageError.INVALID_FIELD), EC_MESSAGE_ERROR_INVALID_FIELD)
        self.assertEqual(int(EdgeCore.BusError.UNKNOWN_DESTINATION), 0)
        self.assertEqual(int(EdgeCore.BusError.TIMEOUT), 2)
        self.assertEqual(int(EdgeCore.BusError.CLOSED), 4)


class JsonReaderTest(unittest.TestCase):
    """The JSON reader of ABI 1.1 through introspection."""

    def test_parse(self):
        node = EdgeCore.json_parse(b'{"a":[1,"x",null],"b":2.5}', 0, 0)
        self.assertEqual(node.get_node_type(), Json.NodeType.OBJECT)
        obj = node.get_object()
        self.assertEqual(obj.get_array_member("a").get_length(), 3)
        self.assertEqual(obj.get_double_member("b"), 2.5)

    def test_limits_and_errors(self):
        deep = b"[" * 100000 + b"]" * 100000
        with self.assertRaises(GLib.Error) as cm:
            EdgeCore.json_parse(deep, 0, 0)
        self.assertEqual(cm.exception.domain, "ec-json-error-quark")
        self.assertEqual(cm.exception.code, int(EdgeCore.JsonError.DEPTH))
        self.assertIn("nested too deeply", cm.exception.message)
        self.assertTrue(EdgeCore.json_validate(b"[[1]]", 2, 0))
        with self.assertRaises(GLib.Error) as cm:
            EdgeCore.json_validate(b"[[1]]", 1, 0)
        with self.assertRaises(GLib.Error) as cm:
            EdgeCore.json_validate(b"[1]", 0, 2)
        self.assertEqual(cm.exception.code, int(EdgeCore.JsonError.SIZE))
        with self.assertRaises(GLib.Error) as cm:
            EdgeCore.json_parse(b'"a\\u0000b"', 0, 0)
        self.assertEqual(cm.exception.code, int(EdgeCore.JsonError.NUL))

    def test_escape(self):
        self.assertEqual(EdgeCore.json_escape('a"<b>\n'), '"a\\"\\u003cb\\u003e\\n"')
        self.assertEqual(EdgeCore.json_decode_string(b' "x\\ty" '), "x\ty")

class EndpointApiTest(unittest.TestCase):
    def test_flow_control_is_introspected(self):
        # libedgecore 1.1: waiting sends, pause/resume, group drops by name
        for name in ("send_when_ready", "send_to_group_when_ready", "send_to_group_full",
                     "get_waiting", "pause", "resume", "is_paused"):
            self.assertTrue(callable(getattr(EdgeCore.Endpoint, name, None)), name)

    def test_bus_stats_is_introspected(self):
        # libedgecore 1.2: the bus's counters, a GVariant of BUS_STATS_TYPE
        self.assertTrue(callable(getattr(EdgeCore.Endpoint, "get_bus_stats", None)))
        self.assertEqual(EdgeCore.BUS_STATS_TYPE, "a(ssttttuu)")
        self.assertTrue(GLib.VariantType.string_is_valid(EdgeCore.BUS_STATS_TYPE))

    def test_metrics_are_introspected(self):
        # libedgecore 1.3: metrics registered on an endpoint, read as a
        # GVariant of METRICS_TYPE
        for name in ("add_metric", "get_metrics", "foreach_metric"):
            self.assertTrue(callable(getattr(EdgeCore.Endpoint, name, None)), name)
        for name in ("add", "set", "get"):
            self.assertTrue(callable(getattr(EdgeCore.Metric, name, None)), name)
        self.assertEqual(EdgeCore.METRICS_TYPE, "a(ssssa(ss)x)")
        self.assertTrue(GLib.VariantType.string_is_valid(EdgeCore.METRICS_TYPE))
        # an empty reading has the documented type
        empty = GLib.Variant(EdgeCore.METRICS_TYPE, [])
        self.assertEqual(empty.get_type_string(), EdgeCore.METRICS_TYPE)
        self.assertEqual(int(EdgeCore.MetricKind.COUNTER), 0)
        self.assertEqual(int(EdgeCore.MetricKind.GAUGE), 1)
        self.assertEqual(EdgeCore.MetricKind.GAUGE.value_nick, "gauge")

    def test_metric_names(self):
        self.assertTrue(EdgeCore.metric_name_is_valid("edgecore_cloud_connects_total"))
        for bad in ("", "1x", "a-b", "a:b", "__x", "x" * 201):
            self.assertFalse(EdgeCore.metric_name_is_valid(bad), bad)
        self.assertTrue(EdgeCore.metric_label_name_is_valid("reason"))
        for bad in ("module", "__name__", "a.b", ""):
            self.assertFalse(EdgeCore.metric_label_name_is_valid(bad), bad)


class MessageTest(unittest.TestCase):
    def test_new(self):
        before = GLib.get_real_time() // 1000
        m = EdgeCore.Message.new("edged", "meta", "insert", "default/pod/nginx")
        after = GLib.get_real_time() // 1000
        self.assertRegex(m.get_id(), UUID_RE)
        self.assertTrue(before <= m.get_timestamp() <= after)
        self.assertEqual(m.get_source(), "edged")
        self.assertEqual(m.get_group(), "meta")
        self.assertEqual(m.get_operation(), "insert")
        self.assertEqual(m.get_resource(), "default/pod/nginx")
        self.assertEqual(m.get_parent_id(), "")
        self.assertEqual(m.get_destination(), "")
        self.assertFalse(m.get_sync())
        self.assertFalse(m.is_frozen())
        self.assertEqual(m.get_content_json(), ("null", 4))

    def test_new_nullable_route(self):
        m = EdgeCore.Message.new(None, None, None, None)
        self.assertEqual((m.get_source(), m.get_group(), m.get_operation(), m.get_resource()),
                         ("", "", "", ""))
        self.assertEqual(json.loads(to_json(m))["route"], {})

    def test_round_trip_all_fields_json_content(self):
        m = EdgeCore.Message.new("metamanager", "resource", "update", "ns/configmap/cm-1")
        m.set_id("0f3c1d0e-7d3f-4e4c-9a55-12ab34cd56ef")
        m.set_parent_id("a1b2c3d4-0000-4000-8000-000000000001")
        m.set_timestamp(1717171717123)
        m.set_resource_version("4242")
        m.set_sync(True)
        m.set_message_type("resource")
        m.set_destination("edged")
        content = '{"data":{"k":"v","n":[1,2.5,true,null]},"s":"caf\\u00e9 \\"q\\""}'
        self.assertTrue(m.set_content_json(content, -1))
        want = {
            "msg_id": "0f3c1d0e-7d3f-4e4c-9a55-12ab34cd56ef",
            "parent_msg_id": "a1b2c3d4-0000-4000-8000-000000000001",
            "timestamp": 1717171717123,
            "resourceversion": "4242",
            "sync": True,
            "type": "resource",
            "source": "metamanager",
            "destination": "edged",
            "group": "resource",
            "operation": "update",
            "resource": "ns/configmap/cm-1",
            "content": content,
        }
        self.assertEqual(fields(m), want)
        text, back = round_trip(m)
        self.assertEqual(fields(back), want)
        # The content travels as the exact text it was given.
        self.assertIn('"content":' + content + "}", text)
        # And the wire form is KubeEdge's: header, route, content.
        doc = json.loads(text)
        self.assertEqual(list(doc), ["header", "route", "content"])
        self.assertEqual(list(doc["header"]),
                         ["msg_id", "parent_msg_id", "timestamp", "resourceversion", "sync", "type"])
        self.assertEqual(list(doc["route"]), ["source", "destination", "group", "operation", "resource"])
        self.assertEqual(doc["content"], json.loads(content))

    def test_round_trip_string_content(self):
        m = EdgeCore.Message.new("hello", "hello", "ping", "hello/world")
        text_in = 'héllo "wörld"\n\ttab \\ back 中文 \u2028'
        m.set_content_string(text_in)
        self.assertEqual(m.dup_content_string(), text_in)
        self.assertEqual(json.loads(m.get_content_json()[0]), text_in)
        text, back = round_trip(m)
        self.assertEqual(fields(back), fields(m))
        self.assertEqual(back.dup_content_string(), text_in)
        self.assertEqual(json.loads(text)["content"], text_in)
        node = back.get_content_node()
        self.assertEqual(node.get_node_type(), Json.NodeType.VALUE)
        self.assertEqual(node.get_string(), text_in)

    def test_null_content_string(self):
        m = EdgeCore.Message.new("a", "b", "c", "d")
        m.set_content_string("x")
        m.set_content_string(None)
        self.assertEqual(m.get_content_json(), ("null", 4))

    def test_empty_fields_are_omitted(self):
        m = EdgeCore.Message.new("a", None, "query", None)
        m.set_timestamp(7)
        doc = json.loads(to_json(m))
        self.assertEqual(doc["header"], {"msg_id": m.get_id(), "timestamp": 7})
        self.assertEqual(doc["route"], {"source": "a", "operation": "query"})
        self.assertIsNone(doc["content"])
        _, back = round_trip(m)
        self.assertEqual(fields(back), fields(m))

    def test_decode_go_style(self):
        # Go's encoding/json: case-insensitive keys, unknown keys ignored,
        # null leaves a field empty.
        text = ('{"Header":{"MSG_ID":"id-1","timestamp":12,"sync":null,"extra":[1,{}]},'
                '"ROUTE":{"Source":"edgehub","resource":null},"content":"x","more":1}')
        m = EdgeCore.Message.new_from_json(text.encode())
        self.assertEqual(m.get_id(), "id-1")
        self.assertEqual(m.get_timestamp(), 12)
        self.assertFalse(m.get_sync())
        self.assertEqual(m.get_source(), "edgehub")
        self.assertEqual(m.get_resource(), "")
        self.assertEqual(m.get_content_json()[0], '"x"')

    def test_copy(self):
        m = EdgeCore.Message.new("a", "b", "c", "d")
        m.set_content_json("[1, 2]", -1)
        m.freeze()
        self.assertTrue(m.is_frozen())
        c = m.copy()
        self.assertFalse(c.is_frozen())
        self.assertEqual(fields(c), fields(m))

    def test_new_response(self):
        req = EdgeCore.Message.new("hello", "hello", "query", "hello/greeting")
        req.set_message_type("t")
        reply = req.new_response('"OK"')
        self.assertNotEqual(reply.get_id(), req.get_id())
        self.assertEqual(reply.get_parent_id(), req.get_id())
        self.assertEqual(reply.get_operation(), EdgeCore.OP_RESPONSE)
        self.assertEqual(reply.get_source(), "hello")
        self.assertEqual(reply.get_group(), "hello")
        self.assertEqual(reply.get_resource(), "hello/greeting")
        self.assertEqual(reply.get_message_type(), "t")
        self.assertEqual(reply.dup_content_string(), "OK")
        _, back = round_trip(reply)
        self.assertEqual(fields(back), fields(reply))

    def test_new_error(self):
        req = EdgeCore.Message.new("hello", "hello", "query", "r")
        err = req.new_error("it broke")
        self.assertEqual(err.get_parent_id(), req.get_id())
        self.assertEqual(err.get_operation(), EdgeCore.OP_ERROR)
        self.assertEqual(err.dup_content_string(), "it broke")


class ErrorTest(unittest.TestCase):
    def assert_message_error(self, cm, code):
        err = cm.exception
        self.assertIsInstance(err, GLib.Error)
        self.assertEqual(err.domain, MESSAGE_ERROR_DOMAIN)
        self.assertTrue(err.matches(EdgeCore.message_error_quark(), code), (err.domain, err.code))
        self.assertTrue(err.message)

    def test_invalid_json(self):
        for bad in (b"", b"{", b"{bad", b'{"header":{"msg_id":"x"}', b'{"route":{}} trailing',
                    b'{"content":tru}', b'{"header":{"msg_id":"\\x"}}'):
            with self.subTest(bad=bad):
                with self.assertRaises(GLib.Error) as cm:
                    EdgeCore.Message.new_from_json(bad)
                self.assert_message_error(cm, EC_MESSAGE_ERROR_INVALID_JSON)

    def test_invalid_field(self):
        for bad in (b'{"header":{"msg_id":5}}', b'{"header":{"timestamp":"now"}}',
                    b'{"header":{"sync":"yes"}}', b'{"route":[]}', b'{"route":{"source":true}}',
                    b"[1,2]"):
            with self.subTest(bad=bad):
                with self.assertRaises(GLib.Error) as cm:
                    EdgeCore.Message.new_from_json(bad)
                self.assert_message_error(cm, EC_MESSAGE_ERROR_INVALID_FIELD)

    def test_invalid_content(self):
        m = EdgeCore.Message.new("a", "b", "c", "d")
        m.set_content_json('{"ok":1}', -1)
        for bad in ("{", '{"a":}', "1 2", "nul", ""):
            with self.subTest(bad=bad):
                with self.assertRaises(GLib.Error) as cm:
                    m.set_content_json(bad, -1)
                self.assert_message_error(cm, EC_MESSAGE_ERROR_INVALID_JSON)
        # A refused content leaves the old one in place.
        self.assertEqual(m.get_content_json()[0], '{"ok":1}')


class CodecTest(unittest.TestCase):
    """base64url and MQTT topics (libedgecore 1.1) through introspection."""

    def test_base64url(self):
        self.assertEqual(EdgeCore.base64url_encode(b"\xfb\xff", True), "-_8=")
        self.assertEqual(EdgeCore.base64url_encode(b"\xfb\xff", False), "-_8")
        self.assertEqual(bytes(EdgeCore.base64url_decode("-_8")), b"\xfb\xff")
        with self.assertRaises(GLib.Error) as cm:
            EdgeCore.base64url_decode("+/8=")
        self.assertEqual(cm.exception.domain, "ec-codec-error-quark")

    def test_mqtt_topics(self):
        topic = "$hw/events/device/ns/dev-1/twin/update"
        resource = EdgeCore.mqtt_topic_to_resource(topic)
        self.assertEqual(resource, "JGh3L2V2ZW50cy9kZXZpY2UvbnMvZGV2LTEvdHdpbi91cGRhdGU=")
        self.assertEqual(EdgeCore.mqtt_topic_from_resource(resource), topic)
        self.assertTrue(EdgeCore.mqtt_topic_matches("$hw/events/device/+/+/twin/+", topic))
        self.assertFalse(EdgeCore.mqtt_topic_matches("#", topic))
        self.assertTrue(EdgeCore.mqtt_topic_validate_filter("a/+/#"))
        with self.assertRaises(GLib.Error):
            EdgeCore.mqtt_topic_validate("a/+")


if __name__ == "__main__":
    unittest.main(verbosity=2)
