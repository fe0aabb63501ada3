#!/usr/bin/env python3
"""The store under edged's load (issue 12, kubeedge#4481 "database is
locked"): a real edgecore with metamanager and metaserver; pod status
updates from edged (update <ns>/podstatus/<name>, through the control
socket, as edged sends them) at 500 per second for a minute while
metaserver serves LISTs of the pods. Nothing may be lost (every pod's
stored status is the last one sent), no LIST may fail, and the log must
never say "database is locked". The rate actually reached is printed (the
test does not depend on speed)."""
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "lib"))
import harness  # noqa: E402
from harness import read  # noqa: E402

BIN = os.environ["EDGECORE_BIN"]
MM_DIR = os.environ["METAMANAGER_PLUGIN_DIR"]
MS_DIR = os.environ["METASERVER_PLUGIN_DIR"]
N_PODS = 50
RATE = 500
SECONDS = int(os.environ.get("STORE_LOAD_SECONDS", "60"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ctl(sock, command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(sock)
        s.sendall(command.encode() + b"\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode()


def msg(source, group, op, resource, content):
    return json.dumps({"header": {"msg_id": os.urandom(8).hex(), "timestamp": int(time.time() * 1000)},
                       "route": {"source": source, "group": group, "operation": op,
                                 "resource": resource},
                       "content": content})


class StoreLoad(unittest.TestCase):
    def test_status_flood_while_listing(self):
        tmp = tempfile.TemporaryDirectory(prefix="ec-store-load-")
        self.addCleanup(tmp.cleanup)
        root = tmp.name
        port = free_port()
        sock = os.path.join(root, "ctl.sock")
        confd = os.path.join(root, "conf.d")
        os.makedirs(confd)
        with open(os.path.join(confd, "00-test.conf"), "w") as f:
            f.write(f"[core]\ncontrol-socket={sock}\ndata-dir={root}\nnode-name=edge-load\n"
                    f"stop-timeout=10\n[database]\ndata-source={root}/edgecore.db\n"
                    "[metamanager]\nenable=true\n"
                    f"[metaserver]\nenable=true\nserver=127.0.0.1:{port}\n")
        log_path = os.path.join(root, "node.log")
        log = open(log_path, "a")
        env = dict(os.environ, G_DEBUG="")
        proc = subprocess.Popen([BIN, "--config-dir", confd, "--plugin-dir", MM_DIR,
                                 "--plugin-dir", MS_DIR], stdout=log, stderr=subprocess.STDOUT, env=env)

        def stop():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()
        self.addCleanup(stop)
        harness.wait_for(lambda: os.path.exists(sock), 20, "the control socket")

        # the pods, as the cloud sends them
        for i in range(N_PODS):
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": f"p{i}", "namespace": "default", "uid": f"uid-p{i}",
                                "resourceVersion": "1"},
                   "spec": {"nodeName": "edge-load", "containers": [{"name": "c", "image": "x"}]}}
            self.assertIn("ok", ctl(sock, "send metamanager " + msg("edgecontroller", "resource", "insert",
                                                                    f"default/pod/p{i}", pod)))

        def list_pods(conn=None):
            """A LIST; on conn (kept alive, as kubectl and informers keep
            theirs) or on a connection of its own."""
            c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", "/api/v1/namespaces/default/pods")
            r = c.getresponse()
            body = r.read()
            if not conn:
                c.close()
            return r.status, body
        harness.wait_for(lambda: list_pods()[0] == 200 and len(json.loads(list_pods()[1])["items"]) == N_PODS,
                         30, "the pods listed")

        stop_at = time.monotonic() + SECONDS
        lists = {"ok": 0, "bad": []}
        last = {}
        lock = threading.Lock()
        sent = [0]

        errors = []

        def failing_test_on_error(func):
            """A thread's exception fails the test (not only its own run)."""
            def run(*args):
                try:
                    func(*args)
                except Exception as e:  # noqa: BLE001
                    errors.append(f"{func.__name__}: {e!r}")
            return run

        @failing_test_on_error
        def lister():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                while time.monotonic() < stop_at:
                    status, body = list_pods(conn)
                    if status == 200 and len(json.loads(body)["items"]) == N_PODS:
                        lists["ok"] += 1
                    else:
                        lists["bad"].append((status, body[:200]))
            finally:
                conn.close()

        @failing_test_on_error
        def sender(k, n_threads):
            seq = 0
            start = time.monotonic()
            while time.monotonic() < stop_at:
                i = (seq * n_threads + k) % N_PODS
                n = seq
                content = {"Name": f"p{i}", "UID": f"uid-p{i}",
                           "Status": {"phase": "Running", "message": f"thread {k} seq {n}"}}
                out = ctl(sock, "send metamanager " + msg("edged", "meta", "update",
                                                          f"default/podstatus/p{i}", content))
                if "ok" not in out:
                    raise AssertionError(out)
                with lock:
                    last[f"p{i}"] = f"thread {k} seq {n}"
                    sent[0] += 1
                seq += 1
                # pace: RATE per second over all threads
                ahead = seq / (RATE / n_threads) - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)

        n_threads = 4
        threads = [threading.Thread(target=sender, args=(k, n_threads)) for k in range(n_threads)]
        threads += [threading.Thread(target=lister) for _ in range(2)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        print(f"{sent[0]} status updates in {elapsed:.1f} s ({sent[0] / elapsed:.0f}/s), "
              f"{lists['ok']} LISTs", flush=True)
        self.assertEqual(errors, [])
        self.assertEqual(lists["bad"], [])
        self.assertGreater(lists["ok"], 0)

        # nothing lost: every pod's stored status is the last one sent
        def stored():
            db = sqlite3.connect(os.path.join(root, "edgecore.db"), timeout=30)
            try:
                rows = dict(db.execute("SELECT key, value FROM meta WHERE type = 'podstatus'").fetchall())
            finally:
                db.close()
            return {k.rsplit("/", 1)[1]: json.loads(v)["Status"]["message"] for k, v in rows.items()}
        harness.wait_for(lambda: stored() == last, 60,
                         lambda: f"the last statuses stored: {len(stored())} rows")
        out = read(log_path)
        self.assertNotIn("database is locked", out)
        self.assertNotRegex(out, r"SQLITE_BUSY|\bbusy\b")
        self.assertIsNone(proc.poll())


if __name__ == "__main__":
    unittest.main(verbosity=2)
