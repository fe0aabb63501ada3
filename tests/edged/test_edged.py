#!/usr/bin/env python3
"""edged in the real edgecore host with the real edgehub and metamanager,
against cloudsim on 127.0.0.1 and a private containerd (with-runtime.sh):
node registration and status in KubeEdge v1.9.2's format as they reach the
cloud, and the Ready condition following the runtime going away and coming
back. Run through with-runtime.sh (it exports EDGED_TEST_*)."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

BIN = os.environ["EDGECORE_BIN"]
CLOUDSIM = os.environ["CLOUDSIM_BIN"]
PLUGIN_DIRS = os.environ["EDGED_PLUGIN_DIRS"].split(":")
SOCK = os.environ["EDGED_TEST_CRI_SOCK"]
RUNTIME_SH = os.environ["EDGED_TEST_RUNTIME_SH"]
RUNTIME_DIR = os.environ["EDGED_TEST_RUNTIME_DIR"]
NODE = "edge-rt"


def read(path):
    with open(path) as f:
        return f.read()


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def runtime(cmd):
    subprocess.run([RUNTIME_SH, cmd, RUNTIME_DIR], check=True, timeout=60)


class Cloud:
    """cloudsim: the record of what the node sent."""

    def __init__(self, test, root):
        self.dir = os.path.join(root, "cloud")
        self.out_path = os.path.join(root, "cloud.out")
        os.makedirs(self.dir)
        self.out = open(self.out_path, "w")
        self.proc = subprocess.Popen([CLOUDSIM, "--dir", self.dir, "--port", "0"],
                                     stdin=subprocess.PIPE, stdout=self.out,
                                     stderr=subprocess.STDOUT, text=True)
        test.addCleanup(self.kill)
        wait_for(lambda: "ready" in read(self.out_path) or self.proc.poll() is not None, 20,
                 "cloudsim to start")
        if self.proc.poll() is not None:
            raise AssertionError("cloudsim exited:\n" + read(self.out_path))
        self.conf = read(os.path.join(self.dir, "edgehub.conf"))

    def received(self):
        path = os.path.join(self.dir, "record.jsonl")
        out = []
        if os.path.exists(path):
            for line in read(path).splitlines(keepends=True):
                if not line.endswith("\n"):
                    break
                e = json.loads(line)
                if e.get("event") == "recv":
                    out.append(e["msg"])
        return out

    def node_messages(self, op):
        res = f"default/nodestatus/{NODE}"
        return [m for m in self.received()
                if m["route"]["operation"] == op and m["route"]["resource"] == res]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdin.close()
        self.out.close()


class Node:
    """edgecore with edgehub, metamanager and edged."""

    def __init__(self, test, root, cloud, edged_conf):
        self.root = root
        confd = os.path.join(root, "conf.d")
        os.makedirs(confd, exist_ok=True)
        certs = os.path.join(root, "kubeedge")
        self.log_path = os.path.join(root, "node.log")
        with open(os.path.join(confd, "00-test.conf"), "w") as f:
            f.write(f"[core]\ncontrol-socket={root}/ctl.sock\ndata-dir={root}\nnode-name={NODE}\n"
                    f"stop-timeout=5\n[database]\ndata-source={root}/edgecore.db\n"
                    f"[edgehub]\ntls-ca-file={certs}/ca/rootCA.crt\n"
                    f"tls-cert-file={certs}/certs/server.crt\n"
                    f"tls-private-key-file={certs}/certs/server.key\ntoken-file=\n"
                    "reconnect-backoff-initial=0.2\nreconnect-backoff-max=1\n"
                    "[metamanager]\nenable=true\n"
                    f"[edged]\nenable=true\nroot-directory={root}/kubelet\n"
                    "node-status-update-frequency=1s\n" + edged_conf)
        with open(os.path.join(confd, "10-cloud.conf"), "w") as f:
            f.write(cloud.conf)
        args = [BIN, "--config-dir", confd]
        for d in PLUGIN_DIRS:
            args += ["--plugin-dir", d]
        self.log = open(self.log_path, "a")
        # LeakSanitizer's tracer itself crashes (signal 11) at exit once
        # glib-networking's GnuTLS module has run (as in the metaserver
        # tests); ASan/UBSan stay on. edged's leaks are checked by its unit
        # and CRI tests. (Harmless in a build without sanitizers.)
        env = dict(os.environ, G_DEBUG="")
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        test.addCleanup(self.stop_clean, test)

    def output(self):
        return read(self.log_path)

    def wait_log(self, pattern, timeout=20):
        wait_for(lambda: re.search(pattern, self.output()), timeout,
                 f"log line {pattern!r}:\n" + self.output()[-3000:])

    def alive(self):
        return self.proc.poll() is None

    def stop_clean(self, test):
        """SIGTERM: edgecore stops by itself, exit status 0 (in the ASan build:
        no leak, no sanitizer report)."""
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        out = self.output()
        test.assertNotIn("Sanitizer", out)
        test.assertNotIn("runtime error:", out)
        if rc is not None:
            test.assertEqual(rc, 0, "edgecore's exit status:\n" + out[-3000:])


def ready(status_msg):
    return next(c for c in status_msg["content"]["Status"]["conditions"] if c["type"] == "Ready")


def meminfo_bytes(name):
    for line in read("/proc/meminfo").splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(name)


def first_line(path):
    try:
        return read(path).strip()
    except OSError:
        return ""


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ec-edged-")
        self.addCleanup(self.tmp.cleanup)
        self.root = self.tmp.name


class Registration(Base):
    CONF = (f"container-runtime-endpoint=unix://{SOCK}\n"
            f"image-service-endpoint=unix://{SOCK}\n"
            "node-ip=192.0.2.10\n"
            "node-labels=region=east;zone=a;flag\n"
            "register-with-taints=node-role.kubernetes.io/edge:NoSchedule;dedicated=edge:NoExecute\n"
            "system-reserved=cpu=100m;memory=64Mi\nkube-reserved=memory=32Mi\n")

    def test_register_status_and_runtime_down_up(self):
        cloud = Cloud(self, self.root)
        node = Node(self, self.root, cloud, self.CONF)

        inserts = wait_for(lambda: cloud.node_messages("insert"), 30,
                           "the node registration at the cloud:\n" + node.output()[-3000:])
        reg = inserts[0]
        self.assertEqual(len(inserts), 1)
        self.assertEqual(reg["route"]["source"], "edged")
        self.assertEqual(reg["route"]["group"], "meta")
        obj = reg["content"]
        labels = obj["metadata"]["labels"]
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
        self.assertEqual(labels, {
            "kubernetes.io/arch": arch, "kubernetes.io/hostname": NODE,
            "kubernetes.io/os": "linux", "node-role.kubernetes.io/agent": "",
            "node-role.kubernetes.io/edge": "", "region": "east", "zone": "a", "flag": ""})
        self.assertIsNone(obj["metadata"]["creationTimestamp"])
        self.assertEqual(obj["metadata"]["name"], NODE)
        self.assertEqual(obj["spec"]["taints"], [
            {"effect": "NoSchedule", "key": "node-role.kubernetes.io/edge"},
            {"effect": "NoExecute", "key": "dedicated", "value": "edge"}])
        st = obj["status"]
        self.assertEqual(st["addresses"], [{"address": "192.0.2.10", "type": "InternalIP"},
                                           {"address": NODE, "type": "Hostname"}])
        self.assertEqual(st["daemonEndpoints"], {"kubeletEndpoint": {"Port": 0}})
        self.assertNotIn("conditions", st)
        cpus = os.sysconf("SC_NPROCESSORS_ONLN")
        mem = meminfo_bytes("MemTotal")
        self.assertEqual(st["capacity"]["cpu"], str(cpus))
        self.assertEqual(st["capacity"]["pods"], "110")
        self.assertEqual(st["capacity"]["memory"], f"{mem // 2**20}Mi")
        self.assertEqual(st["allocatable"]["cpu"], f"{cpus * 1000 - 100}m")
        # minus system-reserved, kube-reserved and eviction-hard memory.available<100Mi
        self.assertEqual(st["allocatable"]["memory"], f"{(mem - 196 * 2**20) // 2**20}Mi")
        vfs = os.statvfs(self.root)
        cap = vfs.f_blocks * vfs.f_frsize
        self.assertEqual(st["capacity"]["ephemeral-storage"], f"{cap // 1024}Ki")
        # minus nodefs.available<10%
        self.assertEqual(st["allocatable"]["ephemeral-storage"],
                         f"{(cap - int(cap * 0.1)) // 1024}Ki")
        info = st["nodeInfo"]
        version = subprocess.run(["containerd", "--version"], capture_output=True,
                                 text=True).stdout.split()[2]
        self.assertEqual(info, {
            "architecture": arch, "bootID": first_line("/proc/sys/kernel/random/boot_id"),
            "containerRuntimeVersion": f"remote://{version}",
            "kernelVersion": os.uname().release, "kubeProxyVersion": "",
            "kubeletVersion": "v1.21.4-kubeedge-v1.9.2",
            "machineID": first_line("/etc/machine-id"),
            "operatingSystem": "linux", "osImage": info["osImage"],
            "systemUUID": info["systemUUID"]})
        self.assertTrue(info["osImage"])
        self.assertTrue(info["containerRuntimeVersion"].startswith("remote://1."))

        # periodic status, v1.9.2's NodeStatusRequest, Ready from the runtime
        updates = wait_for(lambda: len(cloud.node_messages("update")) >= 2
                           and cloud.node_messages("update"), 30, "two node status updates")
        upd = updates[-1]["content"]
        self.assertEqual(set(upd), {"ExtendResources", "Status", "UID"})
        self.assertIsNone(upd["ExtendResources"])
        self.assertEqual(upd["UID"], "38796d14-1df3-11e8-8e5a-286ed488f209")
        self.assertEqual(upd["Status"]["phase"], "Running")
        self.assertEqual(upd["Status"]["daemonEndpoints"], {"kubeletEndpoint": {"Port": 10350}})
        self.assertEqual(upd["Status"]["nodeInfo"], info)
        types = [c["type"] for c in upd["Status"]["conditions"]]
        self.assertEqual(types, ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"])
        r = ready(updates[-1])
        self.assertEqual((r["status"], r["reason"], r["message"]),
                         ("True", "EdgeReady", "edge is posting ready status"))
        for c in upd["Status"]["conditions"]:
            self.assertRegex(c["lastHeartbeatTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            self.assertRegex(c["lastTransitionTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        # the cloud answered every status with "OK": nothing is left unanswered
        self.assertNotRegex(node.output(), r"node status update failed")

        # the runtime goes away: Ready turns False with the reason, edgecore stays up
        runtime("kill")
        down = wait_for(lambda: [m for m in cloud.node_messages("update")
                                 if ready(m)["status"] == "False"], 40,
                        "Ready=False after containerd stopped:\n" + node.output()[-3000:])
        r = ready(down[0])
        self.assertEqual(r["reason"], "KubeletNotReady")
        self.assertIn("container runtime is down", r["message"])
        self.assertIn("cannot connect to", r["message"])
        node.wait_log(r"container runtime not ready: container runtime is down")
        self.assertTrue(node.alive())
        n_down = len(cloud.node_messages("update"))

        # and comes back: Ready again by itself
        runtime("restart")
        wait_for(lambda: [m for m in cloud.node_messages("update")[n_down:]
                          if ready(m)["status"] == "True"], 60,
                 "Ready=True after containerd came back:\n" + node.output()[-3000:])
        node.wait_log(r"container runtime containerd \S+ is ready again")
        self.assertTrue(node.alive())


class NoRuntime(Base):
    def test_missing_runtime_registers_not_ready(self):
        cloud = Cloud(self, self.root)
        node = Node(self, self.root, cloud,
                    f"container-runtime-endpoint=unix://{self.root}/absent.sock\n")
        updates = wait_for(lambda: cloud.node_messages("update"), 30,
                           "a node status without a runtime:\n" + node.output()[-3000:])
        reg = cloud.node_messages("insert")[0]["content"]
        self.assertEqual(reg["status"]["nodeInfo"]["containerRuntimeVersion"], "")
        r = ready(updates[0])
        self.assertEqual((r["status"], r["reason"]), ("False", "KubeletNotReady"))
        self.assertIn("absent.sock", r["message"])
        # retried with backoff, and edgecore keeps running
        time.sleep(3)
        self.assertTrue(node.alive())
        self.assertEqual(len(re.findall(r"container runtime not ready", node.output())), 1)


class BadConfig(Base):
    def test_bad_taint_named_in_the_error(self):
        cloud = Cloud(self, self.root)
        node = Node(self, self.root, cloud,
                    f"container-runtime-endpoint=unix://{SOCK}\n"
                    "register-with-taints=dedicated=edge:Sometimes\n")
        node.wait_log(r"\[edged\] register-with-taints: invalid taint \"dedicated=edge:Sometimes\".*"
                      r"the other plugins keep running")
        node.wait_log(r"edgehub: connected to the cloud")
        time.sleep(1)
        self.assertTrue(node.alive())
        self.assertEqual(cloud.node_messages("insert"), [])

    def test_bad_endpoint_named_in_the_error(self):
        cloud = Cloud(self, self.root)
        node = Node(self, self.root, cloud, "container-runtime-endpoint=tcp://127.0.0.1:1\n")
        node.wait_log(r"\[edged\] container-runtime-endpoint: runtime endpoint tcp://127.0.0.1:1 "
                      r"is not a unix socket path")


if __name__ == "__main__":
    unittest.main(verbosity=2)
