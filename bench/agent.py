#!/usr/bin/env python3
"""The node agent's cost: memory and CPU when idle, with many pods, and
during a burst of crashes; and conmon's memory (podman's per-container
monitor) for comparison.

usage (as root, after ./scripts/setup):
    .venv/bin/python bench/agent.py [--pods N] [--record]

Runs against its own state root, bridge (mpbagent0) and subnet, never the
user's; prints a markdown report (--record appends it to bench/RESULTS.md).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import cpu_seconds, record

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(tempfile.mkdtemp(prefix="mpbagent-"))
ENV = {**os.environ, "MINIPOD_ROOT": str(ROOT), "MINIPOD_CNI_CONF_DIR": str(ROOT / "net.d"),
       "MINIPOD_CGROUP_PARENT": "minipod-bench-agent", "MINIPOD_NETNS_PREFIX": "mpba-",
       "MINIPOD_DEFAULT_NETWORK": "mpbagent", "MINIPOD_DEFAULT_BRIDGE": "mpbagent0",
       "MINIPOD_DEFAULT_SUBNET": "10.241.0.0/16", "MINIPOD_BACKOFF_BASE": "1", "MINIPOD_BACKOFF_MAX": "4"}
MINIPOD = [str(REPO / ".venv" / "bin" / "minipod")]


def sh(cmd, check=True):
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {proc.stderr.strip()}")
    return proc


def mp(*args, check=True):
    return sh(MINIPOD + list(args), check=check)


def agent_pid() -> int:
    return int(mp("agent", "status").stdout.split("pid ")[1].split(",")[0])


def rss_kb(pid) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS")).split()[1])


def wait_running(n, selector, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = mp("get", "pods", "-l", selector).stdout.splitlines()[1:]
        if len(rows) == n and all(r.split()[2] == "Running" for r in rows):
            return
        time.sleep(0.5)
    raise RuntimeError(f"{n} pods did not become Running")


def deployment(name, replicas, command):
    path = ROOT / f"{name}.yaml"
    path.write_text(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - {{name: c, image: busybox, command: ["sh", "-c", "{command}"]}}
""")
    mp("apply", "-f", path)


def idle_cpu(pid, seconds=10.0) -> float:
    time.sleep(3.0)  # the passes the last changes caused finish first
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds * 100


def conmon_rss_kb():
    """RSS of one conmon (podman's monitor of one container), if podman runs here."""
    if not shutil.which("podman"):
        return None
    conf = ROOT / "containers.conf"
    # as in bench/run.py: runc, and rlimits this machine's hard limits allow
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                    '[engine]\nruntime = "runc"\n')
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    run = lambda *a: subprocess.run(["podman", "--log-level", "error", *a], env=env, capture_output=True, text=True)
    run("import", "-q", str(ROOT / "busybox.tar.gz"), "mpbench-agent-busybox:latest")
    try:
        cid = run("run", "-d", "localhost/mpbench-agent-busybox", "sleep", "600").stdout.strip()
        pids = subprocess.run(["pgrep", "-f", f"conmon .*{cid[:12]}"], capture_output=True, text=True).stdout.split()
        return rss_kb(int(pids[0])) if pids else None
    finally:
        run("rm", "-f", "-t", "0", "--all")
        run("image", "rm", "-f", "localhost/mpbench-agent-busybox")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    rows = []
    try:
        sh([sys.executable, str(REPO / "images" / "build-busybox.py"), str(ROOT / "busybox.tar.gz")])
        mp("image", "import", str(ROOT / "busybox.tar.gz"), "busybox")
        start = time.perf_counter()
        mp("agent", "start")
        rows.append(("agent start (CLI call until it holds its lock)", f"{(time.perf_counter() - start) * 1000:.0f} ms"))
        pid = agent_pid()
        rows.append(("RSS, no pods", f"{rss_kb(pid) / 1024:.1f} MB"))
        rows.append(("CPU, idle 10 s, no pods", f"{idle_cpu(pid):.2f} %"))
        start = time.perf_counter()
        deployment("steady", args.pods, "exec sleep 86400")
        wait_running(args.pods, "app=steady")
        rows.append((f"apply a Deployment of {args.pods} until all Running",
                     f"{time.perf_counter() - start:.1f} s"))
        rows.append((f"RSS, {args.pods} pods", f"{rss_kb(pid) / 1024:.1f} MB"))
        rows.append((f"CPU, idle 10 s, {args.pods} pods", f"{idle_cpu(pid):.2f} %"))
        before = cpu_seconds(pid)
        start = time.perf_counter()
        for line in mp("ps", "-q").stdout.split():
            mp("kill", line)
        wait_running(args.pods, "app=steady")
        spent = time.perf_counter() - start
        rows.append((f"burst: kill all {args.pods} containers, until all Running again",
                     f"{spent:.1f} s, agent CPU {cpu_seconds(pid) - before:.1f} s, RSS {rss_kb(pid) / 1024:.1f} MB"))
        conmon = conmon_rss_kb()
        rows.append(("conmon RSS (one per podman container)",
                     f"{conmon / 1024:.1f} MB" if conmon else "podman not available"))
    finally:
        mp("delete", "deployment", "steady", check=False)
        mp("agent", "stop", check=False)
        mp("network", "rm", "mpbagent", check=False)
        shutil.rmtree(ROOT, ignore_errors=True)
    text = "\n".join([f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: the node agent", "",
                      "| measurement | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]) + "\n"
    print(text)
    if args.record:
        record(text)


if __name__ == "__main__":
    main()
