#!/usr/bin/env python3
"""edged's status formats, against cloudsim (answering as a current CloudCore
does) and a private containerd (run through with-runtime.sh):

- [edged] status-format=kubelet, the current (HEAD) formats: the node
  registers with insert null/node/<node> (ObjectResp), the node lease is
  queried, created and renewed every node-lease-duration-seconds / 4, the
  node status goes as strategic merge patches on null/nodepatch/<node>, a
  pod's status as patches on <ns>/podpatch/<name> that apply to the cloud's
  pod (checked here by a second, independent application), the returned pod
  is stored, and a graceful deletion answers with DeleteOptions;
- the key unset: v1.9.2's formats (nodestatus, podstatus) as before;
- a bad value: an error naming the key, the rest of edgecore runs on."""
import copy
import json
import os
import sqlite3
import sys
import time
import unittest
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_edged as t  # noqa: E402
from test_edged import NODE, SOCK, CGROUP, IMAGE, wait_for  # noqa: E402
import harness  # noqa: E402

RUNTIME = (f"container-runtime-endpoint=unix://{SOCK}\n"
           f"image-service-endpoint=unix://{SOCK}\n")

# Kubernetes' patchMergeKey of the status lists (k8s.io/api core/v1).
MERGE_KEYS = {"conditions": "type", "containerStatuses": "name", "initContainerStatuses": "name",
              "ephemeralContainerStatuses": "name", "podIPs": "ip", "hostIPs": "ip",
              "addresses": "type", "volumesAttached": "name"}


def smp_apply(target, patch):
    """Applies a strategic merge patch to a dict (written from Kubernetes'
    documented semantics: null deletes, maps merge, keyed lists merge by key
    with $patch: delete, $setElementOrder orders, other values replace)."""
    out = copy.deepcopy(target)
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            out[k] = smp_apply(out.get(k) if isinstance(out.get(k), dict) else {}, v)
        elif isinstance(v, list) and k in MERGE_KEYS:
            key = MERGE_KEYS[k]
            lst = copy.deepcopy(out.get(k) or [])
            for e in v:
                at = next((i for i, x in enumerate(lst) if x.get(key) == e[key]), None)
                if e.get("$patch") == "delete":
                    if at is not None:
                        del lst[at]
                elif at is None:
                    lst.append(smp_apply({}, e))
                else:
                    lst[at] = smp_apply(lst[at], e)
            out[k] = lst
        else:
            out[k] = copy.deepcopy(v)
    for k, order in patch.items():
        if k.startswith("$setElementOrder/"):
            name = k.split("/", 1)[1]
            key = MERGE_KEYS[name]
            lst = out.get(name) or []
            keys = [o[key] for o in order]
            out[name] = ([next(x for x in lst if x[key] == kk) for kk in keys if
                          any(x[key] == kk for x in lst)]
                         + [x for x in lst if x[key] not in keys])
    return out


def events(cloud, kind):
    return harness.cloud_events(cloud.dir, kind)


def received(cloud, op, resource):
    return [m for m in cloud.received()
            if m["route"]["operation"] == op and m["route"]["resource"] == resource]


def micro(ts):
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


class Base(t.Base):
    def start(self, extra):
        cloud = t.Cloud(self, self.root)
        node = t.Node(self, self.root, cloud, RUNTIME + f"pod-logs-dir={self.root}/pods\n"
                      f"cgroup-root={CGROUP}\n" + extra)
        return cloud, node


