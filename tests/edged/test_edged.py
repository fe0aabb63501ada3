#!/usr/bin/env python3
"""edged in the real edgecore host with the real edgehub and metamanager,
against cloudsim on 127.0.0.1 and a private containerd (with-runtime.sh):
node registration and status in KubeEdge v1.9.2's format as they reach the
cloud, the Ready condition following the runtime going away and coming
back, and pods sent by the cloud running (status in v1.9.2's podstatus
format) and removed. Run through with-runtime.sh (it exports EDGED_TEST_*)."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import read  # noqa: E402

BIN = os.environ["EDGECORE_BIN"]
CLOUDSIM = os.environ["CLOUDSIM_BIN"]
PLUGIN_DIRS = os.environ["EDGED_PLUGIN_DIRS"].split(":")
SOCK = os.environ["EDGED_TEST_CRI_SOCK"]
RUNTIME_SH = os.environ["EDGED_TEST_RUNTIME_SH"]
RUNTIME_DIR = os.environ["EDGED_TEST_RUNTIME_DIR"]
IMAGE = os.environ["EDGED_TEST_IMAGE"]
CGROUP = os.environ["EDGED_TEST_CGROUP_PARENT"]
NODE = "edge-rt"


def wait_for(pred, timeout, what):
    return harness.wait_for(pred, timeout, what, 0.1)


def runtime(cmd):
    subprocess.run([RUNTIME_SH, cmd, RUNTIME_DIR], check=True, timeout=60)


class Cloud:
    """cloudsim: the record of what the node sent."""

    def __init__(self, test, root):
        self.dir = os.path.join(root, "cloud")
        self.out_path = os.path.join(root, "cloud.out")
        os.makedirs(self.dir)
        self.proc, self.out = harness.start_cloudsim(CLOUDSIM, self.dir, self.out_path, ["--port", "0"], 20,
                                                     "cloudsim to start", 0.1)
        test.addCleanup(self.kill)
        self.conf = read(os.path.join(self.dir, "edgehub.conf"))

    def received(self):
        return [e["msg"] for e in harness.cloud_events(self.dir, "recv")]

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def send_pod(self, op, pod, rv):
        m = {"header": {"resourceversion": str(rv)},
             "route": {"source": "edgecontroller", "group": "resource", "operation": op,
                       "resource": f"{pod['metadata']['namespace']}/pod/{pod['metadata']['name']}"},
             "content": pod}
        self.cmd("send " + json.dumps(m))

    def pod_statuses(self, name):
        return [m["content"] for m in self.received()
                if m["route"]["operation"] == "update"
                and m["route"]["resource"] == f"default/podstatus/{name}"]

    def node_messages(self, op):
        res = f"default/nodestatus/{NODE}"
        return [m for m in self.received()
                if m["route"]["operation"] == op and m["route"]["resource"] == res]

    def kill(self):
        harness.stop_process(self.proc)
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
                 lambda: f"log line {pattern!r}:\n" + self.output()[-3000:])

    def alive(self):
        return self.proc.poll() is None

    def stop_clean(self, test):
        """SIGTERM: edgecore stops by itself, exit status 0 (in the ASan build:
        no leak, no sanitizer report)."""
        if self.log.closed:
            return
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
        test.assertNotIn("CRITICAL", out)
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

    def runtime_conf(self, extra=""):
        """[edged] lines for the test's containerd, its log folder and cgroup
        parent, then extra."""
        return (f"container-runtime-endpoint=unix://{SOCK}\n"
                f"image-service-endpoint=unix://{SOCK}\n"
                f"pod-logs-dir={self.root}/pods\ncgroup-root={CGROUP}\n" + extra)

    def start_node(self, cloud=None, extra=""):
        """cloudsim (or cloud) and a node on the test's containerd, once the
        node has registered."""
        cloud = cloud or Cloud(self, self.root)
        node = Node(self, self.root, cloud, self.runtime_conf(extra))
        wait_for(lambda: cloud.node_messages("insert"), 30, "registration")
        return cloud, node


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
                           lambda: "the node registration at the cloud:\n" + node.output()[-3000:])
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


def crictl_ls():
    """Containers of the runtime's CRI namespace (ctr)."""
    out = subprocess.run(["ctr", "--address", SOCK, "-n", "k8s.io", "containers", "ls", "-q"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return out.split()


def pod_obj(name, uid, command, node=NODE, **spec_extra):
    spec = {"nodeName": node, "hostNetwork": True, "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c"], "args": [command],
                            "env": [{"name": "GREETING", "value": "hello-env"}],
                            "workingDir": "/tmp"}]}
    spec.update(spec_extra)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": uid,
                         "resourceVersion": "1", "labels": {"app": name}},
            "spec": spec}


