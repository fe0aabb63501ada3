#!/usr/bin/env python3
"""edged's offline autonomy (issue 12) with the real edgecore, edgehub,
metamanager, cloudsim and a private containerd (with-runtime.sh): kill -9 and
restart with the cloud unreachable (containers adopted, not recreated), a
container exiting while offline (restarted, its status reaching the cloud
in order when the link returns), the reboot simulation (containerd stopped
and emptied, both started again without the cloud), a pod deleted by the
cloud while the node was away, and a pod the store no longer holds.

KubeEdge issues this proves absent: #4048 and #3941 (restart recreates
pods), #4441 (no restart while offline), #4210 and #6414 (pods not back
after a reboot without the cloud)."""
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "lib"))
import harness  # noqa: E402
import test_edged as te  # noqa: E402
from harness import read  # noqa: E402


class Cloud(te.Cloud):
    """cloudsim that can go away and come back on the same ports (same
    directory: same certificates, the record appended)."""

    def __init__(self, test, root):
        super().__init__(test, root)
        self.port, self.https_port, _ = harness.cloud_addresses(self.dir)

    def down(self):
        self.kill()

    def up(self):
        self.proc, self.out = harness.start_cloudsim(
            te.CLOUDSIM, self.dir, self.out_path + ".2",
            ["--port", str(self.port), "--https-port", str(self.https_port)], 20,
            "cloudsim to start again", 0.1)

    def kill(self):
        if self.proc and not self.out.closed:
            super().kill()


def ctr(*args):
    return subprocess.run(["ctr", "--address", te.SOCK, "-n", "k8s.io"] + list(args),
                          capture_output=True, text=True, timeout=60, check=True).stdout


def ids_of(st):
    return [cs.get("containerID") for cs in st["Status"]["containerStatuses"]]


def running_status(cloud, name, since=0):
    return [s for s in cloud.pod_statuses(name)[since:]
            if s["Status"]["phase"] == "Running"
            and all("running" in cs["state"] for cs in s["Status"]["containerStatuses"])]


def edged_lines(node):
    """edged's log lines (for failure messages)."""
    return "\n".join(line for line in node.output().splitlines()
                     if " edged: " in line and "nodestatus" not in line)[-4000:]


class OfflineBase(te.Base):
    CONF_EXTRA = ""

    def conf(self):
        return (f"container-runtime-endpoint=unix://{te.SOCK}\n"
                f"image-service-endpoint=unix://{te.SOCK}\n"
                f"pod-logs-dir={self.root}/pods\ncgroup-root={te.CGROUP}\n" + self.CONF_EXTRA)

    def start(self):
        cloud = Cloud(self, self.root)
        node = te.Node(self, self.root, cloud, self.conf())
        te.wait_for(lambda: cloud.node_messages("insert"), 30, "registration")
        return cloud, node

    def restart_node(self, cloud):
        return te.Node(self, self.root, cloud, self.conf())

    def kill9(self, node):
        node.proc.kill()
        node.proc.wait()
        node.log.close()

    def cleanup_pods(self, cloud, node, names):
        for name in names:
            cloud.send_pod("delete", te.pod_obj(name, f"uid-{name}", "true"), 99)
        for name in names:
            node.wait_log(rf"pod default/{name} \(uid uid-{name}\) removed from the runtime", 60)