class Kubelet(Base):
    CONF = ("status-format=kubelet\nnode-lease-duration-seconds=4\n"
            "node-status-report-frequency=2s\nnode-ip=192.0.2.10\n")

    def test_register_lease_and_node_patch(self):
        cloud, node = self.start(self.CONF)
        created = wait_for(lambda: events(cloud, "node-created"), 30,
                           lambda: "the node created at the cloud:\n" + node.output()[-3000:])[0]
        reg = received(cloud, "insert", f"null/node/{NODE}")
        self.assertEqual(len(reg), 1)
        self.assertEqual((reg[0]["route"]["source"], reg[0]["route"]["group"]), ("edged", "meta"))
        obj = reg[0]["content"]
        labels = obj["metadata"]["labels"]
        for k in ("kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch",
                  "beta.kubernetes.io/os", "kubernetes.io/hostname"):
            self.assertIn(k, labels)
        self.assertEqual(labels["node-role.kubernetes.io/edge"], "")
        self.assertEqual(labels["node-role.kubernetes.io/agent"], "")
        self.assertEqual(obj["metadata"]["annotations"],
                         {"volumes.kubernetes.io/controller-managed-attach-detach": "true"})
        types = [c["type"] for c in obj["status"]["conditions"]]
        self.assertEqual(types, ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"])
        self.assertEqual(obj["status"]["daemonEndpoints"], {"kubeletEndpoint": {"Port": 10350}})
        node_uid = created["object"]["metadata"]["uid"]
        node.wait_log(rf"node {NODE} registered \(uid {node_uid}\)")

        # the lease: query (NotFound), insert, then an update every 4 s / 4
        renewed = wait_for(lambda: len(events(cloud, "lease-renewed")) >= 3
                           and events(cloud, "lease-renewed"), 40,
                           lambda: "three lease renewals:\n" + node.output()[-3000:])
        res = f"kube-node-lease/lease/{NODE}"
        self.assertGreaterEqual(len(received(cloud, "query", res)), 1)
        self.assertEqual(len(received(cloud, "insert", res)), 1)
        lease = events(cloud, "lease-created")[0]["object"]
        self.assertEqual(lease["metadata"]["ownerReferences"],
                         [{"apiVersion": "v1", "kind": "Node", "name": NODE, "uid": node_uid}])
        times = [micro(e["object"]["spec"]["renewTime"]) for e in renewed]
        for e in renewed:
            spec = e["object"]["spec"]
            self.assertEqual((spec["holderIdentity"], spec["leaseDurationSeconds"]), (NODE, 4))
        # renewals one period (1 s) apart at least: never sooner
        for a, b in zip(times, times[1:]):
            self.assertGreaterEqual(b - a, 0.9)
        # an update carries the cloud's resourceVersion of the lease
        upd = received(cloud, "update", res)
        self.assertTrue(upd[0]["content"]["metadata"]["resourceVersion"])

        # node status: patches (a JSON string) applied to nodes/<node>/status
        patched = wait_for(lambda: events(cloud, "node-patched"), 30,
                           lambda: "a node status patch:\n" + node.output()[-3000:])
        msgs = received(cloud, "patch", f"null/nodepatch/{NODE}")
        for m in msgs:
            self.assertIsInstance(m["content"], str)
            self.assertEqual(list(json.loads(m["content"])), ["status"])
        # unchanged but for the heartbeats (node-status-report-frequency
        # passed): the patch carries only them
        patch = json.loads(msgs[0]["content"])
        self.assertIn("$setElementOrder/conditions", patch["status"])
        for c in patch["status"]["conditions"]:
            self.assertEqual(set(c), {"type", "lastHeartbeatTime"})
        # independently applied to the created node, the patches give the
        # node cloudsim holds
        status = created["object"]["status"]
        for m in received(cloud, "patch", f"null/nodepatch/{NODE}")[:len(patched)]:
            status = smp_apply({"status": status}, json.loads(m["content"]))["status"]
        self.assertEqual(status, patched[-1]["object"]["status"])
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        self.assertEqual(ready["status"], "True")
        # none of v1.9.2's formats
        self.assertEqual(t.Cloud.node_messages(cloud, "insert"), [])
        self.assertEqual(t.Cloud.node_messages(cloud, "update"), [])
        self.assertNotRegex(node.output(), r"node status patch failed|node lease .* failed")

    def test_pod_running_as_podpatch(self):
        cloud, node = self.start(self.CONF)
        wait_for(lambda: events(cloud, "node-created"), 30, "registration")
        pod = t.pod_obj("hp", "uid-hp", "sleep 3600")
        pod["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        cloud.send_pod("insert", pod, 1)

        def running():
            return [e for e in events(cloud, "pod-patched")
                    if e["object"]["status"].get("phase") == "Running"]
        e = wait_for(running, 60, lambda: "Running at the cloud:\n" + node.output()[-3000:])[0]
        st = e["object"]["status"]
        self.assertEqual(e["object"]["metadata"]["uid"], "uid-hp")
        conds = {c["type"]: c["status"] for c in st["conditions"]}
        self.assertEqual(conds, {"Initialized": "True", "Ready": "True",
                                 "ContainersReady": "True", "PodScheduled": "True"})
        cs = st["containerStatuses"]
        self.assertEqual(len(cs), 1)
        cs = cs[0]
        self.assertEqual((cs["name"], cs["image"]), ("main", IMAGE))
        self.assertTrue(cs["imageID"].startswith("sha256:"))
        self.assertRegex(cs["containerID"], r"^containerd://[0-9a-f]{64}$")
        self.assertEqual(list(cs["state"]), ["running"])
        self.assertEqual((cs["ready"], cs["started"], cs["restartCount"]), (True, True, 0))
        self.assertEqual((st["podIP"], st["hostIP"]), ("192.0.2.10", "192.0.2.10"))
        self.assertEqual(st["podIPs"], [{"ip": "192.0.2.10"}])
        self.assertRegex(st["startTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(st["qosClass"], "BestEffort")

        # every patch: a JSON string with the pod's uid, applying cleanly;
        # applied here independently to the pod the cloud sent, they give
        # what cloudsim holds
        msgs = received(cloud, "patch", "default/podpatch/hp")
        n = len(events(cloud, "pod-patched"))
        self.assertGreaterEqual(n, 2)    # Pending (ContainerCreating), then Running
        status = pod["status"]
        for m in msgs[:n]:
            self.assertIsInstance(m["content"], str)
            p = json.loads(m["content"])
            self.assertEqual(p["metadata"], {"uid": "uid-hp"})
            status = smp_apply({"status": status}, p)["status"]
        self.assertEqual(status, events(cloud, "pod-patched")[n - 1]["object"]["status"])
        # the state changed from waiting to running: the patch removed waiting
        self.assertTrue(any('"waiting":null' in m["content"] for m in msgs))
        self.assertEqual([m for m in cloud.received() if "/podstatus/" in m["route"]["resource"]], [])

        # edged stored the returned pod, as KubeEdge's metaclient does
        def stored():
            db = sqlite3.connect(os.path.join(self.root, "edgecore.db"))
            try:
                row = db.execute("SELECT type, value FROM meta WHERE key = 'default/pod/hp'").fetchone()
            finally:
                db.close()
            if not row:
                return None
            v = json.loads(row[1])
            return (row[0], v) if v.get("status", {}).get("phase") == "Running" else None
        typ, value = wait_for(stored, 20, "the patched pod in the meta table")
        self.assertEqual((typ, value["apiVersion"], value["kind"]), ("pod", "v1", "Pod"))
        self.assertEqual(value["metadata"]["resourceVersion"], e["object"]["metadata"]["resourceVersion"])

        # graceful deletion: the answer is DeleteOptions with the uid
        pod["metadata"]["deletionTimestamp"] = "2026-12-05T00:00:00Z"
        pod["metadata"]["deletionGracePeriodSeconds"] = 2
        pod["metadata"]["resourceVersion"] = "2"
        cloud.send_pod("update", pod, 2)
        d = wait_for(lambda: received(cloud, "delete", "default/pod/hp"), 60,
                     lambda: "delete to the cloud:\n" + node.output()[-3000:])[0]
        self.assertEqual(d["content"], {"gracePeriodSeconds": 0, "preconditions": {"uid": "uid-hp"}})
        self.assertNotRegex(node.output(), r"pod status patch failed")

    def test_invalid_pod_failed_as_podpatch(self):
        # a pod edged cannot run: its Failed status goes as a patch too
        cloud, node = self.start(self.CONF)
        wait_for(lambda: events(cloud, "node-created"), 30, "registration")
        bad = t.pod_obj("broken", "uid-broken", "true")
        bad["spec"]["containers"][0]["imagePullPolicy"] = "Sometimes"
        cloud.send_pod("insert", bad, 1)
        e = wait_for(lambda: events(cloud, "pod-patched"), 30,
                     lambda: "the invalid pod's patch:\n" + node.output()[-3000:])[0]
        p = json.loads(received(cloud, "patch", "default/podpatch/broken")[0]["content"])
        self.assertEqual(p["metadata"], {"uid": "uid-broken"})
        st = e["object"]["status"]
        self.assertEqual((st["phase"], st["reason"]), ("Failed", "InvalidPodSpec"))
        self.assertIn("unknown imagePullPolicy Sometimes", st["message"])
        self.assertTrue(node.alive())


class Legacy(Base):
    def test_key_unset_gives_v192_formats(self):
        cloud, node = self.start("")
        wait_for(lambda: t.Cloud.node_messages(cloud, "update"), 30,
                 lambda: "v1.9.2 node status:\n" + node.output()[-3000:])
        cloud.send_pod("insert", t.pod_obj("old", "uid-old", "sleep 3600"), 1)
        wait_for(lambda: [s for s in cloud.pod_statuses("old") if s["Status"]["phase"] == "Running"],
                 60, lambda: "Running in podstatus:\n" + node.output()[-3000:])
        time.sleep(1)
        kinds = {m["route"]["resource"].split("/")[1] for m in cloud.received()
                 if m["route"]["source"] == "edged"}
        self.assertEqual(kinds & {"node", "nodepatch", "podpatch", "lease"}, set())
        self.assertLessEqual({"nodestatus", "podstatus"}, kinds)
        cloud.send_pod("delete", t.pod_obj("old", "uid-old", "true"), 2)
        node.wait_log(r"pod default/old \(uid uid-old\) removed from the runtime", 60)


class BadKey(Base):
    def test_bad_status_format_named(self):
        cloud, node = self.start("status-format=v2\n")
        node.wait_log(r'\[edged\] status-format: "v2" is neither v1.9.2 nor kubelet')
        node.wait_log(r"edgehub: connected to the cloud")
        self.assertTrue(node.alive())


if __name__ == "__main__":
    unittest.main(verbosity=2)
