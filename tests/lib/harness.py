"""Helpers the Python tests and benchmarks share: reading files, waiting for
a condition, and running cloudsim (tests/cloudsim) on 127.0.0.1.

Imported with a path relative to the importing file, e.g.
  sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
  import harness"""
import json
import os
import re
import signal
import subprocess
import time


def read(path, mode="r"):
    """The whole content of path."""
    with open(path, mode) as f:
        return f.read()


def wait_for(pred, timeout, what, interval=0.05, fail=AssertionError):
    """Polls pred every interval seconds until it returns something true, and
    returns that; after timeout seconds raises fail with a message naming
    what (a string, or a callable giving one at that moment)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    if callable(what):
        what = what()
    raise fail(f"timed out after {timeout} s waiting for {what}")


def stop_process(proc, timeout=10):
    """SIGTERM to proc if it still runs, then SIGKILL if it has not ended
    within timeout seconds; waits for it either way."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_cloudsim(cloudsim, cloud_dir, out_path, args=(), timeout=30, what="cloudsim",
                   interval=0.05, fail=AssertionError):
    """Starts cloudsim with --dir cloud_dir (which must exist) and args, its
    stdin a pipe for commands and its output in out_path, and waits until it
    says it is ready. Returns (process, output file). If it exits first, or
    is not ready within timeout seconds, it is stopped and fail is raised
    with its output."""
    out = open(out_path, "w")
    proc = subprocess.Popen([cloudsim, "--dir", cloud_dir] + list(args), stdin=subprocess.PIPE, stdout=out,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: "ready" in read(out_path) or proc.poll() is not None, timeout, what, interval, fail)
        if proc.poll() is not None:
            raise fail("cloudsim exited:\n" + read(out_path))
    except BaseException:
        stop_process(proc)
        proc.stdin.close()
        out.close()
        raise
    return proc, out


def cloud_addresses(cloud_dir):
    """From the edgehub.conf cloudsim writes into cloud_dir: its websocket
    port, its certificate (https) port and its join token (None if it gives
    none)."""
    conf = read(os.path.join(cloud_dir, "edgehub.conf"))
    token = re.search(r"token=(\S+)", conf)
    return (int(re.search(r"websocket-server=127\.0\.0\.1:(\d+)", conf).group(1)),
            int(re.search(r"http-server=https://127\.0\.0\.1:(\d+)", conf).group(1)),
            token.group(1) if token else None)


def cloud_events(cloud_dir, kind=None):
    """The complete entries of cloudsim's record (record.jsonl in cloud_dir),
    those of event kind only if kind is given; none before the first."""
    path = os.path.join(cloud_dir, "record.jsonl")
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                break   # cloudsim is still writing it
            e = json.loads(line)
            if kind is None or e.get("event") == kind:
                out.append(e)
    return out


CLOSE_WAIT = "08"   # a TCP state, as /proc/net/tcp spells it


def fd_count(pid):
    """How many file descriptors process pid has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def port_states(port):
    """TCP states (hex, as /proc/net/tcp spells them) of the sockets whose
    local port is port: a server's listening and accepted sockets."""
    states = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port:
                states.append(fields[3])
    return states
