#!/usr/bin/env python3
"""The edgecore host as an operator and a plugin author meet it: the program,
its conf.d files, real plugin .so files and its control socket."""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

BIN = os.environ["EDGECORE_BIN"]
PLUGINS = os.environ["EDGECORE_TEST_PLUGINS"]
MAIN, BROKEN, DUP = (os.path.join(PLUGINS, d) for d in ("main", "broken", "dup"))
# the host's plugin ABI minor (meson.build's abi_minor); the test plugins
# "newer", "newminor" and "needsnewer" are built for the minors above it
MINOR = int(os.environ["EDGECORE_ABI_MINOR"])
CUR, NEXT, NEXT2 = (f"1.{MINOR + i}" for i in range(3))
CUR_RE, NEXT_RE = (v.replace(".", r"\.") for v in (CUR, NEXT))


class Node:
    """One edgecore process with its own conf.d and control socket."""

    def __init__(self, test, files, plugin_dirs=(MAIN,), env=None):
        self.dir = tempfile.TemporaryDirectory(prefix="ec-host-")
        test.addCleanup(self.close)
        self.confd = os.path.join(self.dir.name, "conf.d")
        os.mkdir(self.confd)
        self.sock = os.path.join(self.dir.name, "ctl.sock")
        files = dict(files)
        files.setdefault("00-test.conf",
                         f"[core]\ncontrol-socket={self.sock}\ndata-dir={self.dir.name}\n"
                         "stop-timeout=2\nnode-name=edge-test\n")
        for name, text in files.items():
            with open(os.path.join(self.confd, name), "w") as f:
                f.write(text)
        self.args = [BIN, "--config-dir", self.confd]
        for d in plugin_dirs:
            self.args += ["--plugin-dir", d]
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.log_path = os.path.join(self.dir.name, "stderr.log")

    def run(self, *extra, timeout=30):
        return subprocess.run(self.args + list(extra), capture_output=True, text=True,
                              timeout=timeout, env=self.env)

    def start(self):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env)
        deadline = time.time() + 20
        while time.time() < deadline:
            if os.path.exists(self.sock):
                return self
            if self.proc.poll() is not None:
                raise AssertionError("edgecore exited early:\n" + self.output())
            time.sleep(0.05)
        raise AssertionError("no control socket:\n" + self.output())

    def ctl(self, command, timeout=10):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            s.sendall(command.encode() + b"\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.decode()

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, pattern, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, self.output()):
                return
            time.sleep(0.05)
        raise AssertionError(f"log never matched {pattern!r}:\n" + self.output())

    def stop(self, sig=signal.SIGTERM, timeout=20):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.dir.cleanup()


def message(op="ping", resource="r", content=None, msg_id=None, source="edgecore-ctl"):
    m = {"header": {"msg_id": msg_id or f"id-{time.time_ns()}", "timestamp": 1},
         "route": {"source": source, "group": "test", "operation": op, "resource": resource},
         "content": content}
    return json.dumps(m)


