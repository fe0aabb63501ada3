#!/usr/bin/env python3
"""`edgecore join`, `reset` and `import-config` as an operator runs them
(the real edgecore program exec'ing edgecore-admin), the generated systemd
unit under systemd-analyze, and the daemon's watchdog and journal fields
received on fake sockets. Everything runs in temporary directories: the
conf.d directory, the certificate directory and the database are given
with --config-dir, --cert-dir and EDGECORE_SYSTEM_CONFIG_DIRS."""
import base64
import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import read, wait_for  # noqa: E402

BIN = os.environ["EDGECORE_BIN"]
CLOUDSIM = os.environ["CLOUDSIM_BIN"]
ADMIN = os.environ["EDGECORE_ADMIN_BIN"]
PLUGINS = os.environ["EDGECORE_PLUGINS_BUILD"]
UNIT = os.environ["EDGECORE_UNIT_FILE"]
LOCALEDIR = os.environ["EDGECORE_LOCALEDIR_BUILD"]
DATA = os.environ["EDGECORE_TEST_DATA"]
VENDOR_CONFD = os.environ["EDGECORE_VENDOR_CONFD"]
DOCS = os.environ["EDGECORE_DOCS"]
EDGED_KEYS = set(re.findall(r"^\| `modules\.edged\.[^`]+` \| `([a-z0-9-]+)` \|",
                            open(os.path.join(DOCS, "configuration.md")).read(), re.M))
PLUGIN_NAMES = ["edged", "edgehub", "metamanager", "metaserver", "eventbus", "devicetwin", "edgestream"]

CA_HASH = "3f" * 32


def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def make_token(exp):
    return "%s.%s.%s.%s" % (CA_HASH, b64url({"alg": "HS256", "typ": "JWT"}), b64url({"exp": exp}),
                            "c2lnbmF0dXJl")


TOKEN = make_token(int(time.time()) + 86400)
GUIDE = ["--kubeedge-version=1.9.2", "--cloudcore-ipport=192.168.1.10:10000", "--quicport", "10001",
         "--certport", "10002", "--tunnelport", "10004", "--edgenode-name", "edge-node-01",
         "--edgenode-ip", "192.168.1.63", "--token", TOKEN, "--with-edge-taint"]


class Cloud:
    """A cloudsim process on 127.0.0.1 (started and stopped by the tests)."""

    def __init__(self, root, name, *args):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.out_path = os.path.join(root, name + ".out")
        self.proc, self.out = harness.start_cloudsim(CLOUDSIM, self.dir, self.out_path, ["--port", "0"] + list(args))
        self.port, self.https_port, self.token = harness.cloud_addresses(self.dir)

    def flags(self, name="edge-node-01"):
        """The guide's keadm flags, pointed at this cloud."""
        return ["--kubeedge-version=1.9.2", "--cloudcore-ipport=127.0.0.1:%d" % self.port, "--quicport", "10001",
                "--certport", str(self.https_port), "--tunnelport", "10004", "--edgenode-name", name,
                "--edgenode-ip", "192.168.1.63", "--token", self.token, "--with-edge-taint"]

    def events(self, kind):
        return harness.cloud_events(self.dir, kind)

    def kill(self):
        harness.stop_process(self.proc)
        self.proc.stdin.close()
        self.out.close()


CLOUDS = {}
CLOUD_ROOT = None


def setUpModule():
    global CLOUD_ROOT
    CLOUD_ROOT = tempfile.mkdtemp(prefix="ec-join-clouds-")
    # a: what a default CloudCore v1.9.2 serves (the guide's version); b: CloudCore HEAD
    CLOUDS["a"] = Cloud(CLOUD_ROOT, "a", "--profile", "v1.9.2")
    CLOUDS["b"] = Cloud(CLOUD_ROOT, "b")
    # c: a v1.9.2 cloud whose clock is 2 minutes ahead of the node's (the
    # certificates it signs start then)
    CLOUDS["c"] = Cloud(CLOUD_ROOT, "c", "--profile", "v1.9.2", "--edge-cert-offset", "120")


def tearDownModule():
    for c in CLOUDS.values():
        c.kill()
    shutil.rmtree(CLOUD_ROOT, True)


def keyfile(path):
    """Sections of a conf.d file as {section: {key: value}}."""
    out, section = {}, None
    for line in read(path).splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"\[(.+)\]$", line)
        if m:
            section = out.setdefault(m.group(1), {})
            continue
        k, v = line.split("=", 1)
        section[k] = v
    return out


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ec-join-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.confd = os.path.join(self.tmp, "conf.d")
        self.certs = os.path.join(self.tmp, "kubeedge", "certs")
        self.sysconf = os.path.join(self.tmp, "sysconf")
        os.makedirs(self.sysconf)
        self.db = os.path.join(self.tmp, "lib", "edgecore.db")
        with open(os.path.join(self.sysconf, "10-db.conf"), "w") as f:
            f.write("[database]\ndata-source=%s\n" % self.db)
        self.env = dict(os.environ, EDGECORE_ADMIN_BIN=ADMIN, EDGECORE_SYSTEM_CONFIG_DIRS=self.sysconf,
                        EDGECORE_ADMIN_SYSTEMD_DIR=os.path.join(self.tmp, "no-systemd"),
                        LC_ALL="C.UTF-8", LANGUAGE="")

    def run_ec(self, *args, stdin=None, env=None, code=0):
        p = subprocess.run([BIN] + list(args), input=stdin, capture_output=True, text=True,
                           env=env or self.env, timeout=60)
        if code is not None:
            self.assertEqual(p.returncode, code, "edgecore %s\nstdout:\n%s\nstderr:\n%s"
                             % (" ".join(args), p.stdout, p.stderr))
        return p

    def join(self, *extra, code=0, env=None, cloud="a"):
        return self.run_ec("join", *CLOUDS[cloud].flags(), "--config-dir", self.confd, "--cert-dir", self.certs,
                           *extra, code=code, env=env)

    def check_config(self, confd):
        """edgecore --check-config with every built plugin: no errors, no unknown keys."""
        env = dict(self.env, EDGECORE_SYSTEM_CONFIG_DIRS=VENDOR_CONFD,
                   EDGECORE_SYSTEM_PLUGIN_DIRS=":".join(os.path.join(PLUGINS, n) for n in PLUGIN_NAMES))
        p = self.run_ec("--check-config", "--config-dir", confd, env=env)
        self.assertNotIn("warning", p.stderr + p.stdout)
        return p


