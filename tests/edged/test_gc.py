#!/usr/bin/env python3
"""edged's garbage collection and imagefs eviction (issue 12) with the real
edgecore, edgehub, metamanager, cloudsim and a private containerd
(with-runtime.sh):

- image GC: with image-gc-high-threshold-percent=1 and low=0 the real use of
  the filesystem holding containerd's images crosses the high threshold, so
  the unused images go; the image of a running container, the image of an
  exited container that is kept, and the pod-sandbox-image stay;
- max-container-count: the node keeps only its newest dead containers;
- imagefs.available: a threshold just above what is available sets
  DiskPressure; the unused images are deleted before any pod is evicted.

Extra images are built with mkimage.sh (distinct config User, so distinct
image ids) and imported into containerd's CRI namespace."""
import itertools
import os
import re
import subprocess
import sys
import tempfile
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "lib"))
import test_edged as te  # noqa: E402
from test_offline import OfflineBase, ctr, edged_lines, running_status  # noqa: E402


USERS = itertools.count(2000)


def import_images(names):
    """Builds and imports localhost/edged-gc-<name>:1 for each name, each
    with its own config (User 2000, 2001, ... never used twice in a run) and
    so its own image id."""
    refs = []
    with tempfile.TemporaryDirectory(prefix="ec-gc-img-") as d:
        for name in names:
            ref = f"localhost/edged-gc-{name}:1"
            out = os.path.join(d, name)
            subprocess.run([os.path.join(here, "mkimage.sh"), out, ref, str(next(USERS))],
                           check=True, capture_output=True, timeout=120)
            ctr("images", "import", os.path.join(out, "image-oci.tar"))
            refs.append(ref)
    return refs


def image_names():
    return set(ctr("images", "ls", "-q").split())


def removed_line(ref):
    return rf"image sha256:[0-9a-f]{{64}} \({re.escape(ref)}, [0-9]+ bytes\) removed: unused"


def pod_on(name, image, command, **extra):
    pod = te.pod_obj(name, f"uid-{name}", command, **extra)
    pod["spec"]["containers"][0]["image"] = image
    return pod


class ImageGC(OfflineBase):
    CONF_EXTRA = f"pod-sandbox-image={te.IMAGE}\nimage-gc-high-threshold-percent=100\n"

    def test_unused_images_go_used_and_sandbox_images_stay(self):
        used, dead, old1, old2 = import_images(["used", "dead", "old1", "old2"])
        cloud, node = self.start()
        node.wait_log(r"image-gc-high-threshold-percent is 100: image garbage collection off")
        cloud.send_pod("insert", pod_on("run", used, "exec sleep 3600"), 1)
        cloud.send_pod("insert", pod_on("exited", dead, "exit 0"), 1)
        te.wait_for(lambda: running_status(cloud, "run"), 60,
                    lambda: "run Running:\n" + edged_lines(node))
        te.wait_for(lambda: [s for s in cloud.pod_statuses("exited")
                             if s["Status"]["phase"] == "Succeeded"], 60,
                    lambda: "exited Succeeded:\n" + edged_lines(node))
        self.assertTrue({used, dead, old1, old2, te.IMAGE} <= image_names())
        # edgecore restarts with thresholds real use crosses: the collection
        # at start removes what no container uses (the images were there at
        # start: old enough for image-minimum-gc-age's default 2m0s)
        node.stop_clean(self)
        self.CONF_EXTRA = (f"pod-sandbox-image={te.IMAGE}\nimage-gc-high-threshold-percent=1\n"
                           "image-gc-low-threshold-percent=0\n")
        node2 = self.restart_node(cloud)
        node2.wait_log(r"image filesystem usage [0-9]+% is at or above the high threshold 1%: "
                       r"freeing [0-9]+ bytes", 60)
        node2.wait_log(removed_line(old1), 60)
        node2.wait_log(removed_line(old2), 60)
        node2.wait_log(r"image garbage collection: wanted to free [0-9]+ bytes, but only found", 60)
        names = image_names()
        self.assertNotIn(old1, names)
        self.assertNotIn(old2, names)
        # in use by the running container, by the exited (kept) one, the sandbox
        self.assertIn(used, names)
        self.assertIn(dead, names)
        self.assertIn(te.IMAGE, names)
        out = node2.output()
        for ref in (used, dead, te.IMAGE):
            self.assertNotRegex(out, removed_line(ref))
        self.cleanup_pods(cloud, node2, ["run", "exited"])


class NodeDeadContainers(OfflineBase):
    # no per-container limit: only the node-wide one
    CONF_EXTRA = "max-per-pod-container-count=-1\nmax-container-count=2\n"

    def test_max_container_count_keeps_the_newest(self):
        cloud, node = self.start()
        cloud.send_pod("insert", te.pod_obj("crash", "uid-crash", "exit 1",
                                            restartPolicy="Always"), 1)

        def dead_ids():
            out = []
            for s in cloud.pod_statuses("crash"):
                t = s["Status"]["containerStatuses"][0]["lastState"].get("terminated")
                if t and t["containerID"].split("://")[1] not in out:
                    out.append(t["containerID"].split("://")[1])
            return out
        te.wait_for(lambda: len(dead_ids()) >= 3, 150,
                    lambda: "three restarts:\n" + edged_lines(node))
        ids = dead_ids()

        def mine():
            return ctr("containers", "ls", "-q", 'labels."io.kubernetes.pod.uid"==uid-crash,'
                       'labels."io.kubernetes.container.name"==main').split()
        # the oldest dead instances go (RemoveContainer is asynchronous); the
        # two newest are kept
        te.wait_for(lambda: ids[0] not in mine(), 30,
                    lambda: f"{ids[0]} removed ({ids}, {mine()}):\n" + edged_lines(node))
        mine = mine()
        self.assertIn(ids[-1], mine)
        self.assertIn(ids[-2], mine)
        # two dead ones and at most the current one
        self.assertLessEqual(len(mine), 3)
        self.cleanup_pods(cloud, node, ["crash"])


