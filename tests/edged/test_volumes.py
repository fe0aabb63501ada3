#!/usr/bin/env python3
"""edged's volumes, env valueFrom/envFrom and imagePullSecrets, in the real
edgecore host (edgehub, metamanager, edged) against cloudsim and the private
containerd (run through with-runtime.sh). The cloud sends the configmaps,
secrets and pods as cloudcore does; what the containers see is read from
their CRI log files."""
import base64
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_edged as te  # noqa: E402
from test_edged import Base, Cloud, Node, crictl_ls, wait_for, read  # noqa: E402

IMAGE = te.IMAGE
SOCK = te.SOCK
CGROUP = te.CGROUP
RUNTIME_DIR = te.RUNTIME_DIR


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def send_obj(cloud, op, kind, obj, rv):
    ns = obj["metadata"]["namespace"]
    m = {"header": {"resourceversion": str(rv)},
         "route": {"source": "edgecontroller", "group": "resource", "operation": op,
                   "resource": f"{ns}/{kind}/{obj['metadata']['name']}"},
         "content": obj}
    cloud.cmd("send " + json.dumps(m))


def configmap(name, data, rv=1, binary=None):
    o = {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": name, "namespace": "default", "uid": f"uid-cm-{name}",
                      "resourceVersion": str(rv)},
         "data": data}
    if binary:
        o["binaryData"] = binary
    return o


def secret(name, data, type_="Opaque"):
    return {"apiVersion": "v1", "kind": "Secret", "type": type_,
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-sec-{name}",
                         "resourceVersion": "1"},
            "data": {k: b64(v) for k, v in data.items()}}


def pod(name, uid, containers, volumes=(), **spec_extra):
    spec = {"nodeName": te.NODE, "hostNetwork": True, "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1, "containers": containers,
            "volumes": list(volumes)}
    spec.update(spec_extra)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": uid, "resourceVersion": "1",
                         "labels": {"app": name, "tier": "edge"},
                         "annotations": {"note": 'say "hi"'}},
            "spec": spec}


def container(name, script, **extra):
    c = {"name": name, "image": IMAGE, "imagePullPolicy": "IfNotPresent",
         "command": ["sh", "-c", script]}
    c.update(extra)
    return c


def log_of(root, name, uid, cname, attempt=0):
    return os.path.join(root, "pods", f"default_{name}_{uid}", cname, f"{attempt}.log")


def log_text(path):
    """The text of a CRI log file (timestamp stream tag prefixes removed)."""
    try:
        lines = read(path).splitlines()
    except OSError:
        return ""
    return "\n".join(line.split(" ", 3)[3] if line.count(" ") >= 3 else "" for line in lines)


def values(text):
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k, v)
    return out


def metamanager_conf(root, lines):
    """A conf.d drop-in with [metamanager] keys (after the test's own)."""
    os.makedirs(os.path.join(root, "conf.d"), exist_ok=True)
    with open(os.path.join(root, "conf.d", "20-metamanager.conf"), "w") as f:
        f.write("[metamanager]\n" + lines)


def mounts():
    return read("/proc/mounts")


def unmount_under(root):
    """Lazily unmounts what a failed test left mounted under root."""
    for line in mounts().splitlines():
        path = line.split()[1]
        if path.startswith(root + "/"):
            subprocess.run(["umount", "-l", path], check=False)


class VolumeBase(Base):
    def setUp(self):
        super().setUp()
        self.addCleanup(unmount_under, self.root)

    def start(self, extra="", mm="remote-query-timeout=3\n"):
        cloud = Cloud(self, self.root)
        metamanager_conf(self.root, mm)
        node = Node(self, self.root, cloud,
                    f"container-runtime-endpoint=unix://{SOCK}\n"
                    f"image-service-endpoint=unix://{SOCK}\n"
                    f"pod-logs-dir={self.root}/pods\ncgroup-root={CGROUP}\n" + extra)
        wait_for(lambda: cloud.node_messages("insert"), 30, "registration")
        return cloud, node

    def statuses(self, cloud, name):
        return cloud.pod_statuses(name)

    def running(self, cloud, node, name, timeout=60):
        return wait_for(lambda: [s for s in cloud.pod_statuses(name)
                                 if s["Status"]["phase"] == "Running"], timeout,
                        lambda: f"{name} Running:\n" + node.output()[-4000:]
                        + json.dumps(cloud.pod_statuses(name)[-1:])[-2000:])[0]