class JoinTest(Base):
    def test_guide_command(self):
        """The deployment guide's keadm command, with keadm replaced by
        edgecore, against cloudsim: the certificates are fetched with the
        token, the conf.d file holds every derived value, and the node
        then connects with it."""
        cloud = CLOUDS["a"]
        p = self.join()
        path = os.path.join(self.confd, "60-join.conf")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        kf = keyfile(path)
        ca = os.path.normpath(os.path.join(self.certs, "..", "ca", "rootCA.crt"))
        self.assertEqual(kf["core"], {"node-name": "edge-node-01"})
        self.assertEqual(kf["edgehub"], {
            "websocket-server": "127.0.0.1:%d" % cloud.port,
            "http-server": "https://127.0.0.1:%d" % cloud.https_port,
            "quic-server": "127.0.0.1:10001", "token": cloud.token, "tls-ca-file": ca,
            "tls-cert-file": os.path.join(self.certs, "server.crt"),
            "tls-private-key-file": os.path.join(self.certs, "server.key")})
        for f in (ca, kf["edgehub"]["tls-cert-file"], kf["edgehub"]["tls-private-key-file"]):
            self.assertTrue(os.path.getsize(f) > 0, f)
        self.assertEqual(stat.S_IMODE(os.stat(kf["edgehub"]["tls-private-key-file"]).st_mode), 0o600)
        # the CA is the v1.9.2 cloud's (cloudsim --profile v1.9.2 serves the real one)
        self.assertEqual(ssl.PEM_cert_to_DER_cert(read(ca)),
                         ssl.PEM_cert_to_DER_cert(read(os.path.join(DATA, "tls-v1.9.2", "ca.crt"))))
        self.assertIn("Certificates: " + kf["edgehub"]["tls-cert-file"], p.stdout)
        self.assertEqual(kf["edgestream"]["enable"], "true")
        self.assertEqual(kf["edgestream"]["server"], "127.0.0.1:10004")
        # the tunnel's SessionInternalIP is the node's address, as edged reports it
        self.assertEqual(kf["edgestream"]["node-ip"], "192.168.1.63")
        self.assertEqual(kf["edged"], {"node-ip": "192.168.1.63",
                                       "register-with-taints": "node-role.kubernetes.io/edge:NoSchedule"})
        self.assertIn("Wrote " + path, p.stdout)
        self.assertIn("--kubeedge-version=1.9.2", p.stdout)
        # no systemd here: no service, and the commands to run instead
        self.assertIn("systemd is not running", p.stdout)
        self.assertIn("journalctl -u edgecore -f", p.stdout)
        self.assertIn("kubectl get nodes", p.stdout)
        self.assertIn("edge-node-01", p.stdout)
        self.check_config(self.confd)
        # the node runs with what join wrote and connects to the cloud
        connects = len(cloud.events("connect"))
        env = dict(self.env, EDGECORE_SYSTEM_CONFIG_DIRS="", EDGECORE_SYSTEM_PLUGIN_DIRS="")
        extra = os.path.join(self.tmp, "local")
        os.makedirs(extra)
        with open(os.path.join(extra, "90-test.conf"), "w") as f:
            f.write("[core]\ncontrol-socket=\ndata-dir=%s\n[database]\ndata-source=%s/node.db\n"
                    "[edgestream]\nenable=false\n" % (self.tmp, self.tmp))
        log = open(os.path.join(self.tmp, "node.log"), "w")
        node = subprocess.Popen([BIN, "--config-dir", self.confd, "--config-dir", extra,
                                 "--plugin-dir", os.path.join(PLUGINS, "edgehub")],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: len(cloud.events("connect")) > connects, 30, "the joined node to connect")
        finally:
            node.terminate()
            node.wait(timeout=30)
            log.close()
        self.assertEqual(cloud.events("connect")[-1]["node_id"], "edge-node-01")

    def test_other_flags(self):
        p = self.join("--labels", "zone=a,gpu,example.com/tier=edge", "--remote-runtime-endpoint",
                      "unix:///run/crio/crio.sock", "--cgroupdriver", "systemd", "--region", "zh",
                      "--runtimetype", "remote", "--image-repository", "kubeedge")
        kf = keyfile(os.path.join(self.confd, "60-join.conf"))
        self.assertEqual(kf["edged"]["node-labels"], "zone=a;gpu=;example.com/tier=edge")
        self.assertEqual(kf["edged"]["container-runtime-endpoint"], "unix:///run/crio/crio.sock")
        self.assertEqual(kf["edged"]["image-service-endpoint"], "unix:///run/crio/crio.sock")
        self.assertEqual(kf["edged"]["cgroup-driver"], "systemd")
        self.assertIn("--region=zh: ignored", p.stdout)
        self.assertIn("--image-repository=kubeedge: ignored", p.stdout)
        self.check_config(self.confd)

    def test_without_node_ip(self):
        # no --edgenode-ip: edged detects its address, edgestream sends the
        # local address of its tunnel connection; join writes neither
        flags = CLOUDS["a"].flags()
        i = flags.index("--edgenode-ip")
        del flags[i:i + 2]
        self.run_ec("join", *flags, "--config-dir", self.confd, "--cert-dir", self.certs)
        kf = keyfile(os.path.join(self.confd, "60-join.conf"))
        self.assertEqual(kf["edgestream"]["enable"], "true")
        self.assertNotIn("node-ip", kf["edgestream"])
        self.assertNotIn("node-ip", kf["edged"])
        self.check_config(self.confd)

    def test_dry_run(self):
        """The guide's literal command (cloud 192.168.1.10, never contacted)."""
        p = self.run_ec("join", *GUIDE, "--config-dir", self.confd, "--cert-dir", self.certs, "--dry-run")
        self.assertFalse(os.path.exists(self.confd))
        self.assertFalse(os.path.exists(self.certs))
        self.assertIn("[edgehub]\nwebsocket-server=192.168.1.10:10000\n", p.stdout)
        self.assertIn("register-with-taints=node-role.kubernetes.io/edge:NoSchedule", p.stdout)
        self.assertIn("Dry run", p.stdout)

    def test_twice_is_harmless_other_cloud_needs_force(self):
        self.join()
        path = os.path.join(self.confd, "60-join.conf")
        cert = os.path.join(self.certs, "server.crt")
        before, cert_before = read(path), read(cert)
        p = self.join()
        self.assertEqual(read(path), before)
        self.assertEqual(read(cert), cert_before)
        self.assertIn("already up to date", p.stdout)
        self.assertIn("Certificates: kept", p.stdout)
        self.assertNotIn("Fetching", p.stdout)
        # a different cloud: refused without --force, nothing changed
        p = self.join(cloud="b", code=1)
        self.assertIn("already joined cloud 127.0.0.1:%d" % CLOUDS["a"].port, p.stderr)
        self.assertIn("--force", p.stderr)
        self.assertEqual(read(path), before)
        self.assertEqual(read(cert), cert_before)
        # with --force: new certificates from the new cloud, the new file
        p = self.join("--force", cloud="b")
        self.assertEqual(keyfile(path)["edgehub"]["websocket-server"], "127.0.0.1:%d" % CLOUDS["b"].port)
        self.assertNotEqual(read(cert), cert_before)
        self.assertIn("Fetching the certificates", p.stdout)

    def test_cloud_refuses_or_unreachable(self):
        """A token for another cloud's CA, or no cloud at all: a clear error
        and nothing written."""
        a, b = CLOUDS["a"], CLOUDS["b"]
        flags = [x if x != a.token else b.token for x in a.flags()]
        p = self.run_ec("join", *flags, "--config-dir", self.confd, "--cert-dir", self.certs, code=1)
        self.assertIn("does not match the join token", p.stderr)
        self.assertIn("Nothing was written", p.stderr)
        self.assertFalse(os.path.exists(self.confd))
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
        s.close()
        flags = [x.replace(str(a.https_port), str(closed)) if x == str(a.https_port) else x for x in a.flags()]
        p = self.run_ec("join", *flags, "--config-dir", self.confd, "--cert-dir", self.certs, code=1)
        self.assertIn("cannot get the node's certificates", p.stderr)
        self.assertIn("https://127.0.0.1:%d" % closed, p.stderr)
        self.assertFalse(os.path.exists(self.confd))

    def test_bad_input(self):
        cases = [
            (["--token", "abc"], "does not look like a KubeEdge token"),
            (["--token", "zz" * 32 + ".a.b.c"], "does not look like a KubeEdge token"),
            (["--token", make_token(1000)], "the token expired at 1970-01-01"),
            (["--cloudcore-ipport", "192.168.1.10"], "expected HOST:PORT"),
            (["--cloudcore-ipport", "192.168.1.10:70000"], "expected HOST:PORT"),
            (["--cloudcore-ipport", "http://x:1"], "expected HOST:PORT"),
            (["--edgenode-name", "Edge_01"], "is not valid in Kubernetes"),
            (["--edgenode-name", "-edge"], "is not valid in Kubernetes"),
            (["--edgenode-name", "a" * 254], "is not valid in Kubernetes"),
            (["--edgenode-ip", "192.168.1.300"], "is not an IP address"),
            (["--labels", "bad key=1"], "is not a valid Kubernetes label"),
            (["--cgroupdriver", "cgroupv2"], "expected cgroupfs or systemd"),
            (["--certport", "0"], "a port is a number from 1 to 65535"),
            (["--hub-protocol", "quic"], "websocket only"),
            (["--no-such-flag"], "Unknown option"),
        ]
        for extra, message in cases:
            with self.subTest(extra=extra):
                p = self.run_ec("join", *GUIDE, "--config-dir", self.confd, *extra, code=1)
                self.assertIn(message, p.stderr)
                self.assertFalse(os.path.exists(self.confd))
        p = self.run_ec("join", "--config-dir", self.confd, code=1)
        self.assertIn("--cloudcore-ipport is required", p.stderr)

    def test_ipv6_and_dns_cloud(self):
        p = self.run_ec("join", "--cloudcore-ipport=[fd00::1]:10000", "--token", TOKEN, "--edgenode-name", "e1",
                        "--config-dir", self.confd, "--dry-run")
        self.assertIn("websocket-server=[fd00::1]:10000\n", p.stdout)
        self.assertIn("http-server=https://[fd00::1]:10002\n", p.stdout)
        p = self.run_ec("join", "--cloudcore-ipport=cloud.example.com:443", "--token", TOKEN, "--edgenode-name",
                        "e1", "--config-dir", self.confd, "--dry-run")
        self.assertIn("http-server=https://cloud.example.com:10002\n", p.stdout)

    def test_node_clock_behind_the_cloud(self):
        # the cloud starts the certificate at its own "now"; a node whose
        # clock is behind (or reads a coarse clock in the same second) still
        # joins, and is told to check its time when the gap is over a minute
        p = self.join(cloud="c")
        self.assertIn("starts 1", p.stderr)
        self.assertIn("check the node's time", p.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.certs, "server.crt")), os.listdir(self.certs))

    def test_chinese_output(self):
        env = dict(self.env, LC_ALL="zh_CN.UTF-8", LANG="zh_CN.UTF-8", LANGUAGE="zh_CN",
                   EDGECORE_LOCALEDIR=LOCALEDIR)
        p = self.join(env=env)
        self.assertIn("kubectl get nodes", p.stdout)
        self.assertRegex(p.stdout, "[\u4e00-\u9fff]")
        self.assertNotIn("systemd is not running", p.stdout)
        self.assertNotIn("Next:", p.stdout)
        p = self.run_ec("join", "--token", "abc", "--cloudcore-ipport=1.2.3.4:1", "--config-dir",
                        self.confd, env=env, code=1)
        self.assertRegex(p.stderr, "[\u4e00-\u9fff]")
        p = self.run_ec("join", "--help", env=env)
        self.assertRegex(p.stdout, "[\u4e00-\u9fff]")
        self.assertIn("--cloudcore-ipport", p.stdout)

    def test_systemd_path(self):
        """With systemd as init (a fake: its directory and a systemctl that
        records its calls), join installs, enables and starts the unit and
        reset stops and disables it."""
        sd = os.path.join(self.tmp, "run-systemd")
        os.makedirs(sd)
        units = os.path.join(self.tmp, "etc-systemd-system")
        calls = os.path.join(self.tmp, "calls")
        fake = os.path.join(self.tmp, "systemctl")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\necho \"$*\" >> %s\n" % calls)
        os.chmod(fake, 0o755)
        env = dict(self.env, EDGECORE_ADMIN_SYSTEMD_DIR=sd, EDGECORE_ADMIN_SYSTEMCTL=fake,
                   EDGECORE_ADMIN_UNIT_DIR=units, EDGECORE_ADMIN_UNIT_FILE=UNIT)
        p = self.join(env=env)
        self.assertEqual(read(calls).splitlines(),
                         ["daemon-reload", "enable edgecore.service", "restart edgecore.service"])
        installed = read(os.path.join(units, "edgecore.service"))
        self.assertIn("Type=notify", installed)
        self.assertIn(read(UNIT), installed)
        self.assertIn("edgecore.service is enabled and (re)started", p.stdout)
        self.assertIn("journalctl -u edgecore -f", p.stdout)
        os.unlink(calls)
        p = self.run_ec("reset", "--yes", "--config-dir", self.confd, env=env)
        self.assertEqual(read(calls).splitlines(), ["disable --now edgecore.service", "daemon-reload"])
        self.assertFalse(os.path.exists(os.path.join(units, "edgecore.service")))
        self.assertIn("Stopped and disabled edgecore.service", p.stdout)
        # systemctl failing: a clear error
        with open(fake, "w") as f:
            f.write("#!/bin/sh\necho 'Failed to start edgecore.service: Unit not found.' >&2\nexit 5\n")
        p = self.join(env=env, code=1)
        self.assertIn("failed", p.stderr)


