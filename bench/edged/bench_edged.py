#!/usr/bin/env python3
"""edged benchmarks: a real edgecore (edgehub, metamanager, edged) against
cloudsim and a private containerd (tests/edged/with-runtime.sh; needs
root). Prints BENCH lines:

  edged.register_ms            edgecore start -> node registration at the cloud
  edged.pod_running_ms         1 pod: cloud sends it -> Running recorded by the cloud
  edged.pods30_running_p50_ms  30 pods sent at once: each pod's send -> Running
  edged.pods30_running_p99_ms
  edged.rss_kb / edged.pss_kb  edgecore with 30 running pods
  edged.cpu_ms_per_pod         edgecore CPU time per pod started (30 pods)

usage: bench/edged/bench_edged.py BUILD_DIR [--quick]"""
import json
import os
import subprocess
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
    case = unittest.TestCase()
    with tempfile.TemporaryDirectory(prefix="ec-bench-edged-") as root:
        cloud = t.Cloud(case, root)
        t0 = time.monotonic()
        node = t.Node(case, root, cloud,
                      f"container-runtime-endpoint=unix://{t.SOCK}\n"
                      f"image-service-endpoint=unix://{t.SOCK}\n"
                      f"pod-logs-dir={root}/pods\ncgroup-root={t.CGROUP}\n")
        t.wait_for(lambda: cloud.node_messages("insert"), 60, "registration")
        print(f"BENCH edged.register_ms {(time.monotonic() - t0) * 1000:.0f} ms", flush=True)

        def running_names():
            out = {}
            for m in cloud.received():
                r = m["route"]
                if (r["operation"] == "update" and "/podstatus/" in r["resource"]
                        and m["content"].get("Status", {}).get("phase") == "Running"):
                    out.setdefault(m["content"]["Name"], True)
            return out

        def run(names):
            sent = {}
            for name in names:
                sent[name] = time.monotonic()
                cloud.send_pod("insert", t.pod_obj(name, f"uid-{name}", "sleep 3600"), 1)
            done = {}
            deadline = time.monotonic() + 300
            while len(done) < len(names) and time.monotonic() < deadline:
                now = time.monotonic()
                for name in running_names():
                    if name in sent and name not in done:
                        done[name] = now - sent[name]
                time.sleep(0.005)
            if len(done) < len(names):
                raise SystemExit(f"only {len(done)} of {len(names)} pods Running:\n"
                                 + node.output()[-3000:])
            return sorted(done.values())

        one = run(["bench-one"])
        print(f"BENCH edged.pod_running_ms {one[0] * 1000:.0f} ms", flush=True)

        pid = node.proc.pid

        def cpu_ms():
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) * 1000 / os.sysconf("SC_CLK_TCK")
        c0 = cpu_ms()
        lat = run([f"bench-{i}" for i in range(n_pods)])
        c1 = cpu_ms()
        p50 = lat[len(lat) // 2]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"BENCH edged.pods{n_pods}_running_p50_ms {p50 * 1000:.0f} ms", flush=True)
        print(f"BENCH edged.pods{n_pods}_running_p99_ms {p99 * 1000:.0f} ms", flush=True)
        rollup = {}
        for line in open(f"/proc/{pid}/smaps_rollup"):
            parts = line.split()
            if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:"):
                rollup[parts[0]] = int(parts[1])
        print(f"BENCH edged.rss_kb {rollup['Rss:']} kB", flush=True)
        print(f"BENCH edged.pss_kb {rollup['Pss:']} kB", flush=True)
        print(f"BENCH edged.cpu_ms_per_pod {(c1 - c0) / n_pods:.1f} ms", flush=True)
        case.doCleanups()


if __name__ == "__main__":
    main()
