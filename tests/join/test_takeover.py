#!/usr/bin/env python3
"""Taking over a node that ran KubeEdge v1.9.2's Go EdgeCore (issue 8,
section 3): its edgecore.yaml, the certificate a v1.9.2 cloud gave it
(edge-v192.crt, CN=kubeedge.io, tests/data/tls-v1.9.2) and a v1.9.2
database are imported with `edgecore import-config`, and the node connects
to cloudsim's v1.9.2 profile (the TLS of a default CloudCore v1.9.2)
without a token, keeping its certificate and migrating its database."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import read, wait_for  # noqa: E402

BIN = os.environ["EDGECORE_BIN"]
CLOUDSIM = os.environ["CLOUDSIM_BIN"]
ADMIN = os.environ["EDGECORE_ADMIN_BIN"]
PLUGINS = os.environ["EDGECORE_PLUGINS_BUILD"]
DATA = os.environ["EDGECORE_TEST_DATA"]
TLS = os.path.join(DATA, "tls-v1.9.2")

V192_DDL = """
CREATE TABLE `meta` (`key` varchar(256) NOT NULL PRIMARY KEY,
  `type` varchar(32) NOT NULL DEFAULT '', `value` text NOT NULL DEFAULT '');
CREATE TABLE `meta_v2` (`key` varchar(256) NOT NULL PRIMARY KEY,
  `groupversionresource` varchar(256) NOT NULL DEFAULT '',
  `namespace` varchar(256) NOT NULL DEFAULT '', `name` varchar(256) NOT NULL DEFAULT '',
  `resourceversion` integer unsigned NOT NULL DEFAULT 0, `value` text NOT NULL DEFAULT '');
"""


class TakeOver(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ec-takeover-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.procs = []
        self.addCleanup(self.stop_all)

    def stop_all(self):
        for p in self.procs:
            harness.stop_process(p, 30)
            if p.stdin:
                p.stdin.close()

    def start_cloud(self):
        d = os.path.join(self.tmp, "cloud")
        os.makedirs(d)
        out = os.path.join(self.tmp, "cloud.out")
        p, f = harness.start_cloudsim(CLOUDSIM, d, out, ["--port", "0", "--profile", "v1.9.2"],
                                      fail=self.failureException)
        self.procs.append(p)
        self.addCleanup(f.close)
        self.cloud_dir = d
        self.port, self.https_port, _ = harness.cloud_addresses(d)

    def events(self, kind):
        return harness.cloud_events(self.cloud_dir, kind)

    def make_node_state(self):
        """What a v1.9.2 node holds after keadm join: its yaml (token
        blanked after the bootstrap), its certificates and its database."""
        ke = os.path.join(self.tmp, "etc-kubeedge")
        for sub in ("ca", "certs", "config"):
            os.makedirs(os.path.join(ke, sub))
        shutil.copy(os.path.join(TLS, "ca.crt"), os.path.join(ke, "ca", "rootCA.crt"))
        shutil.copy(os.path.join(TLS, "edge-v192.crt"), os.path.join(ke, "certs", "server.crt"))
        shutil.copy(os.path.join(TLS, "edge-v192.key"), os.path.join(ke, "certs", "server.key"))
        self.db = os.path.join(self.tmp, "var-lib-kubeedge", "edgecore.db")
        os.makedirs(os.path.dirname(self.db))
        con = sqlite3.connect(self.db)
        con.executescript(V192_DDL)
        pod = {"metadata": {"name": "old", "namespace": "default", "uid": "uid-old", "resourceVersion": "40"},
               "spec": {"nodeName": "edge-node-01", "containers": [{"name": "c", "image": "nginx"}]}}
        con.execute("INSERT INTO meta VALUES (?,?,?)", ("default/pod/old", "pod", json.dumps(pod)))
        con.execute("INSERT INTO meta_v2 VALUES (?,?,?,?,?,?)",
                    ("/core/v1/pods/default/old", "/v1, Resource=pods", "default", "old", 40,
                     json.dumps(dict(pod, apiVersion="v1", kind="Pod"))))
        con.commit()
        con.close()
        y = read(os.path.join(DATA, "kubeedge-v1.9.2-edgecore-default.yaml"))
        y = y.replace("/etc/kubeedge/", ke + "/").replace("/var/lib/kubeedge/edgecore.db", self.db)
        y = y.replace("192.168.1.63:10000", "127.0.0.1:%d" % self.port)
        y = y.replace("https://192.168.1.63:10002", "https://127.0.0.1:%d" % self.https_port)
        self.yaml = os.path.join(ke, "config", "edgecore.yaml")
        with open(self.yaml, "w") as f:
            f.write(y)
        self.cert = os.path.join(ke, "certs", "server.crt")

    def test_v192_node_taken_over(self):
        self.start_cloud()
        self.make_node_state()
        cert_before = read(self.cert, "rb")
        confd = os.path.join(self.tmp, "conf.d")
        env = dict(os.environ, EDGECORE_ADMIN_BIN=ADMIN, LC_ALL="C.UTF-8", LANGUAGE="")
        p = subprocess.run([BIN, "import-config", self.yaml, "--config-dir", confd], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        conf = read(os.path.join(confd, "60-import.conf"))
        self.assertIn("token=\n", conf)
        self.assertIn("tls-cert-file=%s\n" % self.cert, conf)
        # only the plugins this test runs; the rest are switched off
        with open(os.path.join(confd, "90-test.conf"), "w") as f:
            f.write("[core]\ncontrol-socket=\ndata-dir=%s\n[edged]\nenable=false\n[eventbus]\nenable=false\n"
                    "[devicetwin]\nenable=false\n[edgestream]\nenable=false\n" % self.tmp)
        log = os.path.join(self.tmp, "node.log")
        env = dict(env, EDGECORE_SYSTEM_CONFIG_DIRS="", EDGECORE_SYSTEM_PLUGIN_DIRS="")
        node = subprocess.Popen([BIN, "--config-dir", confd, "--plugin-dir", os.path.join(PLUGINS, "edgehub"),
                                 "--plugin-dir", os.path.join(PLUGINS, "metamanager")],
                                env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
        self.procs.append(node)
        connect = wait_for(lambda: self.events("connect"), 60,
                           "the taken-over node to connect; its log:\n" + read(log))[0]
        self.assertEqual(connect["node_id"], "edge-node-01")
        self.assertIn("kubeedge.io", connect.get("subject") or "")
        # no bootstrap: the cloud never saw a certificate request, and the
        # node's certificate is the one it had
        self.assertEqual(self.events("csr"), [])
        self.assertEqual([e for e in self.events("http") if e.get("path") in ("/ca.crt", "/edge.crt")], [])
        self.assertEqual(read(self.cert, "rb"), cert_before)
        # the database was migrated in place and kept its rows
        wait_for(lambda: "migrated table meta_v2" in read(log), 30, "the migration")
        con = sqlite3.connect(self.db)
        cols = [r[1] for r in con.execute("PRAGMA table_info(meta_v2)")]
        rows = con.execute("SELECT name, resource_version FROM meta_v2").fetchall()
        con.close()
        self.assertIn("group_version_resource", cols)
        self.assertEqual(rows, [("old", 40)])


if __name__ == "__main__":
    unittest.main(verbosity=2)
