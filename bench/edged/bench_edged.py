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
  edged.pod_overhead_kb        edgecore's anonymous memory per running pod
                               (30 pods running minus none, divided by 30)
  edged.start_to_reported_p50_ms / _p99_ms
                               the runtime's StartContainer answer -> the
                               Running status handed to metamanager (edged's
                               log, pod-trace.c), 30 pods
  edged.start_to_cloud_p50_ms / _p99_ms
                               the same answer -> Running received by the cloud

--trace: [core] log-level=debug, and a summary on stderr of where each
pod's time went (CRI method: mean time issued after the pod message, mean
and max duration), from edged's "trace pod" lines.
--format=kubelet: [edged] status-format=kubelet (podpatch) instead of v1.9.2.
BENCH_EDGED_FAILLOG=FILE: when pods do not all run, edgecore's log goes to
FILE and cloudsim's record to FILE.record.
BENCH_EDGED_SMAPS=N: the N mappings of edgecore with the most Rss once the
pods run (stderr): where the memory with 30 pods goes.
BENCH_EDGED_TIMEOUT=SECONDS: how long the pods may take to run (300).

usage: bench/edged/bench_edged.py BUILD_DIR [--quick] [--trace] [--format=kubelet]"""
import collections
import re
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
        os.environ.setdefault("EDGED_TEST_TIMEOUT", "900")
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
    import harness

    n_pods = 10 if quick else 30
    trace = "--trace" in sys.argv
    kubelet = "--format=kubelet" in sys.argv
    case = unittest.TestCase()
    with tempfile.TemporaryDirectory(prefix="ec-bench-edged-") as root:
        cloud = t.Cloud(case, root)
        t0 = time.monotonic()
        node = t.Node(case, root, cloud,
                      f"container-runtime-endpoint=unix://{t.SOCK}\n"
                      f"image-service-endpoint=unix://{t.SOCK}\n"
                      f"pod-logs-dir={root}/pods\ncgroup-root={t.CGROUP}\n"
                      + ("status-format=kubelet\n" if kubelet else "")
                      + ("[core]\nlog-level=debug\n" if trace else ""))
        t.wait_for(lambda: cloud.node_messages("insert") or harness.cloud_events(cloud.dir, "node-created"),
                   60, "registration")
        print(f"BENCH edged.register_ms {(time.monotonic() - t0) * 1000:.0f} ms", flush=True)

        def running_names():
            """pod name -> cloudsim's receive time (unix ms) of its first Running."""
            out = {}
            if kubelet:
                for e in harness.cloud_events(cloud.dir, "pod-patched"):
                    if e["object"]["status"].get("phase") == "Running":
                        out.setdefault(e["object"]["metadata"]["name"], e["t"])
                return out
            for e in harness.cloud_events(cloud.dir, "recv"):
                m = e["msg"]
                r = m["route"]
                if (r["operation"] == "update" and "/podstatus/" in r["resource"]
                        and m["content"].get("Status", {}).get("phase") == "Running"):
                    out.setdefault(m["content"]["Name"], e["t"])
            return out

        def run(names):
            """Sends the pods at once; each one's latency: its send (unix ms)
            -> cloudsim's record of its first Running."""
            sent = {}
            for name in names:
                sent[name] = time.time() * 1000
                cloud.send_pod("insert", t.pod_obj(name, f"uid-{name}", "sleep 3600"), 1)
            deadline = time.monotonic() + float(os.environ.get("BENCH_EDGED_TIMEOUT", "300"))
            while time.monotonic() < deadline:
                done = running_names()
                if all(n in done for n in names):
                    break
                time.sleep(0.1)
            else:
                if os.environ.get("BENCH_EDGED_FAILLOG"):
                    with open(os.environ["BENCH_EDGED_FAILLOG"], "w") as f:
                        f.write(node.output())
                    subprocess.run(["cp", os.path.join(cloud.dir, "record.jsonl"),
                                    os.environ["BENCH_EDGED_FAILLOG"] + ".record"])
                raise SystemExit(f"only {len(set(done) & set(names))} of {len(names)} pods Running:\n"
                                 + node.output()[-3000:])
            return sorted((done[n] - sent[n]) / 1000 for n in names)

        one = run(["bench-one"])
        print(f"BENCH edged.pod_running_ms {one[0] * 1000:.0f} ms", flush=True)

        pid = node.proc.pid

        def cpu_ms():
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) * 1000 / os.sysconf("SC_CLK_TCK")
        def anon_kb():
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith("Anonymous:"):
                    return int(line.split()[1])
            return 0
        time.sleep(2)
        a0 = anon_kb()
        c0 = cpu_ms()
        names = [f"bench-{i}" for i in range(n_pods)]
        lat = run(names)
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
        if os.environ.get("BENCH_EDGED_SMAPS"):
            print_smaps(pid, int(os.environ["BENCH_EDGED_SMAPS"]))
        print(f"BENCH edged.cpu_ms_per_pod {(c1 - c0) / n_pods:.1f} ms", flush=True)
        time.sleep(3)
        print(f"BENCH edged.pod_overhead_kb {(anon_kb() - a0) / n_pods:.1f} kB", flush=True)

        # StartContainer answer -> Running reported (edged's log) and
        # received by the cloud (cloudsim's record), per pod
        log = node.output()
        cloud_t = running_names()
        local, to_cloud = [], []
        for m in re.finditer(r"pod default/(bench-\d+): Running reported ([0-9.]+) ms after the "
                             r"runtime's StartContainer answer \(at unix ms (\d+)", log):
            name, ms, at = m.group(1), float(m.group(2)), int(m.group(3))
            local.append(ms)
            if name in cloud_t:
                started = at - ms
                to_cloud.append(cloud_t[name] - started)
        for label, v in (("start_to_reported", local), ("start_to_cloud", to_cloud)):
            if len(v) < n_pods:
                raise SystemExit(f"{label}: {len(v)} of {n_pods} pods measured")
            v.sort()
            print(f"BENCH edged.{label}_p50_ms {v[len(v) // 2]:.2f} ms", flush=True)
            print(f"BENCH edged.{label}_p99_ms {v[min(len(v) - 1, int(len(v) * 0.99))]:.2f} ms",
                  flush=True)
        if trace:
            print("1 pod:", file=sys.stderr)
            summary(log, "bench-one")
            print(f"{n_pods} pods at once:", file=sys.stderr)
            summary(log, r"bench-\d+")
        case.doCleanups()


