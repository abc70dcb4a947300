#!/usr/bin/env python3
"""Soak of the node agent's crash consistency: random applies, scales,
deletes, container crashes and SIGKILLs of the agent against up to 50 pods
(two Deployments of 0-25 replicas), for a bounded time; after every few
operations the node must settle (every wanted pod Running and Ready with an
IP that answers from the host, none Ready without one, `gc --dry-run`
empty) within 90 s.

usage (as root, after ./scripts/setup):
    .venv/bin/python bench/soak.py [--minutes 10] [--seed N] [--record]

Runs against its own state root, bridge (mpbsoak0) and subnet, never the
user's; prints a markdown report (--record appends it to bench/RESULTS.md).
Traffic goes only to the pods' addresses on its own bridge.
"""

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import record, runner

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(tempfile.mkdtemp(prefix="mpbsoak-"))
ENV = {**os.environ, "MINIPOD_ROOT": str(ROOT), "MINIPOD_CNI_CONF_DIR": str(ROOT / "net.d"),
       "MINIPOD_CGROUP_PARENT": "minipod-bench-soak", "MINIPOD_NETNS_PREFIX": "mpbs-",
       "MINIPOD_DEFAULT_NETWORK": "mpbsoak", "MINIPOD_DEFAULT_BRIDGE": "mpbsoak0",
       "MINIPOD_DEFAULT_SUBNET": "10.242.0.0/16", "MINIPOD_BACKOFF_BASE": "1", "MINIPOD_BACKOFF_MAX": "4",
       "MINIPOD_CHAIN_PREFIX": "MPBSK", "MINIPOD_SERVICE_DEVICE": "mpbssvc0",
       "MINIPOD_SERVICE_CIDR": "10.243.0.0/16"}
sh = runner(ENV)
MINIPOD = [str(REPO / ".venv" / "bin" / "minipod")]
NAMES = ("soak-a", "soak-b")
HTTPD = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www"
SETTLE_EVERY = 5  # operations between two checks that the node settled
SETTLE_TIMEOUT = 90.0


def mp(*args, check=True, **kw):
    return sh(MINIPOD + list(args), check=check, **kw)


def apply(name, replicas):
    doc = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"terminationGracePeriodSeconds": 1,
                                          "containers": [{"name": "httpd", "image": "busybox",
                                                          "command": ["sh", "-c", HTTPD]}]}}}}
    mp("apply", "-f", "-", input=json.dumps(doc))


def agent_pid():
    proc = mp("agent", "status", check=False)
    return int(proc.stdout.split("pid ")[1].split(",")[0]) if proc.returncode == 0 else None


def answers(ip) -> bool:
    try:
        with urllib.request.urlopen(f"http://{ip}/", timeout=3) as r:
            return r.read().startswith(b"ok")
    except OSError:
        return False