class ResetTest(Base):
    def test_reset(self):
        self.join()
        path = os.path.join(self.confd, "60-join.conf")
        ca = os.path.join(self.tmp, "kubeedge", "ca", "rootCA.crt")
        os.makedirs(os.path.dirname(self.db))
        files = [os.path.join(self.certs, "server.crt"), os.path.join(self.certs, "server.key"), ca,
                 self.db, self.db + "-wal"]
        for f in files[3:]:
            with open(f, "w") as fh:
                fh.write("x")
        # asked, answered no: nothing changes
        p = self.run_ec("reset", "--config-dir", self.confd, stdin="n\n", code=1)
        self.assertIn("Go on?", p.stdout)
        self.assertIn("Nothing was changed", p.stdout)
        self.assertTrue(all(os.path.exists(f) for f in files + [path]))
        # no answer at all (end of input) is no
        self.run_ec("reset", "--config-dir", self.confd, stdin="", code=1)
        self.assertTrue(os.path.exists(path))
        # yes: join's file and certificates go, the database stays
        p = self.run_ec("reset", "--config-dir", self.confd, stdin="y\n")
        self.assertFalse(os.path.exists(path))
        for f in files[:3]:
            self.assertFalse(os.path.exists(f), f)
            self.assertIn("Removed " + f, p.stdout)
        self.assertTrue(os.path.exists(self.db))
        self.assertIn("the database is kept", p.stdout)
        # --purge --yes: the database too, without asking
        self.join()
        p = self.run_ec("reset", "--config-dir", self.confd, "--purge", "--yes", stdin="")
        self.assertNotIn("Go on?", p.stdout)
        self.assertFalse(os.path.exists(self.db))
        self.assertFalse(os.path.exists(self.db + "-wal"))
        # again: nothing to do
        p = self.run_ec("reset", "--config-dir", self.confd, "--yes")
        self.assertIn("Nothing to reset", p.stdout)