def print_smaps(pid, n):
    """The n mappings with the most Rss (kB, anonymous in brackets), on stderr:
    where the node's memory with its pods goes (BENCH_EDGED_SMAPS=N)."""
    rss, anon, name = {}, {}, None
    for line in open(f"/proc/{pid}/smaps"):
        parts = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
        elif parts[0] == "Rss:":
            rss[name] = rss.get(name, 0) + int(parts[1])
        elif parts[0] == "Anonymous:":
            anon[name] = anon.get(name, 0) + int(parts[1])
    for name in sorted(rss, key=rss.get, reverse=True)[:n]:
        print(f"smaps {rss[name]:>7} kB ({anon.get(name, 0):>5} anon)  {name}", file=sys.stderr)


def summary(log, pods):
    """Where the pods' time went, from edged's trace lines."""
    by = collections.defaultdict(list)
    for m in re.finditer(r"trace pod default/" + pods + r" (\w+) issued \+([0-9.]+) ms took ([0-9.]+) ms",
                         log):
        by[m.group(1)].append((float(m.group(2)), float(m.group(3))))
    print("CRI method            calls  issued after msg (mean)  took mean / max", file=sys.stderr)
    for method, v in sorted(by.items(), key=lambda kv: sum(x[0] for x in kv[1]) / len(kv[1])):
        issued = sum(x[0] for x in v) / len(v)
        took = [x[1] for x in v]
        print(f"{method:22s}{len(v):5d}  {issued:10.1f} ms            {sum(took) / len(took):8.1f} / "
              f"{max(took):8.1f} ms", file=sys.stderr)


if __name__ == "__main__":
    main()