def settle(wanted: dict):
    """Seconds until the node matched ``wanted`` ({name: replicas}), or
    raise with what was wrong; counts any pod seen Ready without an IP."""
    start = time.monotonic()
    last = "nothing read yet"
    while time.monotonic() - start < SETTLE_TIMEOUT:
        items = json.loads(mp("get", "pods", "-o", "json").stdout)["items"]
        for p in items:
            st = p.get("status") or {}
            if any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions", [])) \
                    and not st.get("podIP"):
                raise RuntimeError(f"pod {p['metadata']['name']} Ready without an IP")
        counts = {n: [p for p in items if p["metadata"].get("labels", {}).get("app") == n] for n in NAMES}
        ok = all(len(counts[n]) == wanted.get(n, 0) for n in NAMES) and all(
            p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
            for p in items)
        if ok and all(answers(p["status"]["podIP"]) for p in items):
            proc = mp("gc", "--dry-run", check=False)
            left = proc.stdout.strip() or (f"exit {proc.returncode}: {proc.stderr.strip()}" if proc.returncode else "")
            if not left:
                return time.monotonic() - start
            last = f"gc --dry-run: {left}"
        else:
            last = ", ".join(f"{n}: {len(counts[n])}/{wanted.get(n, 0)}" for n in NAMES)
            if ok:
                last += "; not answering: " + ", ".join(p["metadata"]["name"] for p in items
                                                         if not answers(p["status"]["podIP"]))
        time.sleep(0.5)
    raise RuntimeError(f"not settled in {SETTLE_TIMEOUT:.0f} s: {last}\n"
                       f"{mp('get', 'pods', '-o', 'wide').stdout}\n{mp('agent', 'logs', '-n', '40').stdout}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    seed = args.seed if args.seed is not None else int(time.time())
    rnd = random.Random(seed)
    print(f"soak: seed {seed}, {args.minutes:g} minutes, state root {ROOT}", flush=True)
    ops = {k: 0 for k in ("apply", "scale", "delete", "container crash", "agent kill")}
    settles, failures, worst = 0, [], 0.0
    wanted = {}
    leaked = "not checked"
    try:
        sh([sys.executable, str(REPO / "images" / "build-busybox.py"), str(ROOT / "busybox.tar.gz")])
        mp("image", "import", str(ROOT / "busybox.tar.gz"), "busybox")
        deadline = time.monotonic() + args.minutes * 60
        n = 0
        while time.monotonic() < deadline:
            op = rnd.choices(list(ops), weights=(3, 4, 1, 2, 2))[0]
            name = rnd.choice(NAMES)
            if op == "apply":
                wanted[name] = rnd.randint(1, 25)
                apply(name, wanted[name])
            elif op == "scale" and name in wanted:
                wanted[name] = rnd.randint(0, 25)
                mp("scale", f"deployment/{name}", "--replicas", str(wanted[name]))
            elif op == "delete" and name in wanted:
                mp("delete", "deployment", name, timeout=180)
                del wanted[name]
            elif op == "container crash":
                ids = mp("ps", "-q").stdout.split()
                if not ids:
                    continue
                mp("kill", rnd.choice(ids), check=False)  # it may have gone meanwhile
            elif op == "agent kill":
                time.sleep(rnd.uniform(0, 2.0))  # into whatever the agent is doing
                pid = agent_pid()
                if not pid:
                    continue
                os.kill(pid, signal.SIGKILL)
            else:
                continue
            ops[op] += 1
            n += 1
            if n % SETTLE_EVERY == 0:
                mp("agent", "start")
                try:
                    took = settle(wanted)
                    settles += 1
                    worst = max(worst, took)
                    print(f"soak: {n} operations, settled in {took:.1f} s ({wanted})", flush=True)
                except RuntimeError as e:
                    failures.append(f"after operation {n}: {e}")
                    print(f"soak: {failures[-1]}", flush=True)
                    break
        for name in list(wanted):
            mp("delete", "deployment", name, timeout=180)
        mp("agent", "start")
        settle({})
        mp("agent", "stop")
        leaked = mp("gc", "--dry-run", check=False).stdout.strip() or "nothing"
    finally:
        for name in NAMES:
            mp("delete", "deployment", name, check=False, timeout=180)
        mp("agent", "stop", check=False)
        mp("gc", check=False)
        mp("network", "rm", "mpbsoak", check=False)
        shutil.rmtree(ROOT, ignore_errors=True)
    rows = [("duration, seed", f"{args.minutes:g} min, {seed}"),
            ("operations", f"{sum(ops.values())}: " + ", ".join(f"{v} {k}" for k, v in ops.items())),
            ("agent SIGKILLs survived", str(ops["agent kill"])),
            ("settle checks passed (≤ 90 s each)", f"{settles}, slowest {worst:.1f} s"),
            ("failures", "; ".join(failures) or "none"),
            ("left after the last delete (gc --dry-run)", leaked)]
    text = "\n".join([f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: agent crash soak (bench/soak.py)",
                      "", "| measurement | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]) + "\n"
    print(text)
    if args.record:
        record(text)
    return 1 if failures or leaked != "nothing" else 0


if __name__ == "__main__":
    sys.exit(main())