class ImportTest(Base):
    def import_file(self, name, *extra, code=0):
        return self.run_ec("import-config", os.path.join(DATA, name), "--config-dir", self.confd, *extra,
                           code=code)

    def warnings(self, p):
        return [line for line in p.stderr.splitlines() if line.startswith("warning: ")]

    def test_v192_default(self):
        p = self.import_file("kubeedge-v1.9.2-edgecore-default.yaml")
        path = os.path.join(self.confd, "60-import.conf")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        kf = keyfile(path)
        self.assertEqual(kf["core"]["node-name"], "edge-node-01")
        self.assertEqual(kf["database"]["data-source"], "/var/lib/kubeedge/edgecore.db")
        self.assertEqual(kf["edgehub"]["websocket-server"], "192.168.1.63:10000")
        self.assertEqual(kf["edgehub"]["tls-cert-file"], "/etc/kubeedge/certs/server.crt")
        self.assertEqual(kf["edgehub"]["tls-ca-file"], "/etc/kubeedge/ca/rootCA.crt")
        self.assertEqual(kf["edged"]["node-status-update-frequency"], "10s")
        self.assertEqual(kf["edged"]["runtime-request-timeout"], "2m0s")
        self.assertEqual(kf["edged"]["volume-stats-agg-period"], "1m0s")
        self.assertEqual(kf["edged"]["image-gc-low-threshold-percent"], "40")
        self.assertEqual(kf["edged"]["pod-sandbox-image"], "kubeedge/pause:3.1")
        self.assertEqual(kf["metaserver"], {"enable": "false", "server": "127.0.0.1:10550"})
        self.assertNotIn("container-runtime-endpoint", kf["edged"])
        w = self.warnings(p)
        # one warning per key without equivalent, each with its line
        for key in ["modules.edged.runtimeType", "modules.edged.dockerAddress", "modules.edged.cniBinDir",
                    "modules.edged.edgedMemoryCapacity", "modules.metaManager.podStatusSyncInterval",
                    "modules.serviceBus.port", "modules.dbTest.enable",
                    "modules.edged.remoteRuntimeEndpoint"]:
            self.assertEqual(len([x for x in w if (": %s: " % key) in x]), 1, key)
        self.assertEqual(len(w), 20, "\n".join(w))
        self.assertTrue(all(re.search(r"\.yaml:\d+: ", x) for x in w))
        self.assertIn("dockershim is gone", p.stderr)
        # KubeEdge's edgestream sends edged's nodeIP as SessionInternalIP; every
        # edgeStream key has its [edgestream] equivalent
        self.assertEqual(kf["edgestream"], {
            "enable": "false", "handshake-timeout": "30", "read-deadline": "15", "server": "127.0.0.1:10004",
            "tls-tunnel-ca-file": "/etc/kubeedge/ca/rootCA.crt",
            "tls-tunnel-cert-file": "/etc/kubeedge/certs/server.crt",
            "tls-tunnel-private-key-file": "/etc/kubeedge/certs/server.key", "write-deadline": "15",
            "node-ip": "192.168.1.63"})
        self.assertEqual(kf["edged"]["node-ip"], "192.168.1.63")
        # a v1.9 cloud: the v1.9.2 status formats (the default) stay
        self.assertNotIn("status-format", kf["edged"])
        self.assertFalse([x for x in w if "edgeStream" in x])
        self.assertIn("66 keys imported, 20 without equivalent", p.stdout)
        self.check_config(self.confd)

    def test_v1alpha2_default(self):
        p = self.import_file("kubeedge-v1alpha2-edgecore-default.yaml")
        kf = keyfile(os.path.join(self.confd, "60-import.conf"))
        self.assertEqual(kf["edged"]["eviction-hard"],
                         "memory.available<100Mi;nodefs.available<10%;nodefs.inodesFree<5%;"
                         "imagefs.available<15%;imagefs.inodesFree<5%")
        self.assertEqual(kf["edged"]["container-runtime-endpoint"], "unix:///run/containerd/containerd.sock")
        self.assertEqual(kf["edged"]["enforce-node-allocatable"], "pods")
        self.assertEqual(kf["metaserver"]["service-account-issuers"],
                         "https://kubernetes.default.svc.cluster.local")
        self.assertEqual(kf["devicetwin"]["dmi-sock-path"], "/etc/kubeedge/")
        self.assertEqual(kf["edgehub"]["message-qps"], "30")
        # every [edged] key of docs/configuration.md but the three this file leaves empty
        self.assertEqual(set(kf["edged"]),
                         EDGED_KEYS - {"node-ip", "system-reserved", "kube-reserved"} | {"status-format"})
        # a v1.12+ node: its cloud expects the kubelet formats (lease, nodepatch, podpatch)
        self.assertEqual(kf["edged"]["status-format"], "kubelet")
        # nodeIP "" (detected): no node-ip for edgestream either
        self.assertNotIn("node-ip", kf["edgestream"])
        self.assertEqual(kf["edgestream"]["server"], "127.0.0.1:10004")
        self.assertEqual(len(kf["edgestream"]), 8)
        w = self.warnings(p)
        for key in ["edgecoreVersion", "modules.edged.tailoredKubeletConfig.cpuManagerPolicy",
                    "modules.edged.tailoredKubeletConfig.logging.format", "modules.serviceBus.tlsCertFile",
                    "modules.taskManager.enable"]:
            self.assertEqual(len([x for x in w if (": %s: " % key) in x]), 1, key)
        self.assertFalse([x for x in w if "featureGates" in x or "nodeLabels" in x])
        self.check_config(self.confd)

    def head_yaml(self, header=None, **subst):
        """The HEAD default fixture with some lines replaced, as a file."""
        text = read(os.path.join(DATA, "kubeedge-v1alpha2-edgecore-default.yaml"))
        for old, new in subst.items():
            self.assertIn(old, text)
            text = text.replace(old, new)
        if header:
            text = text.replace("apiVersion: edgecore.config.kubeedge.io/v1alpha2", header)
        src = os.path.join(self.tmp, "edgecore.yaml")
        with open(src, "w") as f:
            f.write(text)
        return src

    def test_v1alpha2_node_ip_and_stream(self):
        """keadm join --set modules.edgeStream.enable=true on a node with a fixed IP."""
        src = self.head_yaml(**{
            '    nodeIP: ""': "    nodeIP: 10.20.30.40",
            "  edgeStream:\n    enable: false\n    server: 127.0.0.1:10004":
                "  edgeStream:\n    enable: true\n    server: 192.168.1.63:10004",
            "    handshakeTimeout: 30\n    readDeadline: 15\n    writeDeadline: 15\n    tlsTunnelCAFile":
                "    handshakeTimeout: 20\n    readDeadline: 16\n    writeDeadline: 17\n    tlsTunnelCAFile",
            "tlsTunnelCertFile: /etc/kubeedge/certs/server.crt": "tlsTunnelCertFile: /srv/certs/tunnel.crt"})
        p = self.run_ec("import-config", src, "--config-dir", self.confd)
        kf = keyfile(os.path.join(self.confd, "60-import.conf"))
        self.assertEqual(kf["edged"]["node-ip"], "10.20.30.40")
        self.assertEqual(kf["edged"]["status-format"], "kubelet")
        self.assertEqual(kf["edgestream"], {
            "enable": "true", "server": "192.168.1.63:10004", "handshake-timeout": "20", "read-deadline": "16",
            "write-deadline": "17", "tls-tunnel-ca-file": "/etc/kubeedge/ca/rootCA.crt",
            "tls-tunnel-cert-file": "/srv/certs/tunnel.crt",
            "tls-tunnel-private-key-file": "/etc/kubeedge/certs/server.key", "node-ip": "10.20.30.40"})
        self.assertFalse([x for x in self.warnings(p) if "edgeStream" in x or "nodeIP" in x])
        self.check_config(self.confd)

    def test_v1alpha1_header_over_v1alpha2_layout(self):
        """KubeEdge v1.12+ reads any file as v1alpha2: an old header over the
        tailoredKubeletConfig layout is read as v1alpha2 (said on stderr)."""
        src = self.head_yaml(header="apiVersion: edgecore.config.kubeedge.io/v1alpha1")
        p = self.run_ec("import-config", src, "--config-dir", self.confd)
        self.assertRegex(p.stderr, r"note: .*edgecore\.yaml:\d+: apiVersion v1alpha1 but edged\.tailoredKubeletConfig")
        kf = keyfile(os.path.join(self.confd, "60-import.conf"))
        self.assertEqual(kf["edged"]["status-format"], "kubelet")
        self.assertEqual(kf["edged"]["container-runtime-endpoint"], "unix:///run/containerd/containerd.sock")
        self.assertFalse([x for x in self.warnings(p) if "tailoredKubeletConfig.maxPods" in x])

    def test_values_converted(self):
        src = os.path.join(self.tmp, "edgecore.yaml")
        with open(src, "w") as f:
            f.write("""apiVersion: edgecore.config.kubeedge.io/v1alpha1
kind: EdgeCore
modules:
  edged:
    hostnameOverride: node-7
    labels: {zone: a, "x;y": b}
    taints:
    - {key: dedicated, value: edge, effect: NoSchedule}
    - {key: gpu, effect: NoExecute}
    clusterDNS: 10.96.0.10,10.96.0.11
    runtimeType: remote
    remoteRuntimeEndpoint: unix:///run/containerd/containerd.sock
    nodeStatusUpdateFrequency: 90
    volumeStatsAggPeriod: 3600000000000
  edgeHub:
    token: "%s"
    heartbeat: "15"
""" % TOKEN)
        p = self.run_ec("import-config", src, "--config-dir", self.confd, "--output", "70-mine.conf")
        kf = keyfile(os.path.join(self.confd, "70-mine.conf"))
        self.assertEqual(kf["edged"]["node-labels"], "zone=a;x\\;y=b")
        self.assertEqual(kf["edged"]["register-with-taints"], "dedicated=edge:NoSchedule;gpu:NoExecute")
        self.assertEqual(kf["edged"]["cluster-dns"], "10.96.0.10;10.96.0.11")
        self.assertEqual(kf["edged"]["container-runtime-endpoint"], "unix:///run/containerd/containerd.sock")
        self.assertEqual(kf["edged"]["node-status-update-frequency"], "1m30s")
        self.assertEqual(kf["edged"]["volume-stats-agg-period"], "1h0m0s")
        self.assertEqual(kf["edgehub"]["token"], TOKEN)
        # a quoted number is a string: wrong type, one warning, not imported
        self.assertNotIn("heartbeat", kf["edgehub"])
        self.assertIn("modules.edgeHub.heartbeat: unexpected type", p.stderr)
        # a second, different import is refused without --force
        with open(src, "a") as f:
            f.write("  deviceTwin: {enable: false}\n")
        p = self.run_ec("import-config", src, "--config-dir", self.confd, "--output", "70-mine.conf", code=1)
        self.assertIn("--force", p.stderr)
        self.run_ec("import-config", src, "--config-dir", self.confd, "--output", "70-mine.conf", "--force")
        self.assertEqual(keyfile(os.path.join(self.confd, "70-mine.conf"))["devicetwin"]["enable"], "false")

    def test_bad_yaml(self):
        cases = [
            ("apiVersion: edgecore.config.kubeedge.io/v1alpha1\nmodules:\n  edged: [a, b\n  x: 1\n",
             r"line \d+ column \d+: "),
            ("apiVersion: edgecore.config.kubeedge.io/v1alpha1\nmodules: {a: 1, a: 2}\n", "line 2: key “a” appears twice"),
            ("apiVersion: edgecore.config.kubeedge.io/v1alpha1\nx: &a [1]\ny: *a\n", "line 2: anchors and aliases"),
            ("apiVersion: edgecore.config.kubeedge.io/v1alpha1\nx: " + "[" * 40 + "]" * 40 + "\n",
             "nested too deeply"),
            ("apiVersion: v1\nkind: Pod\n", r"bad\.yaml:1: apiVersion v1: expected"),
            ("- a\n- b\n", "no apiVersion"),
            ("apiVersion: edgecore.config.kubeedge.io/v1alpha1\n\tbad: tab\n", "line 2"),
        ]
        for text, message in cases:
            with self.subTest(text=text[:60]):
                src = os.path.join(self.tmp, "bad.yaml")
                with open(src, "w") as f:
                    f.write(text)
                p = self.run_ec("import-config", src, "--config-dir", self.confd, code=1)
                self.assertRegex(p.stderr, message)
                self.assertTrue(p.stderr.startswith("edgecore import-config: " + src))
                self.assertFalse(os.path.exists(self.confd))
        big = os.path.join(self.tmp, "big.yaml")
        with open(big, "w") as f:
            f.write("apiVersion: edgecore.config.kubeedge.io/v1alpha1\n")
            f.write("x: '%s'\n" % ("y" * (1024 * 1024)))
        p = self.run_ec("import-config", big, "--config-dir", self.confd, code=1)
        self.assertIn("larger than 1048576 bytes", p.stderr)
        many = os.path.join(self.tmp, "many.yaml")
        with open(many, "w") as f:
            f.write("apiVersion: edgecore.config.kubeedge.io/v1alpha1\nx:\n")
            f.write("".join("- %d\n" % i for i in range(25000)))
        p = self.run_ec("import-config", many, "--config-dir", self.confd, code=1)
        self.assertIn("too many entries", p.stderr)
        p = self.run_ec("import-config", os.path.join(self.tmp, "missing.yaml"), code=1)
        self.assertIn("missing.yaml", p.stderr)


