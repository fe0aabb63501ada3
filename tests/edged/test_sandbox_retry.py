#!/usr/bin/env python3
"""edged after a failed RunPodSandbox, with the real edgecore, edgehub,
metamanager, cloudsim and a private containerd (with-runtime.sh).

RunPodSandbox fails in the middle: the pod's cgroup tree is frozen (cgroup
v1 freezer), so the pause process never starts and the call waits; then
containerd stops. Its sandbox record stays behind, and with it the sandbox's
name (<name>_<namespace>_<uid>_<attempt>). A retry with the same attempt was
answered "name ... is reserved" for as long as that sandbox existed, i.e.
for ever. As kubelet, edged now lists the pod's sandboxes before the retry:
the leftover is removed and the retry is a new attempt (or, had the runtime
finished it, the ready sandbox is taken)."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "lib"))
import test_edged as te  # noqa: E402

FREEZER = "/sys/fs/cgroup/freezer" + te.CGROUP


def set_freezer(state):
    with open(os.path.join(FREEZER, "freezer.state"), "w") as f:
        f.write(state)


def thaw_if_there():
    if os.path.exists(FREEZER):
        set_freezer("THAWED")


class SandboxRetry(te.Base):
    def test_retry_after_a_sandbox_left_behind(self):
        cloud, node = self.start_node()
        os.makedirs(FREEZER, exist_ok=True)
        set_freezer("FROZEN")
        self.addCleanup(thaw_if_there)
        before = set(te.crictl_ls())
        pod = te.pod_obj("sbx", "uid-sbx", "exec sleep 3600")
        cloud.send_pod("insert", pod, 1)
        # the sandbox's container is recorded; its pause process is frozen
        te.wait_for(lambda: set(te.crictl_ls()) - before, 60,
                    lambda: "the sandbox's container:\n" + node.output()[-3000:])
        te.runtime("kill")
        node.wait_log(r"pod default/sbx: RunPodSandbox failed \(retried\)", 60)
        set_freezer("THAWED")
        te.runtime("restart")

        def running():
            return [s for s in cloud.pod_statuses("sbx")
                    if s["Status"].get("phase") == "Running"
                    and "running" in s["Status"]["containerStatuses"][0]["state"]]
        te.wait_for(running, 120, lambda: "Running after the retry:\n" + node.output()[-4000:])
        out = node.output()
        self.assertRegex(out, r"pod default/sbx: removing sandbox [0-9a-f]{12} \(attempt 0\) left by the failed "
                              r"RunPodSandbox")
        self.assertIn("pod default/sbx: RunPodSandbox again as attempt 1", out)
        self.assertNotIn("is reserved", out)
        # the leftover is gone: the pod's sandbox (attempt 1) and its container remain
        te.wait_for(lambda: len(set(te.crictl_ls()) - before) == 2, 60,
                    lambda: "the leftover sandbox removed: %s" % (set(te.crictl_ls()) - before))
        cloud.send_pod("delete", pod, 99)
        node.wait_log(r"pod default/sbx \(uid uid-sbx\) removed from the runtime", 60)


if __name__ == "__main__":
    unittest.main(verbosity=2)
