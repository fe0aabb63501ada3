#!/usr/bin/env python3
"""edged retries a container the runtime could not create (pods30): with
the real edgecore, edgehub, metamanager, cloudsim and a private containerd
(with-runtime.sh). CreateContainer fails (a hostPath volume whose path
containerd cannot make: a path component is a regular file); once the cause
is gone the container is created again, whatever the restartPolicy (it never
ran), and the pod runs with restartCount 0. Before the fix such a pod stayed
Pending with CreateContainerError for ever. And $(VAR) in command and args
(kubelet's expansion) as the container sees it."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "lib"))
import test_edged as te  # noqa: E402
from harness import read  # noqa: E402


def cstatus(st):
    return st["Status"]["containerStatuses"][0]


class CreateRetry(te.Base):
    def test_create_failure_is_retried(self):
        cloud, node = self.start_node()
        blocker = os.path.join(self.root, "blocker")
        with open(blocker, "w") as f:
            f.write("a file where containerd wants a directory\n")
        pod = te.pod_obj("retry", "uid-retry", "exec sleep 3600",
                         volumes=[{"name": "h", "hostPath": {"path": blocker + "/dir"}}])
        pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "h", "mountPath": "/h"}]
        cloud.send_pod("insert", pod, 1)

        def waiting():
            return [s for s in cloud.pod_statuses("retry")
                    if cstatus(s).get("state", {}).get("waiting", {}).get("reason")
                    == "CreateContainerError"]
        te.wait_for(waiting, 90, lambda: "CreateContainerError:\n" + node.output()[-3000:])
        node.wait_log(r"pod default/retry: creating container main failed", 30)
        os.unlink(blocker)

        def running():
            return [s for s in cloud.pod_statuses("retry")
                    if s["Status"].get("phase") == "Running" and "running" in cstatus(s)["state"]]
        st = te.wait_for(running, 90, lambda: "Running after the retry:\n" + node.output()[-3000:])[0]
        self.assertEqual(cstatus(st)["restartCount"], 0)
        self.assertTrue(os.path.isdir(blocker + "/dir"))
        cloud.send_pod("delete", pod, 99)
        node.wait_log(r"pod default/retry \(uid uid-retry\) removed from the runtime", 60)


class Expansion(te.Base):
    def test_var_references_in_command_and_args(self):
        """$(VAR) in command and args from the container's env (kubelet's
        expansion), $$ escapes, unknown references left as written."""
        cloud, node = self.start_node()
        pod = te.pod_obj("expand", "uid-expand", "echo 'ARGS=$(GREETING)|$$(GREETING)|$(NOPE)|$(WHO)'; "
                         "exec sleep 3600")
        c = pod["spec"]["containers"][0]
        c["command"] = ["$(SHELL_BIN)", "-c"]
        c["env"] += [{"name": "SHELL_BIN", "value": "/bin/sh"},
                     {"name": "WHO", "value": "$(GREETING)-again"}]
        cloud.send_pod("insert", pod, 1)
        log = os.path.join(self.root, "pods", "default_expand_uid-expand", "main", "0.log")

        def printed():
            return os.path.exists(log) and "ARGS=" in read(log)
        te.wait_for(printed, 90, lambda: "the container's output:\n" + node.output()[-3000:])
        self.assertIn("ARGS=hello-env|$(GREETING)|$(NOPE)|hello-env-again", read(log))
        cloud.send_pod("delete", pod, 99)
        node.wait_log(r"pod default/expand \(uid uid-expand\) removed from the runtime", 60)


if __name__ == "__main__":
    unittest.main()