class Offline(OfflineBase):
    def test_kill9_restart_offline_adopts_and_restarts_and_reports_in_order(self):
        cloud, node = self.start()
        before = set(te.crictl_ls())
        names = ["a1", "a2", "a3"]
        for name in names:
            cloud.send_pod("insert", te.pod_obj(name, f"uid-{name}", "sleep 3600",
                                                restartPolicy="Always"), 1)
        first = {}
        for name in names:
            first[name] = te.wait_for(lambda: running_status(cloud, name), 60,
                                      lambda: f"{name} Running:\n" + node.output()[-3000:])[-1]
        ours = set(te.crictl_ls()) - before
        self.assertEqual(len(ours), 6)
        # kill -9 edgecore, the cloud goes away, edgecore starts again
        self.kill9(node)
        cloud.down()
        node2 = self.restart_node(cloud)
        for name in names:
            node2.wait_log(rf"pod default/{name}: adopted sandbox [0-9a-f]{{12}} and 1 of 1 containers", 60)
        node2.wait_log(r"edged: pod default/a3: running again as before", 30)
        # nothing created again
        self.assertEqual(set(te.crictl_ls()) - before, ours)

        # a container that exits while offline is restarted (restartPolicy Always)
        cid = first["a2"]["Status"]["containerStatuses"][0]["containerID"].split("://")[1]
        ctr("tasks", "kill", "-s", "SIGKILL", cid)
        node2.wait_log(r"pod default/a2: container main exited \(code 137\)", 30)
        te.wait_for(lambda: len(set(te.crictl_ls()) - before) == 7, 60,
                    lambda: "the restarted container:\n" + node2.output()[-3000:])

        # the cloud comes back: the statuses made offline reach it, the latest last
        n_before = {name: len(cloud.pod_statuses(name)) for name in names}
        cloud.up()

        def restarted():
            return [s for s in running_status(cloud, "a2", n_before["a2"])
                    if s["Status"]["containerStatuses"][0]["restartCount"] == 1]
        st = te.wait_for(restarted, 60, lambda: "a2 restarted at the cloud:\n"
                         + node2.output()[-3000:] + json.dumps(cloud.pod_statuses("a2")[-3:]))[-1]
        cs = st["Status"]["containerStatuses"][0]
        self.assertEqual(cs["lastState"]["terminated"]["exitCode"], 137)
        self.assertEqual(cs["lastState"]["terminated"]["containerID"],
                         first["a2"]["Status"]["containerStatuses"][0]["containerID"])
        self.assertNotEqual(cs["containerID"], first["a2"]["Status"]["containerStatuses"][0]["containerID"])
        # restart counts never go down in what the cloud received (in order)
        counts = [s["Status"]["containerStatuses"][0]["restartCount"] for s in cloud.pod_statuses("a2")]
        self.assertEqual(counts, sorted(counts))
        for name in ("a1", "a3"):
            later = te.wait_for(lambda: running_status(cloud, name, n_before[name]), 30,
                                lambda: f"{name} reported again:\n" + node2.output()[-3000:])[-1]
            old, new = first[name]["Status"], later["Status"]
            # same container, no restart, the start times kept
            self.assertEqual(ids_of(later), ids_of(first[name]))
            self.assertEqual(new["containerStatuses"][0]["restartCount"], 0)
            self.assertEqual(new["startTime"], old["startTime"])
            self.assertEqual(new["containerStatuses"][0]["state"]["running"]["startedAt"],
                             old["containerStatuses"][0]["state"]["running"]["startedAt"])
            for c_old, c_new in zip(old["conditions"], new["conditions"]):
                self.assertEqual(c_new, c_old)
            # never Pending in between: the restart is invisible to the cloud
            for s in cloud.pod_statuses(name)[n_before[name]:]:
                self.assertEqual(s["Status"]["phase"], "Running")

        # restart count and lastState survive another kill -9
        n2 = len(cloud.pod_statuses("a2"))
        self.kill9(node2)
        node3 = self.restart_node(cloud)
        node3.wait_log(r"pod default/a2: adopted sandbox [0-9a-f]{12} and 1 of 1 containers", 60)
        st3 = te.wait_for(lambda: running_status(cloud, "a2", n2), 60,
                          lambda: "a2 after the second restart:\n" + node3.output()[-3000:])[-1]
        cs3 = st3["Status"]["containerStatuses"][0]
        self.assertEqual(cs3["restartCount"], 1)
        self.assertEqual(cs3["containerID"], cs["containerID"])
        self.assertEqual(cs3["lastState"], cs["lastState"])
        self.cleanup_pods(cloud, node3, names)
        self.assertEqual(set(te.crictl_ls()), before)

    def test_reboot_without_cloud_brings_every_pod_back(self):
        cloud, node = self.start()
        names = ["r1", "r2"]
        for name in names:
            cloud.send_pod("insert", te.pod_obj(name, f"uid-{name}", "sleep 3600",
                                                restartPolicy="Always"), 1)
        for name in names:
            te.wait_for(lambda: running_status(cloud, name), 60,
                        lambda: f"{name} Running:\n" + node.output()[-3000:])
        old = set(te.crictl_ls())
        # "reboot": edgecore and containerd stop, every container and sandbox
        # is gone, both start again while the cloud is unreachable
        node.stop_clean(self)
        cloud.down()
        for sb in ctr("containers", "ls", "-q").split():
            subprocess.run(["ctr", "--address", te.SOCK, "-n", "k8s.io", "tasks", "kill", "-s",
                            "SIGKILL", sb], capture_output=True, timeout=30)
        te.runtime("kill")
        te.runtime("restart")
        for c in ctr("containers", "ls", "-q").split():
            subprocess.run(["ctr", "--address", te.SOCK, "-n", "k8s.io", "tasks", "delete", "-f", c],
                           capture_output=True, timeout=30)
            ctr("containers", "delete", c)
        # and containerd starts afresh (its CRI state read from what is left)
        te.runtime("kill")
        te.runtime("restart")
        self.assertEqual(te.crictl_ls(), [])
        node2 = self.restart_node(cloud)
        for name in names:
            node2.wait_log(rf"pod default/{name} \(uid uid-{name}\): starting", 60)
        # every stored pod runs again, in new containers
        te.wait_for(lambda: len(te.crictl_ls()) == 4, 90,
                    lambda: "the pods back after the reboot:\n" + edged_lines(node2))
        self.assertFalse(set(te.crictl_ls()) & old)
        cloud.up()
        for name in names:
            te.wait_for(lambda: [s for s in running_status(cloud, name)
                                 if ids_of(s)[0].split("://")[1] in te.crictl_ls()], 60,
                        lambda: f"{name} Running again at the cloud:\n" + node2.output()[-3000:])

        # a reboot as it really happens: every process dies, containerd keeps
        # its records (sandboxes not ready, containers exited)
        self.kill9(node2)
        cloud.down()
        old = set(te.crictl_ls())
        for c in old:
            subprocess.run(["ctr", "--address", te.SOCK, "-n", "k8s.io", "tasks", "kill", "-s",
                            "SIGKILL", c], capture_output=True, timeout=30)
        te.runtime("kill")
        te.runtime("restart")
        node3 = self.restart_node(cloud)
        for name in names:
            node3.wait_log(rf"pod default/{name}: removing the stale sandbox [0-9a-f]{{12}}", 60)
        # the dead sandboxes and containers are removed, new ones run
        te.wait_for(lambda: len(te.crictl_ls()) == 4 and not set(te.crictl_ls()) & old, 90,
                    lambda: "the pods back after the second reboot:\n" + edged_lines(node3))
        cloud.up()
        node3.wait_log(r"edgehub: connected to the cloud", 30)
        self.cleanup_pods(cloud, node3, names)
        self.assertEqual(te.crictl_ls(), [])

    def test_delete_while_offline_and_pod_gone_from_the_store(self):
        cloud, node = self.start()
        before = set(te.crictl_ls())
        for name in ("d1", "d2", "d3"):
            cloud.send_pod("insert", te.pod_obj(name, f"uid-{name}", "sleep 3600"), 1)
        for name in ("d1", "d2", "d3"):
            te.wait_for(lambda: running_status(cloud, name), 60,
                        lambda: f"{name} Running:\n" + node.output()[-3000:])
        # the cloud is away; the node restarts offline; the cloud comes back
        # and its synccontroller sends the delete of d1, whose content is a
        # minimal object (namespace, name, uid only)
        self.kill9(node)
        cloud.down()
        node2 = self.restart_node(cloud)
        node2.wait_log(r"pod default/d1: adopted sandbox", 60)
        cloud.up()
        node2.wait_log(r"edgehub: connected to the cloud", 30)
        minimal = {"metadata": {"namespace": "default", "name": "d1", "uid": "uid-d1"}}
        m = {"header": {"resourceversion": "5"},
             "route": {"source": "edgecontroller", "group": "resource", "operation": "delete",
                       "resource": "default/pod/d1"},
             "content": minimal}
        cloud.cmd("send " + json.dumps(m))
        node2.wait_log(r"pod default/d1 \(uid uid-d1\) removed from the runtime", 60)
        # a delete for another UID under the same name removes nothing
        cloud.cmd("send " + json.dumps(dict(m, content={"metadata": {
            "namespace": "default", "name": "d2", "uid": "uid-other"}},
            route=dict(m["route"], resource="default/pod/d2"))))
        time.sleep(2)
        self.assertNotIn("default/d2 (uid uid-d2) removed", node2.output())

        # d2 leaves the store while edgecore is down (its delete was stored,
        # the node died before acting on it): the next start removes what the
        # store no longer holds
        node2.stop_clean(self)
        db = sqlite3.connect(os.path.join(self.root, "edgecore.db"))
        with db:
            db.execute("DELETE FROM meta WHERE key = 'default/pod/d2'")
        db.close()
        node3 = self.restart_node(cloud)
        node3.wait_log(r"pod sandbox [0-9a-f]{12} of uid-d2 \(default/d2\) is not in the store: removed", 60)
        node3.wait_log(r"pod default/d3: adopted sandbox", 60)
        te.wait_for(lambda: len(set(te.crictl_ls()) - before) == 2, 30,
                    lambda: "d2's sandbox and container removed:\n" + node3.output()[-5000:]
                    + "\n" + repr(set(te.crictl_ls()) - before))
        self.cleanup_pods(cloud, node3, ["d3"])
        self.assertEqual(set(te.crictl_ls()), before)