class ImageFsEviction(OfflineBase):
    SIGNAL = "imagefs.available"
    PATH = os.path.join(te.RUNTIME_DIR, "root")

    def conf(self):
        vfs = os.statvfs(self.PATH)
        available = vfs.f_bavail * vfs.f_frsize
        capacity = vfs.f_blocks * vfs.f_frsize
        # just above what is available: pressure now, and still after the
        # few bytes the unused images give back
        threshold = available + capacity // 20
        return super().conf() + (f"pod-sandbox-image={te.IMAGE}\n"
                                 "image-gc-high-threshold-percent=100\n"
                                 f"eviction-hard={self.SIGNAL}<{threshold}\n")

    def test_disk_pressure_unused_images_first_then_a_pod(self):
        spare1, spare2 = import_images(["spare1", "spare2"])
        cloud, node = self.start()
        cloud.send_pod("insert", te.pod_obj("ev", "uid-ev", "exec sleep 3600",
                                            restartPolicy="Always"), 1)

        def evicted():
            return [s for s in cloud.pod_statuses("ev") if s["Status"].get("reason") == "Evicted"]
        te.wait_for(evicted, 90, lambda: "ev evicted:\n" + edged_lines(node))
        st = evicted()[0]["Status"]
        self.assertEqual(st["phase"], "Failed")
        self.assertEqual(st["message"], "The node was low on resource: ephemeral-storage. ")
        out = node.output()
        evicted_at = out.index("pod default/ev evicted: The node was low on resource: ephemeral-storage")
        # reclaim first: the unused images were deleted before the pod went
        for ref in (spare1, spare2):
            m = re.search(removed_line(ref), out)
            self.assertIsNotNone(m, ref + "\n" + edged_lines(node))
            self.assertLess(m.start(), evicted_at)
        sig = re.escape(self.SIGNAL)
        self.assertRegex(out[:evicted_at], sig + r" [0-9]+ < [0-9]+: deleting unused images")
        self.assertRegex(out[:evicted_at], sig + r" [0-9]+ < [0-9]+ after deleting "
                                           r"unused images \([0-9]+ bytes\): evicting a pod")
        names = image_names()
        self.assertNotIn(spare1, names)
        self.assertNotIn(spare2, names)
        self.assertIn(te.IMAGE, names)   # the sandbox image stays
        cond = te.wait_for(lambda: [c for m in cloud.node_messages("update")
                                    for c in m["content"]["Status"]["conditions"]
                                    if c["type"] == "DiskPressure" and c["status"] == "True"], 30,
                           "DiskPressure")[0]
        self.assertEqual(cond["reason"], "KubeletHasDiskPressure")
        self.assertEqual(cond["message"], "kubelet has disk pressure")


class NodeFsEviction(ImageFsEviction):
    """nodefs.available on the filesystem that also holds the images (no
    dedicated imagefs here: root-directory and containerd's root are both
    under /tmp): the same reclaim first."""
    SIGNAL = "nodefs.available"

    @property
    def PATH(self):
        return self.root


class BadGCConfig(te.Base):
    def check(self, conf, pattern):
        cloud = te.Cloud(self, self.root)
        node = te.Node(self, self.root, cloud, f"container-runtime-endpoint=unix://{te.SOCK}\n" + conf)
        node.wait_log(pattern + r".*the other plugins keep running")
        node.wait_log(r"edgehub: connected to the cloud")
        self.assertTrue(node.alive())
        self.assertEqual(cloud.node_messages("insert"), [])
        node.stop_clean(self)

    def test_low_above_high_named_in_the_error(self):
        self.check("image-gc-high-threshold-percent=50\nimage-gc-low-threshold-percent=60\n",
                   r"\[edged\] image-gc-low-threshold-percent \(60\) must not exceed "
                   r"image-gc-high-threshold-percent \(50\)")

    def test_bad_values_named_in_the_error(self):
        self.check("image-gc-high-threshold-percent=101\n",
                   r"\[edged\] image-gc-high-threshold-percent: 101 is not in 0\.\.100")

    def test_bad_age_named_in_the_error(self):
        self.check("image-minimum-gc-age=soon\n", r"\[edged\] image-minimum-gc-age: ")

    def test_bad_imagefs_threshold_named_in_the_error(self):
        self.check("eviction-hard=imagefs.available<120%\n",
                   r"\[edged\] eviction-hard: invalid eviction threshold "
                   r"\"imagefs.available<120%\" \(percentage 0-100%\)")


if __name__ == "__main__":
    unittest.main(verbosity=2)
