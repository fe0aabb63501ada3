#!/usr/bin/env python3
"""edged's init containers, securityContext, resources, ports / pod network
and spec updates, in the real edgecore host against cloudsim and a private
containerd (with-runtime.sh): pods are sent by cloudsim as the cloud sends
them, and what happened is read back from the pod status that reached the
cloud, the containers' logs, their cgroup files and their network."""
import glob
import json
import os
import re
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_edged as te  # noqa: E402  (its helpers; its tests are not run here)
from harness import read  # noqa: E402

IMAGE = te.IMAGE
USER_IMAGE = "localhost/edged-busybox-user:1"
NODE = te.NODE


def pod(name, containers, init=None, policy="Always", host_network=True, **spec_extra):
    spec = {"nodeName": NODE, "hostNetwork": host_network, "restartPolicy": policy,
            "terminationGracePeriodSeconds": 1, "containers": containers}
    if init:
        spec["initContainers"] = init
    spec.update(spec_extra)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": "uid-" + name,
                         "resourceVersion": "1"},
            "spec": spec}


def ctr(name, script, **extra):
    c = {"name": name, "image": IMAGE, "imagePullPolicy": "IfNotPresent",
         "command": ["sh", "-c", script]}
    c.update(extra)
    return c


class Containers(te.Base):
    def start(self):
        return self.start_node()

    def status_where(self, cloud, node, name, pred, what, timeout=60):
        return te.wait_for(lambda: [s["Status"] for s in cloud.pod_statuses(name) if pred(s["Status"])],
                           timeout, lambda: f"{name}: {what}:\n" + node.output()[-3000:]
                           + "\n" + json.dumps(cloud.pod_statuses(name)[-2:])[-3000:])[-1]

    def log(self, name, container, attempt=0):
        return os.path.join(self.root, "pods", f"default_{name}_uid-{name}", container,
                            f"{attempt}.log")

    def wait_log_text(self, name, container, pattern, attempt=0, timeout=30):
        path = self.log(name, container, attempt)
        te.wait_for(lambda: os.path.exists(path) and re.search(pattern, read(path)), timeout,
                    lambda: f"{pattern!r} in {path}: "
                    + (read(path) if os.path.exists(path) else "(no log)"))
        return read(path)

    # -- init containers and securityContext -------------------------------------------

    def test_init_containers_and_security(self):
        d = os.path.join(self.root, "img")
        subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "mkimage.sh"), d,
                        USER_IMAGE, "1234"], check=True, timeout=60, capture_output=True)
        subprocess.run(["ctr", "--address", te.SOCK, "-n", "k8s.io", "images", "import",
                        os.path.join(d, "image-oci.tar")], check=True, timeout=60, capture_output=True)
        cloud, node = self.start()
        # init containers in order, each to completion, before the app container
        cloud.send_pod("insert", pod(
            "withinit",
            [ctr("main", "echo main-started; sleep 3600")],
            init=[ctr("first", "echo first; sleep 2"), ctr("second", "echo second; sleep 1")]), 1)
        # an init container failing under restartPolicy Never fails the pod
        cloud.send_pod("insert", pod(
            "initfail", [ctr("main", "echo never; sleep 3600")],
            init=[ctr("broken", "echo broken; exit 3")], policy="Never"), 1)
        # securityContext: pod-level user/groups, container-level the rest
        cloud.send_pod("insert", pod(
            "secure",
            [ctr("main", "id; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; "
                         "touch /rootfs-write && echo write-ok || echo write-refused; sleep 3600",
                 securityContext={"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                  "capabilities": {"drop": ["NET_RAW", "CHOWN"]}})],
            securityContext={"runAsUser": 1000, "runAsGroup": 2000, "supplementalGroups": [3000],
                             "fsGroup": 4000}), 1)
        # an image whose user is 1234: it runs as that user, runAsNonRoot lets it start
        cloud.send_pod("insert", pod(
            "imageuser", [ctr("main", "id; sleep 3600", image=USER_IMAGE,
                              securityContext={"runAsNonRoot": True})]), 1)
        # the image's user is root: runAsNonRoot refuses to start it, as kubelet does
        cloud.send_pod("insert", pod(
            "nonroot", [ctr("main", "sleep 3600", securityContext={"runAsNonRoot": True})]), 1)

        # -- withinit: Pending with Initialized False, then Running
        first = self.status_where(cloud, node, "withinit", lambda s: "initContainerStatuses" in s
                                  and s["conditions"][0]["status"] == "False", "init container statuses")
        init_cond = next(c for c in first["conditions"] if c["type"] == "Initialized")
        self.assertEqual(init_cond["status"], "False")
        self.assertEqual(init_cond["reason"], "ContainersNotInitialized")
        self.assertEqual(init_cond["message"], "containers with incomplete status: [first second]")
        self.assertEqual(first["phase"], "Pending")
        self.assertEqual(first["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing")
        run = self.status_where(cloud, node, "withinit",
                                lambda s: s["phase"] == "Running"
                                and "running" in s["containerStatuses"][0]["state"], "Running")
        inits = run["initContainerStatuses"]
        self.assertEqual([i["name"] for i in inits], ["first", "second"])
        for i in inits:
            term = i["state"]["terminated"]
            self.assertEqual((term["exitCode"], term["reason"]), (0, "Completed"))
            self.assertTrue(i["ready"])
            self.assertNotIn("started", i)
        t1, t2 = inits[0]["state"]["terminated"], inits[1]["state"]["terminated"]
        self.assertLessEqual(t1["finishedAt"], t2["startedAt"])
        self.assertLessEqual(t2["finishedAt"], run["containerStatuses"][0]["state"]["running"]["startedAt"])
        # first slept 2 s: second cannot have started before it ended
        self.assertLess(t1["startedAt"], t2["startedAt"])
        conds = {c["type"]: c["status"] for c in run["conditions"]}
        self.assertEqual(conds["Initialized"], "True")
        self.assertEqual(conds["Ready"], "True")
        self.assertIn("first", read(self.log("withinit", "first")))
        self.assertIn("second", read(self.log("withinit", "second")))
        self.wait_log_text("withinit", "main", "main-started")
        # -- initfail: Failed, the app container never ran
        failed = self.status_where(cloud, node, "initfail", lambda s: s["phase"] == "Failed",
                                   "phase Failed")
        term = failed["initContainerStatuses"][0]["state"]["terminated"]
        self.assertEqual((term["exitCode"], term["reason"]), (3, "Error"))
        self.assertEqual(failed["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing")
        self.assertFalse(os.path.exists(self.log("initfail", "main")))
        init_cond = next(c for c in failed["conditions"] if c["type"] == "Initialized")
        self.assertEqual((init_cond["status"], init_cond["message"]),
                         ("False", "containers with incomplete status: [broken]"))
        # -- secure: id, capabilities, no_new_privs, read-only root
        text = self.wait_log_text("secure", "main", r"write-(ok|refused)")
        groups = re.search(r"uid=1000 gid=2000 groups=(\S+)", text).group(1).split(",")
        self.assertTrue({"3000", "4000"} <= set(groups), groups)   # supplementalGroups, fsGroup
        self.assertIn("write-refused", text)
        self.assertRegex(text, r"NoNewPrivs:\s+1")
        cap_eff = int(re.search(r"CapEff:\s+([0-9a-f]+)", text).group(1), 16)
        # a non-root user has no effective capabilities at all; the bounding
        # set is checked by running as root below
        self.assertEqual(cap_eff, 0)
        # -- imageuser: the image's user, not root
        self.status_where(cloud, node, "imageuser", lambda s: s["phase"] == "Running", "Running")
        self.assertRegex(self.wait_log_text("imageuser", "main", "uid="), r"uid=1234 gid=0")
        # -- nonroot: CreateContainerConfigError with kubelet's message
        st = self.status_where(cloud, node, "nonroot",
                               lambda s: s["containerStatuses"][0]["state"].get("waiting", {})
                               .get("reason") == "CreateContainerConfigError",
                               "CreateContainerConfigError")
        self.assertEqual(st["containerStatuses"][0]["state"]["waiting"]["message"],
                         'container has runAsNonRoot and image will run as root '
                         '(pod: "nonroot_default(uid-nonroot)", container: main)')
        self.assertTrue(node.alive())

    def test_capabilities_as_root_and_bad_input(self):
        cloud, node = self.start()
        cloud.send_pod("insert", pod(
            "caps", [ctr("main", "grep -E '^Cap(Eff|Bnd)' /proc/self/status; echo done; sleep 3600",
                         securityContext={"capabilities": {"drop": ["NET_RAW"], "add": ["NET_ADMIN"]}}),
                     ctr("plain", "grep -E '^CapEff' /proc/self/status; echo done; sleep 3600"),
                     ctr("priv", "grep -E '^CapEff' /proc/self/status; echo done; sleep 3600",
                         securityContext={"privileged": True})]), 1)
        # bad input: a clear Failed status, nothing else stops
        bad_limit = pod("badlimit", [ctr("main", "sleep 3600",
                                         resources={"limits": {"memory": "-64Mi"}})])
        bad_cap = pod("badcap", [ctr("main", "sleep 3600",
                                     securityContext={"capabilities": {"drop": ["NET_RAWR"]}})])
        bad_port = pod("badport", [ctr("main", "sleep 3600",
                                       ports=[{"containerPort": 80, "protocol": "ICMP"}])])
        cloud.send_pod("insert", pod("initretry", [ctr("main", "sleep 3600")],
                                     init=[ctr("setup", "exit 4")]), 1)
        for p in (bad_limit, bad_cap, bad_port):
            cloud.send_pod("insert", p, 1)
        for name, msg in (("badlimit", 'pod badlimit: container main: resources.limits.memory: '
                                       '"-64Mi" is not a non-negative quantity'),
                          ("badcap", 'pod badcap: container main: unknown capability "NET_RAWR" '
                                     'in capabilities.drop'),
                          ("badport", 'pod badport: container main: ports[0]: unknown protocol "ICMP"')):
            st = te.wait_for(lambda: cloud.pod_statuses(name), 30, name)[0]["Status"]
            self.assertEqual((st["phase"], st["reason"], st["message"]), ("Failed", "InvalidPodSpec", msg))
        # a failing init container under restartPolicy Always: run again, then
        # kubelet's CrashLoopBackOff; the app container waits, the pod is Pending
        st = self.status_where(cloud, node, "initretry", lambda s: s["initContainerStatuses"][0]["state"]
                               .get("waiting", {}).get("reason") == "CrashLoopBackOff", "CrashLoopBackOff")
        init = st["initContainerStatuses"][0]
        self.assertGreaterEqual(init["restartCount"], 1)
        self.assertEqual(init["lastState"]["terminated"]["exitCode"], 4, json.dumps(st))
        self.assertRegex(init["state"]["waiting"]["message"],
                         r"^back-off 10s restarting failed container=setup pod=initretry_default\(uid-initretry\)$")
        self.assertEqual(st["phase"], "Pending")
        self.assertEqual(st["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing")
        self.assertFalse(os.path.exists(self.log("initretry", "main")))
        main = self.wait_log_text("caps", "main", "done")
        plain = self.wait_log_text("caps", "plain", "done")
        eff = int(re.search(r"CapEff:\s+([0-9a-f]+)", main).group(1), 16)
        bnd = int(re.search(r"CapBnd:\s+([0-9a-f]+)", main).group(1), 16)
        plain_eff = int(re.search(r"CapEff:\s+([0-9a-f]+)", plain).group(1), 16)
        NET_ADMIN, NET_RAW = 1 << 12, 1 << 13
        self.assertTrue(plain_eff & NET_RAW, hex(plain_eff))     # the runtime's default set has it
        self.assertFalse(plain_eff & NET_ADMIN, hex(plain_eff))
        self.assertFalse(eff & NET_RAW, hex(eff))                 # dropped
        self.assertFalse(bnd & NET_RAW, hex(bnd))
        self.assertTrue(eff & NET_ADMIN, hex(eff))                # added
        priv = self.wait_log_text("caps", "priv", "done")
        priv_eff = int(re.search(r"CapEff:\s+([0-9a-f]+)", priv).group(1), 16)
        SYS_ADMIN = 1 << 21
        self.assertTrue(priv_eff & SYS_ADMIN, hex(priv_eff))       # privileged: every capability
        self.assertFalse(plain_eff & SYS_ADMIN, hex(plain_eff))
        self.status_where(cloud, node, "caps", lambda s: s["phase"] == "Running", "Running")
        self.assertTrue(node.alive())

    # -- resources ---------------------------------------------------------------------

    def cgroup_file(self, controller, uid, qos_dir, cid, name):
        paths = glob.glob(f"/sys/fs/cgroup/{controller}{te.CGROUP}/kubepods{qos_dir}/pod{uid}/{cid}/{name}")
        self.assertEqual(len(paths), 1, f"{controller} {name} of {cid}: "
                         + str(glob.glob(f"/sys/fs/cgroup/{controller}{te.CGROUP}/kubepods/**",
                                         recursive=True))[:2000])
        return read(paths[0]).strip()

    def test_resources_land_in_the_cgroups(self):
        cloud, node = self.start()
        burst = pod("burst", [ctr("main", "sleep 3600", resources={
            "requests": {"cpu": "250m", "memory": "32Mi"},
            "limits": {"cpu": "500m", "memory": "64Mi"}})])
        cloud.send_pod("insert", burst, 1)
        cloud.send_pod("insert", pod("guar", [ctr("main", "sleep 3600", resources={
            "limits": {"cpu": "1", "memory": "48Mi"}})]), 1)
        cloud.send_pod("insert", pod("best", [ctr("main", "sleep 3600")]), 1)
        ids = {}
        for name, qos in (("burst", "Burstable"), ("guar", "Guaranteed"), ("best", "BestEffort")):
            st = self.status_where(cloud, node, name, lambda s: s["phase"] == "Running", "Running")
            self.assertEqual(st["qosClass"], qos)
            ids[name] = st["containerStatuses"][0]["containerID"].split("://")[1]
        mem_total = te.meminfo_bytes("MemTotal")
        for name, qos_dir, mem, quota, shares, oom in (
                ("burst", "/burstable", 64 << 20, 50000, 256, 1000 - (1000 * (32 << 20)) // mem_total),
                ("guar", "", 48 << 20, 100000, 1024, None),
                ("best", "/besteffort", None, -1, 2, 1000)):
            uid, cid = "uid-" + name, ids[name]
            if mem is not None:
                self.assertEqual(int(self.cgroup_file("memory", uid, qos_dir, cid, "memory.limit_in_bytes")), mem)
            else:
                self.assertGreater(int(self.cgroup_file("memory", uid, qos_dir, cid, "memory.limit_in_bytes")),
                                   1 << 40)
            self.assertEqual(int(self.cgroup_file("cpu", uid, qos_dir, cid, "cpu.cfs_quota_us")), quota)
            self.assertEqual(int(self.cgroup_file("cpu", uid, qos_dir, cid, "cpu.cfs_period_us")), 100000)
            self.assertEqual(int(self.cgroup_file("cpu", uid, qos_dir, cid, "cpu.shares")), shares)
            # the pod's own cgroup (kubelet's cgroups-per-qos): the pod's totals
            pod_dir = f"{te.CGROUP}/kubepods{qos_dir}/pod{uid}"
            self.assertEqual(int(read(f"/sys/fs/cgroup/cpu{pod_dir}/cpu.shares")), shares)
            self.assertEqual(int(read(f"/sys/fs/cgroup/cpu{pod_dir}/cpu.cfs_quota_us")), quota)
            pod_mem = int(read(f"/sys/fs/cgroup/memory{pod_dir}/memory.limit_in_bytes"))
            if mem is not None:
                self.assertEqual(pod_mem, mem)
            else:
                self.assertGreater(pod_mem, 1 << 40)
            pids = self.cgroup_file("pids", uid, qos_dir, cid, "cgroup.procs").split()
            self.assertTrue(pids)
            adj = int(read(f"/proc/{pids[0]}/oom_score_adj"))
            if oom is None:
                # Guaranteed asks -997; containerd's restrict_oom_score_adj
                # (needed here, no CAP_SYS_RESOURCE) raises it to its own
                self.assertLessEqual(adj, int(read("/proc/self/oom_score_adj")) + 1000)
                self.assertLess(adj, 3)
            else:
                self.assertEqual(adj, oom)
        # a removed pod's cgroup goes with it
        cloud.send_pod("delete", burst, 2)
        node.wait_log(r"pod default/burst \(uid uid-burst\) removed from the runtime", 60)
        for ctl in ("cpu", "memory", "pids"):
            self.assertFalse(os.path.exists(f"/sys/fs/cgroup/{ctl}{te.CGROUP}/kubepods/burstable/poduid-burst"))
        self.assertTrue(os.path.exists(f"/sys/fs/cgroup/memory{te.CGROUP}/kubepods/poduid-guar"))
        self.assertTrue(node.alive())

    # -- ports and the pod network -----------------------------------------------------

    def netns_run(self, *cmd):
        pid = read(os.path.join(te.RUNTIME_DIR, "containerd.pid")).strip()
        return subprocess.run(["nsenter", "-t", pid, "-n", *cmd], capture_output=True, text=True,
                              timeout=20)

    def test_ports_and_pod_network(self):
        cloud, node = self.start()
        cloud.send_pod("insert", pod("web", [ctr(
            "main", "mkdir -p /tmp/www && echo hello-port > /tmp/www/index.html && "
                    "exec httpd -f -p 8080 -h /tmp/www",
            ports=[{"containerPort": 8080, "hostPort": 18080, "protocol": "TCP"}])],
            host_network=False), 1)
        st = self.status_where(cloud, node, "web", lambda s: s["phase"] == "Running"
                               and s.get("podIP"), "Running with a pod IP")
        ip = st["podIP"]
        self.assertRegex(ip, r"^10\.244\.88\.\d+$")
        self.assertEqual(st["podIPs"], [{"ip": ip}])
        self.assertNotEqual(ip, st["hostIP"])

        tries = []

        def fetch(url):
            # busybox's wget crashes on this host: Python's client, in the namespace
            r = self.netns_run(sys.executable, "-c", "import sys, urllib.request; sys.stdout.write("
                               "urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())", url)
            tries.append(r.stderr[-500:])
            return r.stdout if r.returncode == 0 else None

        def why():
            return (f"{tries[-1:]}\n" + self.netns_run("iptables-save").stdout[-3000:] + "\n"
                    + node.output()[-2000:])

        body = te.wait_for(lambda: fetch(f"http://{ip}:8080/"), 20, lambda: "the pod's port: " + why())
        self.assertEqual(body.strip(), "hello-port")
        body = te.wait_for(lambda: fetch("http://10.244.88.1:18080/"), 20,
                           lambda: "the host port: " + why())
        self.assertEqual(body.strip(), "hello-port")
        self.assertTrue(node.alive())

    # -- a changed spec ----------------------------------------------------------------

    def test_spec_update_restarts_only_the_changed_container(self):
        subprocess.run(["ctr", "--address", te.SOCK, "-n", "k8s.io", "images", "tag", "--force",
                        IMAGE, "localhost/edged-busybox:2"], check=True, timeout=30,
                       capture_output=True)
        cloud, node = self.start()
        p = pod("upd", [ctr("keep", "echo keep; sleep 3600"), ctr("change", "echo old; sleep 3600")])
        cloud.send_pod("insert", p, 1)
        first = self.status_where(cloud, node, "upd", lambda s: s["phase"] == "Running", "Running")
        before = {c["name"]: c for c in first["containerStatuses"]}
        self.wait_log_text("upd", "change", "old")
        p["spec"]["containers"][1]["command"] = ["sh", "-c", "echo new; sleep 3600"]
        p["spec"]["containers"][1]["image"] = "localhost/edged-busybox:2"
        p["metadata"]["resourceVersion"] = "2"
        cloud.send_pod("update", p, 2)
        after = self.status_where(cloud, node, "upd", lambda s: any(
            c["name"] == "change" and c["restartCount"] == 1 and "running" in c["state"]
            for c in s["containerStatuses"]), "change restarted")
        now = {c["name"]: c for c in after["containerStatuses"]}
        self.assertEqual(now["keep"]["containerID"], before["keep"]["containerID"])
        self.assertEqual(now["keep"]["restartCount"], 0)
        self.assertNotEqual(now["change"]["containerID"], before["change"]["containerID"])
        self.assertEqual(now["change"]["image"], "localhost/edged-busybox:2")
        self.assertEqual(now["change"]["lastState"]["terminated"]["containerID"],
                         before["change"]["containerID"])
        self.assertEqual(after["phase"], "Running")
        self.wait_log_text("upd", "change", "new", attempt=1)
        # from the first Running on, the cloud never saw the pod Pending again
        phases = [s["Status"]["phase"] for s in cloud.pod_statuses("upd")]
        self.assertNotIn("Pending", phases[phases.index("Running"):])
        # an edgecore restart while the stored spec changed: the adopted
        # container that runs the older spec is replaced, the other adopted
        node.stop_clean(self)
        p["spec"]["containers"][1]["command"] = ["sh", "-c", "echo newer; sleep 3600"]
        db = sqlite3.connect(os.path.join(self.root, "edgecore.db"))
        with db:
            n = db.execute("UPDATE meta SET value = ? WHERE key = 'default/pod/upd'",
                           (json.dumps(p),)).rowcount
        db.close()
        self.assertEqual(n, 1)
        node = te.Node(self, self.root, cloud, self.runtime_conf())
        node.wait_log(r"pod default/upd: adopted sandbox [0-9a-f]{12} and 2 of 2 containers", 60)
        node.wait_log(r"pod default/upd: adopted container change runs an older spec")
        node.wait_log(r"pod default/upd: container change changed: killing it", 30)
        # the latest attempt was adopted, so the new one is attempt 2
        self.wait_log_text("upd", "change", "newer", attempt=2)
        st = self.status_where(cloud, node, "upd", lambda s: any(
            c["name"] == "change" and c["restartCount"] == 2 and "running" in c["state"]
            for c in s["containerStatuses"]), "change restarted after adoption")
        self.assertEqual({c["name"]: c["restartCount"] for c in st["containerStatuses"]},
                         {"keep": 0, "change": 2})
        self.assertNotIn("container keep changed", node.output())
        self.assertIn(now["keep"]["containerID"].split("://")[1], " ".join(te.crictl_ls()))
        # the same spec again changes nothing (the delete after it is handled
        # after it: by then it was seen)
        cloud.send_pod("update", p, 3)
        cloud.send_pod("delete", p, 4)
        node.wait_log(r"pod default/upd \(uid uid-upd\) removed from the runtime", 60)
        # (the log file holds both edgecores: the update's and the adoption's)
        self.assertEqual(len(re.findall(r"container \w+ changed: killing it", node.output())), 2)
        self.assertTrue(node.alive())


if __name__ == "__main__":
    unittest.main(verbosity=2)