class Volumes(VolumeBase):
    def test_volumes_env_and_update(self):
        cloud, node = self.start()
        before = set(crictl_ls())
        send_obj(cloud, "insert", "configmap",
                 configmap("cfg", {"a": "alpha", "b": "beta", "bad-key!": "skipped"},
                           binary={"bin": b64(b"\x01\x02")}), 1)
        send_obj(cloud, "insert", "secret", secret("sec", {"user": "admin", "pass": "s3cret"}), 1)
        vols = [
            {"name": "cfgvol", "configMap": {"name": "cfg", "defaultMode": 0o640,
                                             "items": [{"key": "a", "path": "dir/a.txt", "mode": 0o600},
                                                       {"key": "b", "path": "b.txt"}]}},
            {"name": "cfgall", "configMap": {"name": "cfg"}},
            {"name": "secvol", "secret": {"secretName": "sec", "defaultMode": 0o400}},
            {"name": "down", "downwardAPI": {"items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                {"path": "note", "fieldRef": {"fieldPath": "metadata.annotations['note']"}},
                {"path": "mem", "resourceFieldRef": {"containerName": "main",
                                                     "resource": "limits.memory", "divisor": "1Mi"}}]}},
            {"name": "proj", "projected": {"defaultMode": 0o444, "sources": [
                {"configMap": {"name": "cfg", "items": [{"key": "b", "path": "cm-b"}]}},
                {"secret": {"name": "sec", "items": [{"key": "user", "path": "s/user", "mode": 0o440}]}},
                {"downwardAPI": {"items": [{"path": "uid", "fieldRef": {"fieldPath": "metadata.uid"}}]}},
                {"configMap": {"name": "absent", "optional": True}}]}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
            {"name": "host", "hostPath": {"path": os.path.join(self.root, "hostdir"),
                                          "type": "DirectoryOrCreate"}},
        ]
        main_script = (
            "echo A=$(cat /cfg/dir/a.txt); echo AMODE=$(stat -L -c %a /cfg/dir/a.txt); "
            "echo B=$(cat /cfg/b.txt); echo BMODE=$(stat -L -c %a /cfg/b.txt); "
            "echo ALL=$(ls /all | tr '\\n' ,); echo BIN=$(od -An -tx1 /all/bin | tr -d ' '); "
            "echo USER=$(cat /sec/user); echo PASS=$(cat /sec/pass); "
            "echo SMODE=$(stat -L -c %a /sec/user); "
            "echo LABELS=$(cat /down/labels | tr '\\n' ';'); echo DNAME=$(cat /down/name); "
            "echo NOTE=$(cat /down/note); echo MEM=$(cat /down/mem); "
            "echo PB=$(cat /proj/cm-b); echo PU=$(cat /proj/s/user); "
            "echo PUMODE=$(stat -L -c %a /proj/s/user); echo PBMODE=$(stat -L -c %a /proj/cm-b); "
            "echo PUID=$(cat /proj/uid); echo PLIST=$(ls /proj | tr '\\n' ,); "
            "echo MEMFS=$(awk '$2==\"/mem\"{print $3}' /proc/mounts); "
            "echo RO=$(touch /cfg/x 2>/dev/null && echo rw || echo ro); "
            "echo shared-from-main > /scratch/shared; echo host-file > /host/f; "
            "for v in E_CM E_SEC E_NAME E_NS E_UID E_LABEL E_ANN E_NODE E_SA E_HOSTIP E_PODIP "
            "E_EXP E_MEM E_CPU CFG_a CFG_b CFG_bin user pass PLAIN; do eval echo $v=\\$$$$v; done; "
            "env | grep -q '^CFG_bad-key' && echo BADKEY=present || echo BADKEY=absent; "
            "last=; while true; do v=$(cat /cfg/dir/a.txt); "
            "[ \"$v\" != \"$last\" ] && echo LIVE=$v && last=$v; sleep 0.3; done")
        env = [
            {"name": "PLAIN", "value": "plain"},
            {"name": "E_CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "a"}}},
            {"name": "E_EXP", "value": "$(PLAIN)-$(E_CM)-$$(PLAIN)-$(NOPE)-$"},
            {"name": "E_SEC", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pass"}}},
            {"name": "E_OPT", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "x",
                                                                "optional": True}}},
            {"name": "E_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "E_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "E_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
            {"name": "E_LABEL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}},
            {"name": "E_ANN", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}}},
            {"name": "E_NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "E_SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
            {"name": "E_HOSTIP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
            {"name": "E_PODIP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "E_MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                 "divisor": "1Mi"}}},
            {"name": "E_CPU", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu",
                                                                 "divisor": "1m"}}},
        ]
        main = container("main", main_script, env=env,
                         envFrom=[{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
                                  {"secretRef": {"name": "sec"}},
                                  {"configMapRef": {"name": "absent", "optional": True}}],
                         resources={"limits": {"memory": "64Mi", "cpu": "500m"},
                                    "requests": {"memory": "32Mi", "cpu": "250m"}},
                         volumeMounts=[{"name": "cfgvol", "mountPath": "/cfg"},
                                       {"name": "cfgall", "mountPath": "/all"},
                                       {"name": "secvol", "mountPath": "/sec"},
                                       {"name": "down", "mountPath": "/down"},
                                       {"name": "proj", "mountPath": "/proj"},
                                       {"name": "scratch", "mountPath": "/scratch"},
                                       {"name": "mem", "mountPath": "/mem"},
                                       {"name": "host", "mountPath": "/host"}])
        second = container("second",
                           "while [ ! -f /data/shared ]; do sleep 0.2; done; "
                           "echo SECOND=$(cat /data/shared); echo SUB=$(ls /sub); sleep 3600",
                           volumeMounts=[{"name": "scratch", "mountPath": "/data"},
                                         {"name": "scratch", "mountPath": "/sub", "subPath": "part"}])
        p = pod("vols", "uid-vols", [main, second], vols, serviceAccountName="robot")
        cloud.send_pod("insert", p, 1)
        self.running(cloud, node, "vols")

        main_log = log_of(self.root, "vols", "uid-vols", "main")
        wait_for(lambda: "LIVE=alpha" in log_text(main_log), 30,
                 lambda: "main's output:\n" + read(main_log) + node.output()[-3000:])
        v = values(log_text(main_log))
        host_ip = cloud.pod_statuses("vols")[-1]["Status"]["hostIP"]
        expect = {
            "A": "alpha", "AMODE": "600", "B": "beta", "BMODE": "640",
            "ALL": "a,b,bad-key!,bin,", "BIN": "0102",
            "USER": "admin", "PASS": "s3cret", "SMODE": "400",
            "LABELS": 'app="vols";tier="edge"', "DNAME": "vols", "NOTE": 'say "hi"',
            "MEM": "64", "PB": "beta", "PU": "admin", "PUMODE": "440", "PBMODE": "444",
            "PUID": "uid-vols", "PLIST": "cm-b,s,uid,", "MEMFS": "tmpfs", "RO": "ro",
            "E_CM": "alpha", "E_SEC": "s3cret", "E_NAME": "vols", "E_NS": "default",
            "E_UID": "uid-vols", "E_LABEL": "edge", "E_ANN": 'say "hi"', "E_NODE": te.NODE,
            "E_SA": "robot", "E_HOSTIP": host_ip, "E_PODIP": host_ip, "E_MEM": "64",
            "E_CPU": "250", "CFG_a": "alpha", "CFG_b": "beta", "user": "admin",
            "pass": "s3cret", "PLAIN": "plain", "BADKEY": "absent",
            "E_EXP": "plain-alpha-$(PLAIN)-$(NOPE)-$",
        }
        self.maxDiff = None
        self.assertEqual({k: v.get(k) for k in expect}, expect)
        self.assertIn("E_OPT", "".join(e["name"] for e in env))
        node.wait_log(r"keys \[CFG_bad-key!\] from the EnvFrom configMap default/cfg were skipped")
        # emptyDir shared by both containers, subPath folder created in it
        second_log = log_of(self.root, "vols", "uid-vols", "second")
        wait_for(lambda: "SECOND=shared-from-main" in log_text(second_log), 20,
                 lambda: "second's output:\n" + read(second_log))
        self.assertTrue(os.path.isdir(os.path.join(
            self.root, "kubelet/pods/uid-vols/volumes/kubernetes.io~empty-dir/scratch/part")))
        self.assertEqual(read(os.path.join(self.root, "hostdir", "f")), "host-file\n")
        # kubelet's layout: ..data -> timestamped folder, names -> ..data/<name>
        cfgdir = os.path.join(self.root, "kubelet/pods/uid-vols/volumes/kubernetes.io~configmap/cfgvol")
        first_version = os.readlink(os.path.join(cfgdir, "..data"))
        self.assertRegex(first_version, r"^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.")
        self.assertEqual(os.readlink(os.path.join(cfgdir, "dir")), "..data/dir")
        memdir = os.path.join(self.root, "kubelet/pods/uid-vols/volumes/kubernetes.io~empty-dir/mem")
        self.assertIn(f" {memdir} tmpfs ", mounts())

        # the cloud changes the configmap: the running container sees the new file
        send_obj(cloud, "update", "configmap",
                 configmap("cfg", {"a": "alpha2", "b": "beta", "bad-key!": "skipped"}, rv=2,
                           binary={"bin": b64(b"\x01\x02")}), 2)
        wait_for(lambda: "LIVE=alpha2" in log_text(main_log), 30,
                 lambda: "the updated file in the container:\n" + read(main_log)[-2000:]
                 + node.output()[-3000:])
        self.assertNotEqual(os.readlink(os.path.join(cfgdir, "..data")), first_version)
        self.assertFalse(os.path.exists(os.path.join(cfgdir, first_version)))
        # an update that changes nothing the volume holds writes nothing
        version = os.readlink(os.path.join(cfgdir, "..data"))
        send_obj(cloud, "update", "configmap",
                 configmap("cfg", {"a": "alpha2", "b": "beta", "bad-key!": "skipped"}, rv=3,
                           binary={"bin": b64(b"\x01\x02")}), 3)
        node.wait_log(r"default/configmap/cfg changed.*\n(.*\n)*.*default/configmap/cfg changed")
        self.assertEqual(os.readlink(os.path.join(cfgdir, "..data")), version)

        # removal: nothing of the pod on disk, the tmpfs unmounted
        cloud.send_pod("delete", p, 2)
        node.wait_log(r"pod default/vols \(uid uid-vols\) removed from the runtime", 60)
        self.assertFalse(os.path.exists(os.path.join(self.root, "kubelet/pods/uid-vols")))
        self.assertNotIn(memdir, mounts())
        # nothing of this pod left (an earlier test's pods, orphans to this
        # node's store, may be removed meanwhile: those are not counted)
        self.assertFalse(set(crictl_ls()) - before, "the pod's containers left in the runtime")
        self.assertTrue(os.path.exists(os.path.join(self.root, "hostdir", "f")))

    def test_missing_configmap_waits_then_runs(self):
        # the cloud does not answer a query of an object it does not have
        # (as cloudcore): metamanager answers from its store after its
        # remote-query-timeout
        cloud, node = self.start()
        c = container("main", "echo LATE=$LATE; sleep 3600",
                      env=[{"name": "LATE", "valueFrom": {"configMapKeyRef": {"name": "late",
                                                                              "key": "k"}}}])
        cloud.send_pod("insert", pod("waits", "uid-waits", [c]), 1)

        def config_error():
            for s in cloud.pod_statuses("waits"):
                w = s["Status"]["containerStatuses"][0]["state"].get("waiting", {})
                if w.get("reason") == "CreateContainerConfigError":
                    return w
            return None
        w = wait_for(config_error, 40, lambda: "CreateContainerConfigError:\n" + node.output()[-3000:])
        self.assertEqual(w["message"], 'configmap "late" not found')
        self.assertEqual(cloud.pod_statuses("waits")[-1]["Status"]["phase"], "Pending")
        # a key that is missing in an object that exists
        send_obj(cloud, "insert", "configmap", configmap("late", {"other": "x"}), 1)

        def key_error():
            for s in cloud.pod_statuses("waits"):
                w = s["Status"]["containerStatuses"][0]["state"].get("waiting", {})
                if "couldn't find key" in w.get("message", ""):
                    return w
            return None
        w = wait_for(key_error, 40, lambda: "missing key:\n" + node.output()[-3000:])
        self.assertEqual((w["reason"], w["message"]),
                         ("CreateContainerConfigError", "couldn't find key k in ConfigMap default/late"))
        send_obj(cloud, "update", "configmap", configmap("late", {"k": "arrived"}, rv=2), 2)
        self.running(cloud, node, "waits", 60)
        log = log_of(self.root, "waits", "uid-waits", "main")
        wait_for(lambda: "LATE=arrived" in log_text(log), 20, lambda: read(log))
        self.assertTrue(node.alive())
        cloud.send_pod("delete", pod("waits", "uid-waits", [c]), 2)
        node.wait_log(r"pod default/waits \(uid uid-waits\) removed from the runtime", 60)

    def test_offline_restart_uses_the_store(self):
        cloud, node = self.start()
        send_obj(cloud, "insert", "configmap", configmap("stored", {"k": "from-store"}), 1)
        send_obj(cloud, "insert", "secret", secret("stored-sec", {"s": "secret-from-store"}), 1)
        c = container("main", "echo K=$(cat /cfg/k) S=$SEC; sleep 2; exit 1",
                      env=[{"name": "SEC", "valueFrom": {"secretKeyRef": {"name": "stored-sec",
                                                                          "key": "s"}}}],
                      volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}])
        p = pod("offline", "uid-offline", [c], [{"name": "cfg", "configMap": {"name": "stored"}}],
                restartPolicy="Always")
        cloud.send_pod("insert", p, 1)
        logdir = os.path.dirname(log_of(self.root, "offline", "uid-offline", "main"))

        def lines():
            out = []
            for f in sorted(os.listdir(logdir)) if os.path.isdir(logdir) else []:
                out += [x for x in log_text(os.path.join(logdir, f)).splitlines() if x.startswith("K=")]
            return out
        wait_for(lambda: lines(), 60, lambda: "first output:\n" + node.output()[-3000:])
        node.stop_clean(self)
        cloud.kill()
        n = len(lines())
        voldir = os.path.join(self.root, "kubelet/pods/uid-offline/volumes/kubernetes.io~configmap/cfg")
        subprocess.run(["rm", "-rf", voldir], check=True)
        # the cloud is gone: the pod comes from the store, and so do its objects
        node2 = Node(self, self.root, cloud,
                     f"container-runtime-endpoint=unix://{SOCK}\n"
                     f"image-service-endpoint=unix://{SOCK}\n"
                     f"pod-logs-dir={self.root}/pods\ncgroup-root={CGROUP}\n")
        wait_for(lambda: os.path.exists(os.path.join(voldir, "k")), 60,
                 lambda: "the volume rewritten from the store:\n" + node2.output()[-4000:])
        self.assertEqual(read(os.path.join(voldir, "k")), "from-store")
        wait_for(lambda: len(lines()) > n, 60,
                 lambda: "a container created after the restart:\n" + node2.output()[-4000:])
        self.assertEqual(set(lines()), {"K=from-store S=secret-from-store"})
        self.assertIsNotNone(cloud.proc.poll())    # the cloud was gone all along

    def test_bad_input_refused(self):
        cloud, node = self.start()
        bad = {
            "dotdot": ({"key": "a", "path": "x/../../evil"}, "must not contain '..'"),
            "absolute": ({"key": "a", "path": "/etc/evil"}, "must be relative path"),
            "leading": ({"key": "a", "path": "..evil"}, "must not start with '..'"),
        }
        for name, (item, _) in bad.items():
            c = container("main", "true", volumeMounts=[{"name": "v", "mountPath": "/v"}])
            cloud.send_pod("insert", pod(name, f"uid-{name}", [c],
                                         [{"name": "v", "configMap": {"name": "cfg", "items": [item]}}]), 1)
        for name, (_, why) in bad.items():
            st = wait_for(lambda: cloud.pod_statuses(name), 30, f"{name}'s status")[0]["Status"]
            self.assertEqual((st["phase"], st["reason"]), ("Failed", "InvalidPodSpec"))
            self.assertIn(why, st["message"])
            self.assertIn("volume v", st["message"])
        # a mount of an unknown volume, a subPath leaving the volume
        c = container("main", "true", volumeMounts=[{"name": "nope", "mountPath": "/v"}])
        cloud.send_pod("insert", pod("nomount", "uid-nomount", [c]), 1)
        st = wait_for(lambda: cloud.pod_statuses("nomount"), 30, "status")[0]["Status"]
        self.assertIn("volumeMount nope names no volume of the pod", st["message"])
        c = container("main", "true", volumeMounts=[{"name": "e", "mountPath": "/v",
                                                     "subPath": "../../etc"}])
        cloud.send_pod("insert", pod("subpath", "uid-subpath", [c], [{"name": "e", "emptyDir": {}}]), 1)
        st = wait_for(lambda: cloud.pod_statuses("subpath"), 30, "status")[0]["Status"]
        self.assertIn("subPath: invalid path", st["message"])
        # an oversized configmap: the pod waits saying why, nothing else stops
        big = "x" * (1300 * 1024)
        send_obj(cloud, "insert", "configmap", configmap("huge", {"big": big}), 1)
        c = container("main", "sleep 3600", volumeMounts=[{"name": "h", "mountPath": "/h"}])
        huge = pod("huge", "uid-huge", [c], [{"name": "h", "configMap": {"name": "huge"}}])
        cloud.send_pod("insert", huge, 1)

        def refused():
            for s in cloud.pod_statuses("huge"):
                w = s["Status"]["containerStatuses"][0]["state"].get("waiting", {})
                if "larger than the 1 MiB" in w.get("message", ""):
                    return w
            return None
        w = wait_for(refused, 60, lambda: "the oversized object refused:\n" + node.output()[-3000:])
        self.assertIn('MountVolume.SetUp failed for volume "h"', w["message"])
        self.assertIn('configmap "huge" is larger than the 1 MiB', w["message"])
        # a hostPath whose type does not match
        c = container("main", "sleep 3600", volumeMounts=[{"name": "hp", "mountPath": "/hp"}])
        hosttype = pod("hosttype", "uid-hosttype", [c],
                       [{"name": "hp", "hostPath": {"path": "/proc/version", "type": "Directory"}}])
        cloud.send_pod("insert", hosttype, 1)

        def type_failed():
            for s in cloud.pod_statuses("hosttype"):
                w = s["Status"]["containerStatuses"][0]["state"].get("waiting", {})
                if "hostPath type check failed" in w.get("message", ""):
                    return w
            return None
        w = wait_for(type_failed, 30, lambda: "hostPath type:\n" + node.output()[-3000:])
        self.assertIn("/proc/version is not a directory", w["message"])
        # and a good pod still runs
        send_obj(cloud, "insert", "configmap", configmap("fine", {"k": "v"}), 1)
        c = container("main", "cat /f/k; sleep 3600", volumeMounts=[{"name": "f", "mountPath": "/f"}])
        fine = pod("fine", "uid-fine", [c], [{"name": "f", "configMap": {"name": "fine"}}])
        cloud.send_pod("insert", fine, 1)
        self.running(cloud, node, "fine")
        self.assertTrue(node.alive())
        for p in (huge, hosttype, fine):
            cloud.send_pod("delete", p, 2)
        for name in ("huge", "hosttype", "fine"):
            node.wait_log(rf"pod default/{name} \(uid uid-{name}\) removed from the runtime", 60)
        self.assertEqual(os.listdir(os.path.join(self.root, "kubelet/pods")), [])


