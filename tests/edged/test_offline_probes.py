#!/usr/bin/env python3
"""Probes after a `kill -9` and a restart with the cloud unreachable
(issue 12): the adopted container's readiness probe runs again within one
period of the adoption. The probe is an exec appending the host's uptime
(/proc/uptime is not namespaced) to a file in a hostPath volume, so the
test reads when each attempt ran; while edgecore is dead no attempt runs
(the lines are edged's). Real edgecore, edgehub, metamanager, cloudsim and
a private containerd (with-runtime.sh)."""
import os
import sys
import time
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "lib"))
import test_edged as te  # noqa: E402
import test_offline as to  # noqa: E402
from harness import read  # noqa: E402

PERIOD = 5


def uptime():
    return float(read("/proc/uptime").split()[0])


class OfflineProbes(to.OfflineBase):
    def test_probes_run_again_within_a_period_after_kill9_offline(self):
        cloud, node = self.start()
        probe_dir = os.path.join(self.root, "probe")
        probe_log = os.path.join(probe_dir, "log")
        pod = te.pod_obj("prb", "uid-prb", "exec sleep 3600", restartPolicy="Always",
                         volumes=[{"name": "p", "hostPath": {"path": probe_dir,
                                                             "type": "DirectoryOrCreate"}}])
        c = pod["spec"]["containers"][0]
        c["volumeMounts"] = [{"name": "p", "mountPath": "/probe"}]
        c["readinessProbe"] = {"exec": {"command": ["sh", "-c", "cut -d' ' -f1 /proc/uptime >> /probe/log"]},
                               "periodSeconds": PERIOD, "timeoutSeconds": 10}
        cloud.send_pod("insert", pod, 1)

        def attempts():
            if not os.path.exists(probe_log):
                return []
            return [float(x) for x in read(probe_log).split()]
        te.wait_for(lambda: len(attempts()) >= 2, 90,
                    lambda: "two probe attempts:\n" + to.edged_lines(node))
        te.wait_for(lambda: [s for s in cloud.pod_statuses("prb")
                             if s["Status"]["containerStatuses"][0]["ready"]], 60,
                    lambda: "Ready at the cloud:\n" + to.edged_lines(node))

        # kill -9, the cloud goes away: no attempt while edgecore is dead
        self.kill9(node)
        cloud.down()
        n_dead = len(attempts())
        time.sleep(PERIOD + 2)
        self.assertEqual(len(attempts()), n_dead)

        node2 = self.restart_node(cloud)
        node2.wait_log(r"pod default/prb: adopted sandbox [0-9a-f]{12} and 1 of 1 containers", 60)
        node2.wait_log(r"edged: pod default/prb: running again as before", 60)
        # seen after the line was written: the adoption was at or before this
        adopted_by = uptime()
        after = te.wait_for(lambda: attempts()[n_dead:], 60,
                            lambda: "a probe attempt after the restart:\n" + to.edged_lines(node2))
        self.assertLessEqual(after[0], adopted_by + PERIOD,
                             f"first attempt {after[0] - adopted_by:.1f} s after the adoption")
        # and it goes on, every period, still offline
        te.wait_for(lambda: len(attempts()) >= n_dead + 2, 3 * PERIOD + 30,
                    lambda: "a second attempt after the restart:\n" + to.edged_lines(node2))
        self.assertTrue(node2.alive())

        cloud.up()
        self.cleanup_pods(cloud, node2, ["prb"])


if __name__ == "__main__":
    unittest.main()