class Version(unittest.TestCase):
    def test_version(self):
        out = subprocess.run([BIN, "--version"], capture_output=True, text=True, check=True).stdout
        self.assertRegex(out, r"edgecore \d+\.\d+\.\d+")
        self.assertIn(f"plugin ABI {CUR}", out)
        self.assertRegex(out, r"KubeEdge v1\.\d+")

    def test_help(self):
        out = subprocess.run([BIN, "--help"], capture_output=True, text=True, check=True,
                             env=dict(os.environ, LANG="C", LANGUAGE="")).stdout
        for opt in ("--config-dir", "--plugin-dir", "--list-plugins", "--dump-config",
                    "--check-config", "--version"):
            self.assertIn(opt, out)

    def test_bad_option(self):
        r = subprocess.run([BIN, "--no-such-option"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--no-such-option", r.stderr)


class ListPlugins(unittest.TestCase):
    def test_states_and_reasons(self):
        node = Node(self, {"10-p.conf": "[alpha]\nenable=true\n[beta]\nenable=true\n"},
                    plugin_dirs=(MAIN, BROKEN, DUP))
        r = node.run("--list-plugins")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = {}
        for line in r.stdout.splitlines()[1:]:
            if not line.startswith(" "):
                cols = line.split()
                key = (cols[0], cols[4])
                rows[key] = [cols, []]
            else:
                rows[key][1].append(line.strip())
        def row(name, d):
            base = name[:-3] if name.endswith(".so") else name
            return rows[(name, os.path.join(d, base + ".so"))]
        cols, notes = row("alpha", MAIN)
        self.assertEqual(cols[1:4], ["1.0", CUR, "enabled"])
        self.assertIn("test plugin alpha", notes)
        cols, notes = row("beta", MAIN)
        self.assertEqual(cols[3], "enabled")
        cols, notes = row("delta", MAIN)
        self.assertEqual(cols[3], "disabled")
        self.assertIn("why: enable=false", notes)
        cols, notes = row("alpha", DUP)
        self.assertEqual(cols[1], "9.9")
        self.assertEqual(cols[3], "shadowed")
        self.assertTrue(any("already taken by " + os.path.join(MAIN, "alpha.so") in n for n in notes))
        # a plugin of another ABI is named by its file: its descriptor is not read
        cols, notes = row("badabi.so", BROKEN)
        self.assertEqual(cols[2:4], ["2.0", "rejected"])
        self.assertTrue(any("built for plugin ABI 2.0" in n and "supports 1.0" in n for n in notes), notes)
        cols, notes = row("newminor.so", BROKEN)
        self.assertEqual(cols[3], "rejected")
        self.assertTrue(any(f"built for plugin ABI {NEXT}, newer than this host's {CUR}" in n for n in notes), notes)
        # a plugin that says it needs a newer host than this one
        cols, notes = row("needsnewer.so", BROKEN)
        self.assertEqual(cols[2:4], [NEXT2, "rejected"])
        self.assertTrue(any(f"needs a host of plugin ABI {NEXT} or newer (built for {NEXT2}); this host is {CUR}" in n
                            for n in notes), notes)
        # a plugin of ABI 1.0 (the 1.0 descriptor layout) loads
        cols, notes = row("oldabi", MAIN)
        self.assertEqual(cols[2:4], ["1.0", "disabled"])
        # a plugin built for the next minor that runs on this host loads
        cols, notes = row("newer", MAIN)
        self.assertEqual(cols[2:4], [NEXT, "disabled"])
        cols, notes = row("nodesc.so", BROKEN)
        self.assertEqual(cols[3], "rejected")
        self.assertTrue(any("exports no “ec_plugin_descriptor” symbol" in n for n in notes), notes)
        cols, notes = row("badkey", BROKEN)
        self.assertTrue(any("wrong type" in n for n in notes), notes)
        # one clear log line per refused file, naming it and both versions
        self.assertRegex(r.stdout + r.stderr,
                         r"plugin \S*broken/badabi\.so refused: built for plugin ABI 2\.0; this host supports 1\.0")
        self.assertRegex(r.stderr, r"plugin alpha: using \S*main/alpha\.so, ignoring \S*dup/alpha\.so")

    def test_precedence_env_and_config(self):
        # EDGECORE_PLUGIN_PATH ranks below --plugin-dir, [core] plugin-dirs below both
        node = Node(self, {"10-p.conf": f"[core]\nplugin-dirs={MAIN}\n"}, plugin_dirs=(),
                    env={"EDGECORE_PLUGIN_PATH": DUP})
        out = node.run("--list-plugins").stdout
        self.assertRegex(out, rf"alpha\s+9\.9\s+{CUR_RE}\s+disabled\s+\S*dup/alpha\.so")
        self.assertRegex(out, rf"alpha\s+1\.0\s+{CUR_RE}\s+shadowed\s+\S*main/alpha\.so")

    def test_dependency_on_disabled(self):
        node = Node(self, {"10-p.conf": "[beta]\nenable=true\n"})
        out = node.run("--list-plugins").stdout
        self.assertRegex(out, rf"beta\s+1\.0\s+{CUR_RE}\s+rejected")
        self.assertIn("requires plugin alpha, which is disabled", out)


class CheckConfig(unittest.TestCase):
    def check(self, files):
        node = Node(self, files)
        r = node.run("--check-config")
        return node, r

    def test_ok(self):
        node, r = self.check({"10-a.conf": "[alpha]\nenable=true\nanswer=x\n"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)

    def test_syntax_error(self):
        node, r = self.check({"20-bad.conf": "[alpha]\nenable=true\noops\n"})
        self.assertEqual(r.returncode, 1)
        self.assertIn(os.path.join(node.confd, "20-bad.conf") + ":3: error:", r.stderr)

    def test_wrong_type(self):
        node, r = self.check({"20-bad.conf": "[alpha]\nenable=true\nstop-sleep=soon\n"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("20-bad.conf:3: error: [alpha] stop-sleep=soon: expected an integer", r.stderr)

    def test_wrong_type_core(self):
        node, r = self.check({"20-bad.conf": "[core]\nbus-queue-length=lots\n"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("20-bad.conf:2: error: [core] bus-queue-length=lots", r.stderr)

    def test_unknown_section_and_key(self):
        node, r = self.check({"20-x.conf": "[alpah]\nenable=true\n[alpha]\ncolour=red\n"})
        self.assertEqual(r.returncode, 0, r.stderr)  # warnings only
        self.assertIn("20-x.conf:1: warning: unknown section [alpah]", r.stderr)
        self.assertIn("20-x.conf:4: warning: unknown key “colour” in [alpha]", r.stderr)

    def test_missing_required_key(self):
        # core's [database] data-source may not be empty-required; use a plugin key set empty
        node, r = self.check({"20-x.conf": "[alpha]\nenable=true\n[core]\nlog-level=loud\n"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("20-x.conf:4: error: [core] log-level=loud", r.stderr)

    def test_core_ranges_and_node_name(self):
        node, r = self.check({"20-x.conf": "[core]\nbus-queue-length=0\nnode-name=Edge_Node\n"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("20-x.conf:2: error: [core] bus-queue-length=0: expected an integer from 1 to 1048576",
                      r.stderr)
        self.assertIn("20-x.conf:3: error: [core] node-name=Edge_Node: not a valid node name", r.stderr)
        node, r = self.check({"20-x.conf": "[core]\nnode-name=" + "a" * 254 + "\n"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("20-x.conf:2: error: [core] node-name=", r.stderr)
        node, r = self.check({"20-x.conf": "[core]\nbus-queue-length=1048576\nnode-name=edge-2.example\n"})
        self.assertEqual(r.returncode, 0, r.stderr)
        # a run refuses to start on them, as KubeEdge's edgecore does
        node = Node(self, {"20-x.conf": "[core]\nnode-name=Edge_Node\n"})
        r = node.run(timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not starting", r.stderr)
        self.assertFalse(os.path.exists(node.sock))

    def test_missing_config_dir(self):
        node = Node(self, {})
        missing = os.path.join(node.dir.name, "no-such-dir")
        r = subprocess.run(node.args + ["--config-dir", missing, "--check-config"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{missing}: error: --config-dir: no such directory", r.stderr)
        r = subprocess.run(node.args + ["--config-dir", missing], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not starting", r.stderr)


class DumpConfig(unittest.TestCase):
    def test_origins(self):
        node = Node(self, {"10-a.conf": "[alpha]\nenable=true\n", "20-b.conf": "[alpha]\nanswer=7\n"})
        r = node.run("--dump-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertIn(f"# {node.confd}/10-a.conf:2\nenable=true\n", out)
        self.assertIn(f"# {node.confd}/20-b.conf:2\nanswer=7\n", out)
        self.assertIn("# default\nfail-init=false\n", out)
        self.assertIn("# default\ndata-source=/var/lib/kubeedge/edgecore.db\n", out)
        self.assertIn("node-name=edge-test\n", out)

    def test_masking(self):
        node = Node(self, {"10-a.conf": "[alpha]\nenable=true\n"})
        os.symlink("/dev/null", os.path.join(node.confd, "10-a.conf.tmp"))
        higher = os.path.join(node.dir.name, "higher")
        os.mkdir(higher)
        os.symlink("/dev/null", os.path.join(higher, "10-a.conf"))
        r = subprocess.run(node.args + ["--config-dir", higher, "--dump-config"],
                           capture_output=True, text=True, env=node.env)
        self.assertIn("# default\nenable=false\n", r.stdout.split("[alpha]")[1])


class Running(unittest.TestCase):
    def test_bus_roundtrip_and_bad_input(self):
        node = Node(self, {"10-p.conf": "[alpha]\nenable=true\nanswer=pong\n[beta]\nenable=true\n"}).start()
        node.wait_log(r"beta: started")
        members = node.ctl("members")
        self.assertTrue(members.startswith("ok\n"), members)
        self.assertRegex(members, r"\nalpha\s+test\s")
        self.assertRegex(members, r"\nbeta\s+test\s")
        # a message sent to a module arrives
        r = node.ctl("send alpha " + message(op="hello", content="hi there", msg_id="m-1"))
        self.assertEqual(r, "ok\nm-1\n")
        node.wait_log(r"alpha: received m-1 hello hi there")
        # a sync call is answered, matched by parent_msg_id
        r = node.ctl("call alpha 2000 " + message(op="query", msg_id="call-1"))
        status, reply = r.split("\n", 1)
        self.assertEqual(status, "ok", r)
        reply = json.loads(reply)
        self.assertEqual(reply["header"]["parent_msg_id"], "call-1")
        self.assertEqual(reply["route"]["operation"], "response")
        self.assertEqual(reply["content"], "pong")
        # group delivery reaches both members of group test
        r = node.ctl("group test " + message(op="hello", msg_id="g-1"))
        self.assertTrue(r.startswith("ok"), r)
        node.wait_log(r"alpha: received g-1")
        node.wait_log(r"beta: received g-1")
        # echo: a plugin sends back to the sender's module
        self.assertTrue(node.ctl("send alpha " + message(op="echo", msg_id="e-1")).startswith("ok"))
        # bad input: unknown module, invalid JSON, wrong field type; the node keeps going
        r = node.ctl("send nobody " + message())
        self.assertEqual(r, "error: no bus module named “nobody”\n")
        r = node.ctl('send alpha {"header": {"msg_id": "x"')
        self.assertTrue(r.startswith("error: invalid JSON at byte"), r)
        r = node.ctl('send alpha {"header": {"msg_id": 5}}')
        self.assertTrue(r.startswith("error: invalid message: header.msg_id must be a string"), r)
        r = node.ctl("call nobody 500 " + message())
        self.assertTrue(r.startswith("error: no bus module named"), r)
        r = node.ctl("call beta 200 " + message(op="x", msg_id="never", source="nobody"))
        self.assertTrue(r.startswith("ok"), r)  # beta answers every sync call
        r = node.ctl("frobnicate")
        self.assertTrue(r.startswith("error: unknown command"), r)
        members = node.ctl("members")
        self.assertRegex(members, r"edgecore-ctl\s+host\s+\d+\s+\d+\s+0\s+2\s")  # 2 unroutable
        # SIGUSR1 logs the member table
        node.proc.send_signal(signal.SIGUSR1)
        node.wait_log(r"bus members:")
        # stop order is the reverse of start order
        self.assertEqual(node.stop(), 0)
        log = node.output()
        self.assertLess(log.index("alpha: started"), log.index("beta: started"))
        self.assertLess(log.index("beta: stopped"), log.index("alpha: stopped"))
        self.assertFalse(os.path.exists(node.sock))

    def test_old_and_negotiating_plugins_join_the_bus(self):
        """A plugin built against the ABI 1.0 descriptor layout, one built
        for ABI 1.2, and one built for the next minor that says it runs on
        this host's, all run, join the bus and answer calls; the last learns
        the host's minor."""
        node = Node(self, {"10-p.conf": "[oldabi]\nenable=true\nanswer=old\n"
                                        "[abi12]\nenable=true\nanswer=twelve\n"
                                        "[newer]\nenable=true\nanswer=new\n"}).start()
        node.wait_log(r"oldabi: started")
        node.wait_log(rf"newer: started \(host ABI {CUR_RE}\)")
        node.wait_log(r"abi12: started")
        members = node.ctl("members")
        self.assertRegex(members, r"\noldabi\s+test\s")
        self.assertRegex(members, r"\nnewer\s+test\s")
        self.assertRegex(members, r"\nabi12\s+test\s")
        plugins = node.ctl("plugins")
        self.assertRegex(plugins, r"\noldabi\s+\S+\s+1\.0\s+running\s")
        self.assertRegex(plugins, r"\nabi12\s+\S+\s+1\.2\s+running\s")
        self.assertRegex(plugins, rf"\nnewer\s+\S+\s+{NEXT_RE}\s+running\s")
        for name, answer in (("oldabi", "old"), ("abi12", "twelve"), ("newer", "new")):
            r = node.ctl(f"call {name} 2000 " + message(op="query", msg_id=f"c-{name}"))
            status, reply = r.split("\n", 1)
            self.assertEqual(status, "ok", r)
            self.assertEqual(json.loads(reply)["content"], answer)
        self.assertEqual(node.stop(), 0)
        self.assertIn("oldabi: stopped", node.output())
        self.assertNotRegex(node.output(), r"CRITICAL|WARNING")

    def test_store_work_ends_before_plugins_are_freed(self):
        """Store writes a plugin queues in its stop: the one queued with the
        plugin's cancellable never calls back (the host cancelled it when
        stop returned); the 1.0-style one calls back after stop but before
        the plugin is freed, since the host drains the store first."""
        node = Node(self, {"10-p.conf": "[alpha]\nenable=true\nstore-on-stop=true\n"
                                        "[beta]\nenable=true\nstore-on-stop=true\n"
                                        "[database]\ndata-source=DIR/edgecore.db\n"})
        with open(os.path.join(node.confd, "10-p.conf")) as f:
            text = f.read().replace("DIR", node.dir.name)
        with open(os.path.join(node.confd, "10-p.conf"), "w") as f:
            f.write(text)
        node.start()
        node.wait_log(r"beta: started")
        self.assertEqual(node.stop(), 0)
        log = node.output()
        for name in ("alpha", "beta"):
            self.assertIn(f"{name}: legacy write done (freed=0)", log)
            self.assertLess(log.index(f"{name}: stopped"), log.index(f"{name}: legacy write done"))
            self.assertLess(log.index(f"{name}: legacy write done"), log.index(f"{name}: freed"))
        self.assertNotIn("cancellable write done", log)
        self.assertNotRegex(log, r"CRITICAL|WARNING")
        self.assertTrue(os.path.exists(os.path.join(node.dir.name, "edgecore.db")))

    def test_control_socket_appears_only_when_listening(self):
        """The socket file is renamed into place after listen(): a client
        that connects the moment the file appears is never refused."""
        for _ in range(5):
            node = Node(self, {"10-p.conf": "[alpha]\nenable=true\n[beta]\nenable=true\n"})
            node.log = open(node.log_path, "w")
            node.proc = subprocess.Popen(node.args, stdout=node.log, stderr=subprocess.STDOUT,
                                         env=node.env)
            deadline = time.time() + 20
            while not os.path.exists(node.sock):
                self.assertLess(time.time(), deadline, node.output())
                self.assertIsNone(node.proc.poll(), node.output())
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect(node.sock)   # ECONNREFUSED here was the bug
            self.assertEqual(stat.S_IMODE(os.stat(node.sock).st_mode), 0o600)
            self.assertEqual([f for f in os.listdir(node.dir.name) if f.endswith(".new")], [])
            self.assertEqual(node.stop(), 0)

    def test_control_socket_client_cap(self):
        node = Node(self, {}).start()
        # 8 clients that never finish their line hold every slot
        held = []
        for _ in range(8):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.addCleanup(s.close)
            s.settimeout(10)
            s.connect(node.sock)
            s.sendall(b"memb")
            held.append(s)
        # the 9th waits in the listen queue: connected, but not served
        waiting = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(waiting.close)
        waiting.settimeout(10)
        waiting.connect(node.sock)
        waiting.sendall(b"members\n")
        waiting.settimeout(1.5)
        with self.assertRaises(socket.timeout):
            waiting.recv(65536)
        # one held client leaves: the waiting one is served
        held.pop().close()
        waiting.settimeout(10)
        data = b""
        while chunk := waiting.recv(65536):
            data += chunk
        self.assertTrue(data.startswith(b"ok\n"), data)
        # a line of 256 KiB is read whole (an unknown command), one byte
        # over the limit is refused
        self.assertTrue(node.ctl("x" * (256 << 10)).startswith("error: unknown command"))
        self.assertTrue(node.ctl("x" * ((256 << 10) + 1)).startswith("error: command line longer than 262144"))
        # the held clients are answered once their 30 s are up, and leave
        held[0].settimeout(60)
        self.assertEqual(held[0].recv(65536), b"error: no whole command line within 30 seconds\n")
        self.assertTrue(node.ctl("members").startswith("ok\n"))
        self.assertEqual(node.stop(), 0)

    def test_control_socket_bad_clients(self):
        node = Node(self, {"10-p.conf": "[alpha]\nenable=true\nstop-sleep=1\n"}).start()
        node.wait_log(r"alpha: started")
        # a line longer than the limit is refused; the connection is closed
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(node.sock)
            try:
                s.sendall(b"send alpha " + b"x" * (17 << 20))
            except (BrokenPipeError, ConnectionResetError):
                pass
            data = b""
            try:
                while chunk := s.recv(65536):
                    data += chunk
            except ConnectionResetError:
                pass
            self.assertTrue(data.startswith(b"error: command line longer than"), data[:200])
        # a client that leaves before its newline, and one that closes at once
        for partial in (b"memb", b""):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(node.sock)
                s.sendall(partial)
        self.assertTrue(node.ctl("members").startswith("ok\n"))
        # a client idle while the node stops, one whose call is pending, and
        # one whose line arrives while the plugins stop: nothing is left
        # behind, nothing is touched after the socket is gone
        idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        late = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        calling = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for s in (idle, late, calling):
            self.addCleanup(s.close)
            s.settimeout(10)
            s.connect(node.sock)
        calling.sendall(b"call edgecore-ctl 60000 " + message(msg_id="pending").encode() + b"\n")
        self.assertTrue(node.ctl("members").startswith("ok\n"))
        node.proc.send_signal(signal.SIGTERM)
        node.wait_log(r"stopping on signal")
        try:
            late.sendall(b"members\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertEqual(node.proc.wait(timeout=20), 0, node.output())
        for s in (idle, late, calling):
            try:
                self.assertFalse(s.recv(100).startswith(b"ok"))
            except ConnectionResetError:
                pass
        self.assertNotIn("ERROR", node.output())

    def test_control_socket_client_that_never_reads(self):
        """A client that sends a command and never reads its answer (one far
        bigger than the socket buffers) is dropped after 30 s without
        progress, with a log line; other clients are served meanwhile."""
        big = "y" * (4 << 20)
        node = Node(self, {"10-p.conf": f"[alpha]\nenable=true\nanswer={big}\n"}).start()
        node.wait_log(r"alpha: started")
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(stuck.close)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.settimeout(10)
        stuck.connect(node.sock)
        stuck.sendall(b"call alpha 5000 " + message(op="query", msg_id="big").encode() + b"\n")
        # the answer is under way (alpha received the call) and waits for the client
        node.wait_log(r"alpha: received big query")
        # a reading client gets the same big answer whole, while the stuck one waits
        r = node.ctl("call alpha 5000 " + message(op="query", msg_id="big2"), timeout=60)
        self.assertTrue(r.startswith("ok\n"), r[:200])
        self.assertEqual(json.loads(r[3:])["content"], big)
        self.assertTrue(node.ctl("members").startswith("ok\n"))
        # 30 s without progress: dropped, logged with how far it got
        node.wait_log(r"control socket: a client took \d+ of its \d+ answer bytes, then nothing for 30 s: "
                      r"dropped", timeout=90)
        m = re.search(r"took (\d+) of its (\d+) answer bytes", node.output())
        self.assertLess(int(m.group(1)), int(m.group(2)))
        self.assertGreater(int(m.group(2)), 4 << 20)
        # the connection is closed: what was buffered, then the end
        stuck.settimeout(30)
        got = 0
        try:
            while chunk := stuck.recv(1 << 20):
                got += len(chunk)
        except ConnectionResetError:
            pass
        self.assertLess(got, int(m.group(2)))
        self.assertTrue(node.ctl("members").startswith("ok\n"))
        self.assertEqual(node.stop(), 0)
        self.assertNotIn("CRITICAL", node.output())

    def test_dependency_on_disabled_keeps_others(self):
        node = Node(self, {"10-p.conf": "[beta]\nenable=true\n[delta]\nenable=true\n"}).start()
        node.wait_log(r"delta: started")
        self.assertIn("plugin beta is enabled but will not run: requires plugin alpha, which is disabled",
                      node.output())
        self.assertNotIn("beta: started", node.output())
        self.assertEqual(node.stop(), 0)

    def test_bus_name_taken(self):
        node = Node(self, {"10-p.conf": "[alpha]\nenable=true\n[gamma]\nenable=true\n"}).start()
        node.wait_log(r"alpha: started")
        self.assertIn("plugin gamma is enabled but will not run: bus name “alpha” is already taken by plugin alpha",
                      node.output())
        self.assertEqual(node.stop(), 0)

    def test_wrong_abi_does_not_stop_others(self):
        node = Node(self, {"10-p.conf": "[alpha]\nenable=true\n"}, plugin_dirs=(MAIN, BROKEN)).start()
        node.wait_log(r"alpha: started")
        self.assertRegex(node.output(), r"badabi\.so refused: built for plugin ABI 2\.0")
        self.assertEqual(node.stop(), 0)

    def test_bad_config_plugin_skipped(self):
        node = Node(self, {"10-p.conf": "[alpha]\nenable=true\nstop-sleep=x\n[delta]\nenable=true\n"}).start()
        node.wait_log(r"delta: started")
        out = node.output()
        self.assertIn("10-p.conf:3: error: [alpha] stop-sleep=x: expected an integer", out)
        self.assertIn("plugin alpha is enabled but will not run: its configuration has errors", out)
        self.assertEqual(node.stop(), 0)

    def test_failing_optional_plugin(self):
        node = Node(self, {"10-p.conf": "[alpha]\nenable=true\nfail-start=true\n[beta]\nenable=true\n"
                                         "[delta]\nenable=true\n"}).start()
        node.wait_log(r"delta: started")
        out = node.output()
        self.assertIn("plugin alpha: start failed: alpha was told to fail start; the other plugins keep running", out)
        self.assertIn("plugin beta not started: its dependency alpha failed", out)
        self.assertEqual(node.stop(), 0)

    def test_required_plugin_fails(self):
        node = Node(self, {"10-p.conf": "[alpha]\nenable=true\nrequired=true\nfail-init=true\n"})
        r = subprocess.run(node.args, capture_output=True, text=True, timeout=30, env=node.env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("required plugin alpha: init failed: alpha was told to fail init", r.stderr)

    def test_required_plugin_disabled_dependency(self):
        node = Node(self, {"10-p.conf": "[beta]\nenable=true\nrequired=true\n"})
        r = subprocess.run(node.args, capture_output=True, text=True, timeout=30, env=node.env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("required plugin beta cannot run", r.stderr)

    def test_required_plugin_refused_at_load(self):
        node = Node(self, {"10-p.conf": "[badabi]\nenable=true\nrequired=true\n[alpha]\nenable=true\n"},
                    plugin_dirs=(MAIN, BROKEN))
        r = subprocess.run(node.args, capture_output=True, text=True, timeout=30, env=node.env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("required plugin badabi cannot run: built for plugin ABI 2.0", r.stderr)

    def test_stop_is_bounded(self):
        node = Node(self, {"10-p.conf": "[alpha]\nenable=true\nstop-sleep=60\n"}).start()
        node.wait_log(r"alpha: started")
        t = time.time()
        code = node.stop(sig=signal.SIGINT)
        self.assertLess(time.time() - t, 10)
        self.assertEqual(code, 2)
        self.assertIn("plugin alpha did not stop within 2 s; exiting now", node.output())

    def test_sd_notify_ready(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "notify")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(path)
            s.settimeout(15)
            node = Node(self, {"10-p.conf": "[alpha]\nenable=true\n"}, env={"NOTIFY_SOCKET": path}).start()
            self.assertEqual(s.recv(100), b"READY=1")
            node.wait_log(r"alpha: started")
            self.assertEqual(node.stop(), 0)
            self.assertEqual(s.recv(100), b"STOPPING=1")
            s.close()


class SevenPlugins(unittest.TestCase):
    """The seven KubeEdge modules load and register under KubeEdge's names."""

    def test_all_register(self):
        build = os.environ.get("EDGECORE_PLUGINS_BUILD")
        names = ["edged", "edgehub", "metamanager", "eventbus", "devicetwin", "edgestream", "metaserver"]
        dirs = [os.path.join(build, n) for n in names]
        conf = "".join(f"[{n}]\nenable=true\n" for n in names)
        node = Node(self, {"10-all.conf": conf}, plugin_dirs=dirs).start()
        node.wait_log(r"running as node edge-test with 7 plugins")
        members = node.ctl("members")
        expected = {"edged": "edged", "websocket": "hub", "metamanager": "meta", "eventbus": "bus",
                    "twin": "twin", "edgestream": "edgestream", "metaserver": "metaserver"}
        for module, group in expected.items():
            self.assertRegex(members, rf"\n{module}\s+{group}\s", members)
        plugins = node.ctl("plugins")
        for n in names:
            self.assertRegex(plugins, rf"\n{n}\s+\S+\s+{CUR_RE}\s+running\s")
        self.assertEqual(node.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