class DeadContainerGC(OfflineBase):
    CONF_EXTRA = "max-per-pod-container-count=2\n"

    def test_keeps_the_newest_dead_containers(self):
        cloud, node = self.start()
        cloud.send_pod("insert", te.pod_obj("gc", "uid-gc", "exit 1", restartPolicy="Always"), 1)

        def dead_ids():
            out = []
            for s in cloud.pod_statuses("gc"):
                t = s["Status"]["containerStatuses"][0]["lastState"].get("terminated")
                if t and t["containerID"].split("://")[1] not in out:
                    out.append(t["containerID"].split("://")[1])
            return out
        te.wait_for(lambda: len(dead_ids()) >= 3, 120,
                    lambda: "three restarts:\n" + edged_lines(node))
        ids = dead_ids()
        pod_containers = ctr("containers", "ls", "-q", 'labels."io.kubernetes.container.name"==main,'
                             'labels."io.kubernetes.pod.uid"==uid-gc').split()
        # the first exited instance is gone; the two newest are kept
        self.assertNotIn(ids[0], pod_containers)
        self.assertIn(ids[-1], pod_containers)
        self.assertIn(ids[-2], pod_containers)
        self.assertLessEqual(len(pod_containers), 3)
        self.cleanup_pods(cloud, node, ["gc"])