class Pods(Base):
    def start(self, extra=""):
        cloud = Cloud(self, self.root)
        node = Node(self, self.root, cloud,
                    f"container-runtime-endpoint=unix://{SOCK}\n"
                    f"image-service-endpoint=unix://{SOCK}\n"
                    f"pod-logs-dir={self.root}/pods\ncgroup-root={CGROUP}\n" + extra)
        wait_for(lambda: cloud.node_messages("insert"), 30, "registration")
        return cloud, node

    def test_pod_runs_reports_and_is_removed(self):
        cloud, node = self.start()
        before = set(crictl_ls())
        pod = pod_obj("web", "uid-web-1", "echo $GREETING from $(pwd); sleep 3600")
        cloud.send_pod("insert", pod, 1)

        def running():
            return [st for st in cloud.pod_statuses("web") if st["Status"]["phase"] == "Running"]
        st = wait_for(running, 60, lambda: "Running at the cloud:\n" + node.output()[-3000:]
                      + json.dumps(cloud.pod_statuses("web"))[-3000:])[0]
        self.assertEqual(set(st), {"Name", "Status", "UID"})
        self.assertEqual((st["Name"], st["UID"]), ("web", "uid-web-1"))
        status = st["Status"]
        cs = status["containerStatuses"][0]
        self.assertEqual(cs["name"], "main")
        self.assertEqual(cs["image"], IMAGE)
        self.assertTrue(cs["imageID"].startswith("sha256:"))
        self.assertRegex(cs["containerID"], r"^containerd://[0-9a-f]{64}$")
        self.assertIn("running", cs["state"])
        self.assertEqual((cs["ready"], cs["started"], cs["restartCount"]), (True, True, 0))
        conds = {c["type"]: c["status"] for c in status["conditions"]}
        self.assertEqual(conds, {"Initialized": "True", "Ready": "True",
                                 "ContainersReady": "True", "PodScheduled": "True"})
        self.assertEqual(status["qosClass"], "BestEffort")
        self.assertEqual(status["hostIP"], status["podIP"])
        self.assertIn("startTime", status)
        # Pending came first
        self.assertEqual(cloud.pod_statuses("web")[0]["Status"]["phase"], "Pending")
        # the container's log: env value and working directory applied
        log = os.path.join(self.root, "pods", "default_web_uid-web-1", "main", "0.log")
        wait_for(lambda: os.path.exists(log) and "hello-env from /tmp" in read(log), 20,
                 "the container's log line")
        self.assertRegex(read(log), r"\S+ stdout F hello-env from /tmp\n")
        self.assertEqual(len(set(crictl_ls()) - before), 2)   # sandbox + container

        # the cloud deletes the pod: sandbox and container leave the runtime
        cloud.send_pod("delete", pod, 2)
        node.wait_log(r"pod default/web \(uid uid-web-1\) removed from the runtime", 60)
        self.assertEqual(set(crictl_ls()), before)
        self.assertTrue(node.alive())

    def test_restart_reads_stored_pods_and_adopts_them(self):
        cloud, node = self.start()
        before = set(crictl_ls())
        cloud.send_pod("insert", pod_obj("keep", "uid-keep", "sleep 3600"), 1)
        wait_for(lambda: [s for s in cloud.pod_statuses("keep")
                          if s["Status"]["phase"] == "Running"], 60, "Running")
        ours = set(crictl_ls()) - before
        self.assertEqual(len(ours), 2)
        node.stop_clean(self)
        n_status = len(cloud.pod_statuses("keep"))
        # a new edgecore on the same database: the stored pod is read at
        # start and its sandbox and container are adopted, not created again
        node2 = Node(self, self.root, cloud,
                     f"container-runtime-endpoint=unix://{SOCK}\n"
                     f"image-service-endpoint=unix://{SOCK}\n"
                     f"pod-logs-dir={self.root}/pods\ncgroup-root={CGROUP}\n")
        node2.wait_log(r"pod default/keep: adopted sandbox [0-9a-f]{12} and 1 of 1 containers", 60)
        wait_for(lambda: [s for s in cloud.pod_statuses("keep")[n_status:]
                          if s["Status"]["phase"] == "Running"], 60,
                 lambda: "Running after the restart:\n" + node2.output()[-6000:]
                 + "\ncloud:\n" + read(cloud.out_path)[-2000:]
                 + json.dumps(cloud.pod_statuses("keep")[n_status:])[-2000:])
        self.assertEqual(set(crictl_ls()) - before, ours)

    def test_crash_loop_backoff_and_on_failure(self):
        cloud, node = self.start()
        before = set(crictl_ls())
        cloud.send_pod("insert", pod_obj("crash", "uid-crash", "echo crashed; exit 1",
                                         restartPolicy="Always"), 1)
        cloud.send_pod("insert", pod_obj("once", "uid-once", "exit 0",
                                         restartPolicy="OnFailure"), 1)

        def backoff():
            out = []
            for st in cloud.pod_statuses("crash"):
                cs = st["Status"]["containerStatuses"][0]
                if cs["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff":
                    out.append(st)
            return out
        st = wait_for(backoff, 60, lambda: "CrashLoopBackOff:\n" + node.output()[-3000:])[0]
        status = st["Status"]
        cs = status["containerStatuses"][0]
        self.assertEqual(status["phase"], "Running")
        self.assertGreaterEqual(cs["restartCount"], 1)
        self.assertFalse(cs["ready"])
        self.assertRegex(cs["state"]["waiting"]["message"],
                         r"^back-off 10s restarting failed container=main pod=crash_default\(uid-crash\)$")
        term = cs["lastState"]["terminated"]
        self.assertEqual((term["exitCode"], term["reason"]), (1, "Error"))
        # every attempt logs to its own file
        logdir = os.path.join(self.root, "pods", "default_crash_uid-crash", "main")
        self.assertTrue(os.path.exists(os.path.join(logdir, "0.log")))
        self.assertTrue(os.path.exists(os.path.join(logdir, "1.log")))
        # OnFailure with exit 0: Succeeded, never restarted
        done = wait_for(lambda: [s for s in cloud.pod_statuses("once")
                                 if s["Status"]["phase"] == "Succeeded"], 60, "Succeeded")[0]
        self.assertEqual(done["Status"]["containerStatuses"][0]["restartCount"], 0)
        # deleting the crash-looping pod removes its dead containers too
        for name in ("crash", "once"):
            cloud.send_pod("delete", pod_obj(name, f"uid-{name}", "true"), 2)
        node.wait_log(r"pod default/crash \(uid uid-crash\) removed from the runtime", 60)
        node.wait_log(r"pod default/once \(uid uid-once\) removed from the runtime", 60)
        self.assertEqual(set(crictl_ls()), before)

    def test_graceful_deletion_handshake(self):
        cloud, node = self.start()
        before = set(crictl_ls())
        pod = pod_obj("graceful", "uid-graceful", "sleep 3600")
        cloud.send_pod("insert", pod, 1)
        wait_for(lambda: [s for s in cloud.pod_statuses("graceful")
                          if s["Status"]["phase"] == "Running"], 60, "Running")
        # the cloud marks the pod for deletion: edged stops it, then asks the
        # cloud to delete it, with the pod's UID as v1.9.2 does
        pod["metadata"]["deletionTimestamp"] = "2026-12-05T00:00:00Z"
        pod["metadata"]["deletionGracePeriodSeconds"] = 2
        pod["metadata"]["resourceVersion"] = "2"
        cloud.send_pod("update", pod, 2)

        def deleted():
            return [m for m in cloud.received() if m["route"]["operation"] == "delete"
                    and m["route"]["resource"] == "default/pod/graceful"]
        d = wait_for(deleted, 60, lambda: "delete to the cloud:\n" + node.output()[-3000:])[0]
        self.assertEqual(d["content"], "uid-graceful")
        self.assertEqual((d["route"]["source"], d["route"]["group"]), ("edged", "meta"))
        self.assertEqual(set(crictl_ls()), before)

    def test_max_pods_refuses_more(self):
        # a cloud (or a store) with more pods than max-pods cannot make the
        # node hold an unbounded number of pods: the extra one is refused
        cloud, node = self.start("max-pods=1\n")
        cloud.send_pod("insert", pod_obj("one", "uid-one", "sleep 3600"), 1)
        node.wait_log(r"pod default/one \(uid uid-one\): starting")
        cloud.send_pod("insert", pod_obj("two", "uid-two", "sleep 3600"), 1)
        st = wait_for(lambda: cloud.pod_statuses("two"), 30, "the refused pod's status")[0]
        self.assertEqual(st["Status"]["phase"], "Failed")
        self.assertIn("OutOfpods", st["Status"]["message"])
        self.assertTrue(node.alive())
        cloud.send_pod("delete", pod_obj("one", "uid-one", "sleep 3600"), 2)
        node.wait_log(r"pod default/one \(uid uid-one\) removed from the runtime", 60)

    def test_exit_code_other_node_and_invalid_pod(self):
        cloud, node = self.start()
        # a pod for another node is ignored, with a log line
        cloud.send_pod("insert", pod_obj("elsewhere", "uid-else", "true", node="other-node"), 1)
        node.wait_log(r"pod default/elsewhere is for node \"other-node\", not edge-rt: ignored")
        # an invalid pod gets a status saying why
        bad = pod_obj("broken", "uid-broken", "true")
        bad["spec"]["containers"][0]["imagePullPolicy"] = "Sometimes"
        cloud.send_pod("insert", bad, 1)
        st = wait_for(lambda: cloud.pod_statuses("broken"), 30, "the invalid pod's status")[0]
        self.assertEqual(st["Status"]["phase"], "Failed")
        self.assertEqual(st["Status"]["reason"], "InvalidPodSpec")
        self.assertIn("unknown imagePullPolicy Sometimes", st["Status"]["message"])
        # a container that exits 3 with restartPolicy Never: Failed, exit code reported
        cloud.send_pod("insert", pod_obj("fails", "uid-fails", "exit 3"), 1)
        failed = wait_for(lambda: [s for s in cloud.pod_statuses("fails")
                                   if s["Status"]["phase"] == "Failed"], 60,
                          "phase Failed:\n" + node.output()[-3000:])[0]
        term = failed["Status"]["containerStatuses"][0]["state"]["terminated"]
        self.assertEqual((term["exitCode"], term["reason"]), (3, "Error"))
        # an image that cannot be pulled: ErrImagePull with the runtime's error
        unpullable = pod_obj("nopull", "uid-nopull", "true")
        unpullable["spec"]["containers"][0]["image"] = "127.0.0.1:1/edged/absent:1"
        cloud.send_pod("insert", unpullable, 1)

        def waiting():
            out = []
            for s in cloud.pod_statuses("nopull"):
                w = s["Status"]["containerStatuses"][0]["state"].get("waiting", {})
                if w.get("reason") == "ErrImagePull":
                    out.append(w)
            return out
        w = wait_for(waiting, 60, lambda: "ErrImagePull:\n" + node.output()[-3000:])[0]
        self.assertIn("127.0.0.1:1/edged/absent:1", w["message"])
        self.assertIn("PullImage", w["message"])

        def backoff():
            return [s for s in cloud.pod_statuses("nopull")
                    if s["Status"]["containerStatuses"][0]["state"].get("waiting", {})
                    .get("reason") == "ImagePullBackOff"]
        b = wait_for(backoff, 30, "ImagePullBackOff")[0]
        self.assertEqual(b["Status"]["containerStatuses"][0]["state"]["waiting"]["message"],
                         'Back-off pulling image "127.0.0.1:1/edged/absent:1"')
        self.assertEqual(b["Status"]["phase"], "Pending")
        self.assertTrue(node.alive())
        for name in ("fails", "nopull"):
            cloud.send_pod("delete", pod_obj(name, f"uid-{name}", "true"), 2)
        node.wait_log(r"pod default/fails \(uid uid-fails\) removed from the runtime", 60)
        node.wait_log(r"pod default/nopull \(uid uid-nopull\) removed from the runtime", 60)


class NoRuntime(Base):
    def test_missing_runtime_registers_not_ready(self):
        cloud = Cloud(self, self.root)
        node = Node(self, self.root, cloud,
                    f"container-runtime-endpoint=unix://{self.root}/absent.sock\n")
        updates = wait_for(lambda: cloud.node_messages("update"), 30,
                           lambda: "a node status without a runtime:\n" + node.output()[-3000:])
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
        # stopped once connected: a SIGTERM during edgehub's certificate
        # bootstrap can crash edgecore at exit (edgehub's, seen once; not edged's)
        node.wait_log(r"edgehub: connected to the cloud")
        self.assertTrue(node.alive())


if __name__ == "__main__":
    unittest.main(verbosity=2)