class Tokens(VolumeBase):
    def test_service_account_token_projected(self):
        """The volume every pod of a real cluster gets (kube-api-access):
        a token asked of the cloud for the pod, the CA configmap, the
        namespace."""
        cloud, node = self.start()
        send_obj(cloud, "insert", "configmap", configmap("kube-root-ca.crt", {"ca.crt": "CA"}), 1)
        vol = {"name": "kube-api-access", "projected": {"defaultMode": 0o644, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace",
                                        "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}
        c = container("main", "echo TOKEN=$(cat /sa/token) CA=$(cat /sa/ca.crt) NS=$(cat /sa/namespace); "
                      "sleep 3600",
                      volumeMounts=[{"name": "kube-api-access", "mountPath": "/sa", "readOnly": True}])
        p = pod("sa", "uid-sa", [c], [vol], serviceAccountName="robot")
        cloud.send_pod("insert", p, 1)
        self.running(cloud, node, "sa")
        log = log_of(self.root, "sa", "uid-sa", "main")
        wait_for(lambda: "TOKEN=" in log_text(log), 20, lambda: read(log))
        self.assertRegex(log_text(log), r"TOKEN=cloudsim-token-\d+ CA=CA NS=default")
        # what edged asked: KubeEdge's TokenRequest, bound to the pod
        q = [m for m in cloud.received() if m["route"]["operation"] == "query"
             and m["route"]["resource"] == "default/serviceaccounttoken/robot"][0]
        self.assertEqual((q["route"]["source"], q["route"]["group"]), ("edged", "meta"))
        tr = q["content"]
        self.assertEqual((tr["kind"], tr["metadata"]["name"]), ("TokenRequest", "robot"))
        self.assertEqual(tr["spec"]["expirationSeconds"], 3607)
        self.assertEqual(tr["spec"]["boundObjectRef"],
                         {"kind": "Pod", "apiVersion": "v1", "name": "sa", "uid": "uid-sa"})
        cloud.send_pod("delete", p, 2)
        node.wait_log(r"pod default/sa \(uid uid-sa\) removed from the runtime", 60)


class PullSecrets(Base):
    def test_pull_secret_auth_reaches_the_registry(self):
        """A registry in containerd's network namespace (127.0.0.1 there):
        the credentials of the matching imagePullSecrets key reach it."""
        pid = read(os.path.join(RUNTIME_DIR, "containerd.pid")).strip()
        out = os.path.join(self.root, "registry.out")
        # the registry runs in containerd's namespace, as a child python
        script = (
            "import http.server, json\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "    def do_GET(self):\n"
            f"        open({out!r}, 'a').write(json.dumps([self.command, self.path,"
            " self.headers.get('Authorization')]) + '\\n')\n"
            "        if not self.headers.get('Authorization'):\n"
            "            self.send_response(401)\n"
            "            self.send_header('WWW-Authenticate', 'Basic realm=\"edged-test\"')\n"
            "        else:\n"
            "            self.send_response(404)\n"
            "        self.send_header('Content-Length', '0')\n"
            "        self.end_headers()\n"
            "    do_HEAD = do_GET\n"
            "    def log_message(self, *a):\n"
            "        pass\n"
            "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
            "print(s.server_address[1], flush=True)\n"
            "s.serve_forever()\n")
        reg = subprocess.Popen(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", script],
                               stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (reg.kill(), reg.wait(), reg.stdout.close()))
        port = int(reg.stdout.readline())
        cloud = Cloud(self, self.root)
        metamanager_conf(self.root, "remote-query-timeout=3\n")
        node = Node(self, self.root, cloud,
                    f"container-runtime-endpoint=unix://{SOCK}\n"
                    f"image-service-endpoint=unix://{SOCK}\n"
                    f"pod-logs-dir={self.root}/pods\ncgroup-root={CGROUP}\n")
        wait_for(lambda: cloud.node_messages("insert"), 30, "registration")
        image = f"127.0.0.1:{port}/team/app:1"
        dockerconfig = {"auths": {
            f"127.0.0.1:{port}/other": {"auth": b64("wrong:wrong")},
            f"127.0.0.1:{port}/team": {"auth": b64("robot:pa55")},
            "docker.io": {"username": "hub", "password": "hub"}}}
        send_obj(cloud, "insert", "secret",
                 {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                  "metadata": {"name": "regcred", "namespace": "default", "resourceVersion": "1"},
                  "data": {".dockerconfigjson": b64(json.dumps(dockerconfig))}}, 1)
        c = container("main", "true")
        c["image"] = image
        p = pod("private", "uid-private", [c], imagePullSecrets=[{"name": "absent"}, {"name": "regcred"}])
        cloud.send_pod("insert", p, 1)

        def authed():
            try:
                return [json.loads(x) for x in read(out).splitlines() if json.loads(x)[2]]
            except OSError:
                return []
        seen = wait_for(authed, 60, lambda: "the registry given credentials:\n" + node.output()[-3000:]
                        + "\nregistry:\n" + (read(out) if os.path.exists(out) else "(nothing)")
                        + json.dumps(cloud.pod_statuses("private")[-1:]))
        self.assertEqual(seen[0][2], "Basic " + b64("robot:pa55"))
        self.assertIn("/v2/team/app/manifests/1", [s[1] for s in seen])

        def pull_error():
            for s in cloud.pod_statuses("private"):
                w = s["Status"]["containerStatuses"][0]["state"].get("waiting", {})
                if w.get("reason") == "ErrImagePull":
                    return w
            return None
        wait_for(pull_error, 60, "ErrImagePull")
        node.wait_log(r"pod default/private: pull secret absent skipped: secret \"absent\" not found")
        cloud.send_pod("delete", p, 2)
        node.wait_log(r"pod default/private \(uid uid-private\) removed from the runtime", 60)


if __name__ == "__main__":
    unittest.main(verbosity=2)
