#!/usr/bin/env python3
"""edged's static pods (issue 12) with a private containerd
(with-runtime.sh): a YAML manifest runs on a standalone node (edged and
metamanager, no edgehub, no cloud at all), is replaced when its file
changes and removed when the file goes; a bad manifest is refused with a
log line; with a cloud (cloudsim) a JSON manifest's pod is sent as a mirror
pod (kubelet's annotation and name suffix) and the mirror pod the cloud
sends back is not run a second time."""
import glob
import json
import os
import signal
import subprocess
import sys
import time
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "lib"))
import test_edged as te  # noqa: E402
from harness import read  # noqa: E402

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  hostNetwork: true
  restartPolicy: Always
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: {image}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c"]
    args:
    - echo {word}; exec sleep 3600
"""


class Standalone:
    """edgecore with edged and metamanager only: no edgehub, no cloud."""

    def __init__(self, test, root, static_dir):
        confd = os.path.join(root, "conf.d")
        os.makedirs(confd, exist_ok=True)
        self.log_path = os.path.join(root, "node.log")
        with open(os.path.join(confd, "00-test.conf"), "w") as f:
            f.write(f"[core]\ncontrol-socket={root}/ctl.sock\ndata-dir={root}\nnode-name={te.NODE}\n"
                    f"stop-timeout=5\n[database]\ndata-source={root}/edgecore.db\n"
                    "[metamanager]\nenable=true\n"
                    f"[edged]\nenable=true\nroot-directory={root}/kubelet\n"
                    f"container-runtime-endpoint=unix://{te.SOCK}\n"
                    f"image-service-endpoint=unix://{te.SOCK}\n"
                    f"pod-logs-dir={root}/pods\ncgroup-root={te.CGROUP}\n"
                    f"static-pod-path={static_dir}\n")
        args = [te.BIN, "--config-dir", confd]
        for d in te.PLUGIN_DIRS:
            if "edgehub" not in d:
                args += ["--plugin-dir", d]
        self.log = open(self.log_path, "a")
        env = dict(os.environ, G_DEBUG="")
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        test.addCleanup(self.stop, test)

    def output(self):
        return read(self.log_path)

    def wait_log(self, pattern, timeout=30):
        te.wait_for(lambda: __import__("re").search(pattern, self.output()), timeout,
                    lambda: f"log line {pattern!r}:\n" + self.output()[-3000:])

    def stop(self, test):
        if self.log.closed:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            test.assertEqual(rc, 0, self.output()[-3000:])
        self.log.close()
        test.assertNotIn("Sanitizer", self.output())
        test.assertNotIn("CRITICAL", self.output())


def logs(root, word):
    return [p for p in glob.glob(os.path.join(root, "pods", f"default_web-{te.NODE}_*", "main", "*.log"))
            if word in read(p)]


class Static(te.Base):
    def test_standalone_yaml_runs_changes_and_goes(self):
        static = os.path.join(self.root, "manifests")
        os.makedirs(static)
        before = set(te.crictl_ls())
        path = os.path.join(static, "web.yaml")
        with open(path, "w") as f:
            f.write(MANIFEST.format(image=te.IMAGE, word="first-version"))
        with open(os.path.join(static, "bad.yaml"), "w") as f:
            f.write("kind: Pod\nmetadata: [unclosed\n")
        with open(os.path.join(static, ".hidden.yaml"), "w") as f:
            f.write("ignored: true\n")
        node = Standalone(self, self.root, static)
        node.wait_log(rf"static pod default/web-{te.NODE} from {path}")
        te.wait_for(lambda: logs(self.root, "first-version"), 60,
                    lambda: "the static pod's log:\n" + node.output()[-3000:])
        node.wait_log(r"static pod manifest .*/bad\.yaml: line \d+")
        self.assertNotIn(".hidden.yaml", node.output())
        self.assertEqual(len(set(te.crictl_ls()) - before), 2)
        first_uid = logs(self.root, "first-version")[0].split("/")[-3].rsplit("_", 1)[1]
        self.assertRegex(first_uid, r"^[0-9a-f]{32}$")

        # the file changes: the old pod goes, the new one runs
        with open(path, "w") as f:
            f.write(MANIFEST.format(image=te.IMAGE, word="second-version"))
        te.wait_for(lambda: logs(self.root, "second-version"), 60,
                    lambda: "the replaced static pod's log:\n" + node.output()[-3000:])
        node.wait_log(rf"pod default/web-{te.NODE} \(uid {first_uid}\) removed from the runtime", 60)
        te.wait_for(lambda: len(set(te.crictl_ls()) - before) == 2, 30, "only the new pod")

        # a restart adopts it (nothing created again)
        ours = set(te.crictl_ls()) - before
        node.stop(self)
        node = Standalone(self, self.root, static)
        node.wait_log(rf"pod default/web-{te.NODE}: adopted sandbox [0-9a-f]{{12}} and 1 of 1", 60)
        self.assertEqual(set(te.crictl_ls()) - before, ours)

        # the file goes: so does the pod
        os.unlink(path)
        node.wait_log(rf"static pod default/web-{te.NODE}: {path} changed or removed", 60)
        te.wait_for(lambda: set(te.crictl_ls()) == before, 60,
                    lambda: "the static pod removed:\n" + node.output()[-3000:])
        self.assertEqual(node.proc.poll(), None)

    def test_mirror_pod_at_the_cloud(self):
        static = os.path.join(self.root, "manifests")
        os.makedirs(static)
        before = set(te.crictl_ls())
        pod = te.pod_obj("mirrored", "ignored-uid", "exec sleep 3600")
        del pod["metadata"]["uid"]
        del pod["spec"]["nodeName"]
        with open(os.path.join(static, "mirrored.json"), "w") as f:
            json.dump(pod, f)
        cloud = te.Cloud(self, self.root)
        node = te.Node(self, self.root, cloud, self.runtime_conf(f"static-pod-path={static}\n"))
        name = f"mirrored-{te.NODE}"

        def mirrors():
            return [m for m in cloud.received() if m["route"]["operation"] == "insert"
                    and m["route"]["resource"] == f"default/pod/{name}"]
        m = te.wait_for(mirrors, 60, lambda: "the mirror pod:\n" + node.output()[-3000:])[0]
        self.assertEqual((m["route"]["source"], m["route"]["group"]), ("edged", "meta"))
        obj = m["content"]
        ann = obj["metadata"]["annotations"]
        self.assertEqual(ann["kubernetes.io/config.source"], "file")
        self.assertRegex(ann["kubernetes.io/config.mirror"], r"^[0-9a-f]{32}$")
        self.assertEqual(ann["kubernetes.io/config.mirror"], ann["kubernetes.io/config.hash"])
        self.assertEqual(obj["metadata"]["name"], name)
        self.assertEqual(obj["spec"]["nodeName"], te.NODE)
        te.wait_for(lambda: [s for s in cloud.pod_statuses(name) if s["Status"]["phase"] == "Running"],
                    60, "the static pod Running at the cloud")
        self.assertEqual(len(set(te.crictl_ls()) - before), 2)
        # the cloud sends the mirror pod back (as its watch would): not run twice
        back = json.loads(json.dumps(obj))
        back["metadata"]["uid"] = "cloud-mirror-uid"
        cloud.send_pod("insert", back, 1)
        time.sleep(3)
        self.assertEqual(len(set(te.crictl_ls()) - before), 2)
        os.unlink(os.path.join(static, "mirrored.json"))

        def deleted():
            return [m for m in cloud.received() if m["route"]["operation"] == "delete"
                    and m["route"]["resource"] == f"default/pod/{name}"]
        te.wait_for(deleted, 60, "the mirror pod's delete")
        te.wait_for(lambda: set(te.crictl_ls()) == before, 60, "the static pod removed")


if __name__ == "__main__":
    unittest.main(verbosity=2)
