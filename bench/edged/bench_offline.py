#!/usr/bin/env python3
"""edged offline benchmarks (issue 12): a real edgecore (edgehub,
metamanager, edged) against cloudsim and a private containerd
(tests/edged/with-runtime.sh; needs root). Prints BENCH lines:

  edged.kill9_adopt30_ms         30 running pods; kill -9 edgecore, start it
                                 again: kill -> every pod adopted ("running
                                 again as before") and reported Running again
                                 at the cloud
  edged.idle30_cpu_ms_per_s      edgecore CPU per second with those 30 pods
  edged.exec_probes100_cpu_ms_per_s  edgecore CPU per second with 100 exec
                                 probes per second (50 pods, liveness and
                                 readiness each every 1 s), on top of idle

usage: bench/edged/bench_offline.py BUILD_DIR [--quick]   (--quick: 10 pods, 20 probes/s)"""
import os
import re
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))


def main():
    build = os.path.abspath(sys.argv[1])
    quick = "--quick" in sys.argv
    if "EDGED_TEST_CRI_SOCK" not in os.environ:
        wrapper = os.path.join(SRC, "tests", "edged", "with-runtime.sh")
        os.environ.setdefault("EDGED_TEST_TIMEOUT", "900")
        os.execv(wrapper, [wrapper, sys.executable] + sys.argv)
    os.environ.setdefault("EDGECORE_BIN", os.path.join(build, "kernel", "edgecore"))
    os.environ.setdefault("CLOUDSIM_BIN", os.path.join(build, "tests", "cloudsim", "cloudsim"))
    os.environ.setdefault("EDGED_PLUGIN_DIRS", ":".join(
        os.path.join(build, "plugins", p) for p in ("edged", "edgehub", "metamanager")))
    os.environ.setdefault("EDGECORE_SYSTEM_CONFIG_DIRS", "")
    os.environ.setdefault("EDGECORE_SYSTEM_PLUGIN_DIRS", "")
    sys.path.insert(0, os.path.join(SRC, "tests", "edged"))
    import test_edged as t

    n_pods = 10 if quick else 30
    n_probe_pods = 10 if quick else 50
    case = unittest.TestCase()

    def conf(root):
        return (f"container-runtime-endpoint=unix://{t.SOCK}\n"
                f"image-service-endpoint=unix://{t.SOCK}\n"
                f"pod-logs-dir={root}/pods\ncgroup-root={t.CGROUP}\n")

    def running(cloud, names, since):
        done = set()
        for m in cloud.received()[since:]:
            r = m["route"]
            if (r["operation"] == "update" and "/podstatus/" in r["resource"]
                    and m["content"].get("Status", {}).get("phase") == "Running"
                    and all("running" in cs["state"] for cs in m["content"]["Status"]["containerStatuses"])):
                done.add(m["content"]["Name"])
        return done & set(names)

    def cpu_ms(pid):
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) * 1000 / os.sysconf("SC_CLK_TCK")

    def cpu_per_s(pid, seconds):
        c0, t0 = cpu_ms(pid), time.monotonic()
        time.sleep(seconds)
        return (cpu_ms(pid) - c0) / (time.monotonic() - t0)

    def remove(cloud, node, names):
        for name in names:
            cloud.send_pod("delete", t.pod_obj(name, f"uid-{name}", "true"), 9)
        t.wait_for(lambda: len(re.findall(r"removed from the runtime", node.output())) >= len(names),
                   300, "the pods removed")

    with tempfile.TemporaryDirectory(prefix="ec-bench-offline-") as root:
        cloud = t.Cloud(case, root)
        node = t.Node(case, root, cloud, conf(root))
        t.wait_for(lambda: cloud.node_messages("insert"), 60, "registration")
        names = [f"adopt-{i}" for i in range(n_pods)]
        for name in names:
            cloud.send_pod("insert", t.pod_obj(name, f"uid-{name}", "exec sleep 3600",
                                               restartPolicy="Always"), 1)
        t.wait_for(lambda: len(running(cloud, names, 0)) == len(names), 600, "the pods Running")
        time.sleep(2)
        print(f"BENCH edged.idle{n_pods}_cpu_ms_per_s {cpu_per_s(node.proc.pid, 10):.2f} ms", flush=True)

        n = len(cloud.received())
        prefix = len(node.output())   # the two runs share the log file
        t0 = time.monotonic()
        node.proc.kill()
        node.proc.wait()
        node.log.close()
        node2 = t.Node(case, root, cloud, conf(root))
        t.wait_for(lambda: len(re.findall(r"running again as before", node2.output()[prefix:])) >= len(names)
                   and len(running(cloud, names, n)) == len(names), 300,
                   lambda: "every pod adopted and reported:\n" + node2.output()[-3000:])
        print(f"BENCH edged.kill9_adopt{n_pods}_ms {(time.monotonic() - t0) * 1000:.0f} ms", flush=True)
        after = node2.output()[prefix:]
        if (re.search(r"CreateContainer|RunPodSandbox|stale sandbox", after)
                or len(re.findall(r"adopted sandbox [0-9a-f]{12} and 1 of 1", after)) != len(names)):
            raise SystemExit("pods were not simply adopted:\n" + after[-3000:])
        remove(cloud, node2, names)

        # probes: each pod has an exec liveness and readiness probe every second
        base = cpu_per_s(node2.proc.pid, 10)
        probe_names = [f"probe-{i}" for i in range(n_probe_pods)]
        for name in probe_names:
            pod = t.pod_obj(name, f"uid-{name}", "exec sleep 3600", restartPolicy="Always")
            c = pod["spec"]["containers"][0]
            c["livenessProbe"] = {"exec": {"command": ["true"]}, "periodSeconds": 1}
            c["readinessProbe"] = {"exec": {"command": ["true"]}, "periodSeconds": 1}
            cloud.send_pod("insert", pod, 1)
        t.wait_for(lambda: len(running(cloud, probe_names, 0)) == len(probe_names), 600,
                   "the probed pods Running")
        time.sleep(3)
        with_probes = cpu_per_s(node2.proc.pid, 20)
        per100 = (with_probes - base) * 100 / (2 * n_probe_pods)
        print(f"BENCH edged.exec_probes100_cpu_ms_per_s {per100:.2f} ms", flush=True)
        case.doCleanups()


if __name__ == "__main__":
    main()