class HardEviction(OfflineBase):
    # a threshold above any machine's available memory: pressure at once
    CONF_EXTRA = "eviction-hard=memory.available<1000Ti\n"

    def test_best_effort_first_then_burstable(self):
        cloud, node = self.start()
        before = set(te.crictl_ls())
        burstable = te.pod_obj("bu", "uid-bu", "exec sleep 3600", restartPolicy="Always")
        burstable["spec"]["containers"][0]["resources"] = {"requests": {"memory": "1Mi"}}
        cloud.send_pod("insert", burstable, 1)
        cloud.send_pod("insert", te.pod_obj("be", "uid-be", "exec sleep 3600",
                                            restartPolicy="Always"), 1)

        def evicted(name):
            return [s for s in cloud.pod_statuses(name) if s["Status"].get("reason") == "Evicted"]
        te.wait_for(lambda: evicted("be") and evicted("bu"), 90,
                    lambda: "both evicted:\n" + edged_lines(node))
        st = evicted("be")[0]["Status"]
        self.assertEqual(st["phase"], "Failed")
        self.assertEqual(st["message"], "The node was low on resource: memory. ")
        # BestEffort first (the Burstable pod's eviction came later)
        statuses = cloud.pod_statuses("be") + cloud.pod_statuses("bu")
        order = [m["content"]["Name"] for m in cloud.received()
                 if m["route"]["operation"] == "update" and "/podstatus/" in m["route"]["resource"]
                 and m["content"]["Status"].get("reason") == "Evicted"]
        self.assertEqual(order[:2], ["be", "bu"], statuses)
        node.wait_log(r"pod default/be evicted: The node was low on resource: memory")
        te.wait_for(lambda: set(te.crictl_ls()) == before, 60, "the evicted pods' containers removed")
        # the MemoryPressure condition is reported
        cond = te.wait_for(lambda: [c for m in cloud.node_messages("update")
                                    for c in m["content"]["Status"]["conditions"]
                                    if c["type"] == "MemoryPressure" and c["status"] == "True"], 30,
                           "MemoryPressure")[0]
        self.assertEqual(cond["reason"], "KubeletHasInsufficientMemory")
        # an evicted pod is not run again (after a restart too) until deleted
        node.stop_clean(self)
        n = len(cloud.pod_statuses("be"))
        prefix = len(node.output())
        node2 = self.restart_node(cloud)
        te.wait_for(lambda: [s for s in cloud.pod_statuses("be")[n:]
                             if s["Status"].get("reason") == "Evicted"], 60,
                    lambda: "the evicted status again:\n" + edged_lines(node2) + "\n"
                    + json.dumps(cloud.pod_statuses("be")[-2:]) + "\n"
                    + repr(os.listdir(os.path.join(self.root, "kubelet", "evicted-pods"))))
        node2.wait_log(r"pod default/be was evicted: not run again until the cloud deletes it")
        self.assertNotRegex(node2.output()[prefix:], r"pod default/be \(uid uid-be\): starting")
        self.assertEqual(set(te.crictl_ls()), before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