class ServiceTest(Base):
    def test_unit_verifies(self):
        """systemd-analyze verify on the generated unit (ExecStart pointed at
        the built binary, which verify requires to exist). It runs here
        without systemd as PID 1: verify loads units offline."""
        text = read(UNIT)
        for line in ["Type=notify", "WatchdogSec=30s", "Restart=always", "NotifyAccess=main"]:
            self.assertIn("\n" + line + "\n", text)
        self.assertNotIn("ProtectSystem", text)
        self.assertNotIn("PrivateTmp", text)
        m = re.search(r"^ExecStart=(\S+)$", text, re.M)
        unit = os.path.join(self.tmp, "edgecore.service")
        with open(unit, "w") as f:
            f.write(text.replace("ExecStart=" + m.group(1), "ExecStart=" + BIN))
        analyze = shutil.which("systemd-analyze")
        self.assertIsNotNone(analyze, "systemd-analyze is missing (scripts/deps.sh installs systemd)")
        p = subprocess.run([analyze, "verify", "--man=no", unit], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr.strip(), "", "systemd-analyze verify complained")
        # and verify does catch a mistake in the same setting
        with open(unit, "w") as f:
            f.write(text.replace("ExecStart=" + m.group(1), "ExecStart=" + BIN).replace(
                "WatchdogSec=30s", "WatchdogSecs=30s"))
        p = subprocess.run([analyze, "verify", "--man=no", unit], capture_output=True, text=True, timeout=120)
        self.assertIn("WatchdogSecs", p.stderr)

    def test_watchdog_and_journal_fields(self):
        """The daemon under a fake systemd: READY=1, then WATCHDOG=1 at half
        WATCHDOG_USEC; with [core] log-target=journal every line arrives on
        the journal socket with PLUGIN= for plugin lines."""
        notify = os.path.join(self.tmp, "notify")
        journal = os.path.join(self.tmp, "journal")
        socks = []
        for path in (notify, journal):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(path)
            s.settimeout(0.2)
            socks.append(s)
            self.addCleanup(s.close)
        confd = os.path.join(self.tmp, "node")
        os.makedirs(confd)
        with open(os.path.join(confd, "50-test.conf"), "w") as f:
            f.write("[core]\nnode-name=edge-1\nlog-target=journal\ncontrol-socket=\ndata-dir=%s\n"
                    "[database]\ndata-source=%s/e.db\n[edgehub]\nwebsocket-server=127.0.0.1:1\n"
                    "http-server=https://127.0.0.1:1\ntoken=x\ntls-ca-file=%s/ca.crt\n"
                    "tls-cert-file=%s/s.crt\ntls-private-key-file=%s/s.key\n" % ((self.tmp,) * 5))
        env = dict(self.env, EDGECORE_SYSTEM_CONFIG_DIRS="", EDGECORE_SYSTEM_PLUGIN_DIRS="",
                   NOTIFY_SOCKET=notify, WATCHDOG_USEC="400000", EDGECORE_JOURNAL_SOCKET=journal)
        err = open(os.path.join(self.tmp, "stderr"), "w")
        proc = subprocess.Popen([BIN, "--config-dir", confd, "--plugin-dir", os.path.join(PLUGINS, "edgehub")],
                                env=env, stdout=subprocess.DEVNULL, stderr=err)
        self.addCleanup(err.close)
        try:
            states, entries = [], []
            deadline = time.time() + 30
            while time.time() < deadline and not (
                    states.count("WATCHDOG=1") >= 3 and any(e.get("PLUGIN") == "edgehub" for e in entries)
                    and any("running as node" in e.get("MESSAGE", "") for e in entries)):
                for s, out in ((socks[0], states), (socks[1], entries)):
                    try:
                        data = s.recv(65536)
                    except socket.timeout:
                        continue
                    if s is socks[0]:
                        out.append(data.decode())
                    else:
                        fields = {}
                        for line in data.decode().split("\n"):
                            if "=" in line:
                                k, v = line.split("=", 1)
                                fields[k] = v
                        out.append(fields)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        self.assertEqual(states[0], "READY=1")
        self.assertGreaterEqual(states.count("WATCHDOG=1"), 3, states)
        plugin = [e for e in entries if e.get("PLUGIN") == "edgehub"]
        self.assertTrue(plugin, entries)
        self.assertTrue(all(e["SYSLOG_IDENTIFIER"] == "edgecore" and e["PRIORITY"].isdigit() for e in entries))
        host = [e for e in entries if "running as node edge-1" in e.get("MESSAGE", "")]
        self.assertTrue(host and "PLUGIN" not in host[0], entries)
        # nothing went to stderr: the journal took every line
        self.assertEqual(read(os.path.join(self.tmp, "stderr")), "")

    def run_host(self, stderr_path, env_extra):
        """edgecore without plugins until it says it runs; returns the
        journal datagrams received meanwhile."""
        journal = os.path.join(self.tmp, "journal-" + os.path.basename(stderr_path))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(journal)
        s.settimeout(0.2)
        self.addCleanup(s.close)
        confd = os.path.join(self.tmp, "host")
        os.makedirs(confd, exist_ok=True)
        with open(os.path.join(confd, "50-test.conf"), "w") as f:
            f.write("[core]\nnode-name=edge-1\ncontrol-socket=\ndata-dir=%s\n[database]\ndata-source=%s/e.db\n"
                    % (self.tmp, self.tmp))
        err = open(stderr_path, "w")
        st = os.fstat(err.fileno())
        env = dict(self.env, EDGECORE_SYSTEM_CONFIG_DIRS="", EDGECORE_SYSTEM_PLUGIN_DIRS="",
                   EDGECORE_JOURNAL_SOCKET=journal)
        env.update({k: v.format(dev=st.st_dev, ino=st.st_ino) for k, v in env_extra.items()})
        proc = subprocess.Popen([BIN, "--config-dir", confd], env=env, stdout=subprocess.DEVNULL, stderr=err)
        entries = []
        try:
            deadline = time.time() + 30
            while time.time() < deadline:
                if "running as node" in read(stderr_path) or any(
                        "running as node" in e for e in entries):
                    break
                try:
                    entries.append(s.recv(65536).decode())
                except socket.timeout:
                    pass
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            err.close()
        return entries

    def test_log_target_checked(self):
        confd = os.path.join(self.tmp, "bad")
        os.makedirs(confd)
        with open(os.path.join(confd, "50-x.conf"), "w") as f:
            f.write("[core]\n\nlog-target=syslog\n")
        env = dict(self.env, EDGECORE_SYSTEM_CONFIG_DIRS="", EDGECORE_SYSTEM_PLUGIN_DIRS="")
        p = self.run_ec("--check-config", "--config-dir", confd, env=env, code=1)
        self.assertIn("50-x.conf:3: error: [core] log-target=syslog: expected auto, journal or stderr", p.stderr)

    def test_journal_stream_auto(self):
        """log-target auto: the journal when $JOURNAL_STREAM names stderr
        (as systemd sets it), stderr otherwise."""
        err = os.path.join(self.tmp, "stderr-a")
        entries = self.run_host(err, {"JOURNAL_STREAM": "{dev}:{ino}"})
        self.assertTrue([e for e in entries if "MESSAGE=edgecore " in e and "running as node edge-1" in e])
        self.assertTrue(all("SYSLOG_IDENTIFIER=edgecore\n" in e for e in entries))
        self.assertEqual(read(err), "")
        err = os.path.join(self.tmp, "stderr-b")
        entries = self.run_host(err, {"JOURNAL_STREAM": "1:{ino}"})
        self.assertEqual(entries, [])
        self.assertIn("NOTICE edgecore: edgecore ", read(err))


if __name__ == "__main__":
    unittest.main(verbosity=2)
