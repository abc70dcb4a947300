#!/usr/bin/env python3
"""NetworkPolicy's cost (issue 33), in the proxy mode given:

1. Build and load: the rules for 1,000 pods and 500 policies (synthetic:
   no pod runs), built from the objects (resolve + render) and loaded in
   one transaction (nftables) or one ipset restore and one iptables-restore.
2. Enforcement: 100 real pods in one namespace, a server among them that
   100 policies select (the last allowing the client), a probe from the
   client's network namespace every 5 ms: from `minipod apply`'s (or
   `delete`'s) answer to the first probe that sees the change, for a
   policy deleted, added, and the client relabelled.
3. Data path: TCP connect time, request/response round trip and iperf3
   throughput client → server pod, with those 100 policies and with none.

usage (as root, after ./scripts/setup):
    .venv/bin/python bench/networkpolicy.py [--mode iptables|nftables] [--record]

Runs against its own state root, chain prefix (MPBN), bridge and ranges;
never the user's. --record appends the report to bench/RESULTS.md.
"""

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import networkpolicy_states, record, release_root, runner

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(tempfile.mkdtemp(prefix="mpbnp-"))
ENV = {**os.environ, "MINIPOD_ROOT": str(ROOT), "MINIPOD_CNI_CONF_DIR": str(ROOT / "net.d"),
       "MINIPOD_CGROUP_PARENT": "minipod-bench-netpol", "MINIPOD_NETNS_PREFIX": "mpbn-",
       "MINIPOD_DEFAULT_NETWORK": "mpbnp", "MINIPOD_DEFAULT_BRIDGE": "mpbnp0",
       "MINIPOD_DEFAULT_SUBNET": "10.242.0.0/16", "MINIPOD_CHAIN_PREFIX": "MPBN",
       "MINIPOD_SERVICE_DEVICE": "mpbnsvc0", "MINIPOD_SERVICE_CIDR": "10.121.0.0/16",
       "MINIPOD_LB_POOL": "198.18.5.0/24"}
os.environ.update({k: v for k, v in ENV.items() if k.startswith("MINIPOD_")})  # for what runs in this process
sys.path.insert(0, str(REPO))
MINIPOD = [str(REPO / ".venv" / "bin" / "minipod")]
sh = runner(ENV)
NS = "bench"
ROUNDS = 9
PROBE = ("import socket, sys, time\nlast = None\nwhile True:\n    s = socket.socket(); s.settimeout(0.05)\n"
         "    try:\n        s.connect((sys.argv[1], 7000)); ok = True\n    except OSError:\n        ok = False\n"
         "    s.close()\n    if ok != last:\n        print(time.time(), ok, flush=True); last = ok\n"
         "    time.sleep(0.005)\n")
ECHO_SERVER = ("import socket\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
               "s.bind(('0.0.0.0', 7000)); s.listen(64)\nwhile True:\n    c, _ = s.accept()\n    try:\n"
               "        while True:\n            b = c.recv(1)\n            if not b: break\n            c.sendall(b)\n"
               "    except OSError:\n        pass\n    c.close()\n")
# Each connection closed by a reset (SO_LINGER 0): no TIME_WAIT is left, so
# thousands of connects per run never run out of ports or fill conntrack.
CLIENT = ("import socket, struct, sys, time, statistics\nip = sys.argv[1]\nconnects = []\n"
          "for _ in range(1000):\n    t = time.perf_counter(); s = socket.create_connection((ip, 7000))\n"
          "    connects.append(time.perf_counter() - t)\n"
          "    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); s.close()\n"
          "c = socket.create_connection((ip, 7000))\n"
          "c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\nts = []\nfor _ in range(2000):\n"
          "    t = time.perf_counter(); c.sendall(b'x'); c.recv(1); ts.append(time.perf_counter() - t)\n"
          "print(statistics.median(connects) * 1e6, statistics.median(ts) * 1e6)\n")


# Server and client on one CPU: the whole path runs on it from
# send to receive. On two CPUs, where the scheduler and the softirqs land
# swings one state's median between ~24 and ~33 µs (measured 2026-12-07),
# more than the rules cost; on one CPU a state's runs agree within ~1-2 µs.
PATH_CPU = ["taskset", "-c", "1"] if (os.cpu_count() or 1) > 1 else []


def mp(*args, check=True, **kw):
    return sh(MINIPOD + list(args), check=check, **kw)


def apply(objs) -> float:
    """Apply; returns the time its answer came."""
    import yaml
    path = ROOT / "apply.yaml"
    path.write_text(yaml.safe_dump_all(objs))
    mp("apply", "-f", path)
    return time.time()


def policy(name, spec, ns=NS):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def synthetic(n_pods, n_policies):
    from minipod.roles.policy import resolve
    pods = [resolve.Pod(f"ns{i % 50}", f"pod{i}", f"10.242.{i // 250}.{i % 250 + 2}",
                        (("app", f"app{i % 20}"),), ((("http", "TCP"), 8080),)) for i in range(n_pods)]
    pols = [policy(f"p{j}", {"podSelector": {"matchLabels": {"app": f"app{j % 20}"}},
                             "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": f"app{(j + 1) % 20}"}}},
                                                   {"namespaceSelector": {"matchLabels": {"team": f"t{j % 5}"}}}],
                                          "ports": [{"port": 80}, {"port": "http"}]}]}, ns=f"ns{j % 50}")
            for j in range(n_policies)]
    return pods, pols, {f"ns{i}": {"team": f"t{i % 5}"} for i in range(50)}


def build_and_load(mode: str) -> dict:
    from minipod.roles.policy import iptables, iptables_rules, nft_rules, nftables, resolve
    pods, pols, namespaces = synthetic(1000, 500)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        plan = resolve.plan(pols, pods, namespaces)
        rules = (nft_rules if mode == "nftables" else iptables_rules).render(plan)
        times.append(time.perf_counter() - start)
    writer = nftables if mode == "nftables" else iptables
    start = time.perf_counter()
    writer.sync(rules, force=True)
    loaded = time.perf_counter() - start
    lines = sum(map(len, rules.chains.values()))
    members = sum(len(s.members) for s in rules.sets.values())
    writer.cleanup()
    return {"build_s": statistics.median(times), "load_s": loaded, "chains": len(rules.chains), "rules": lines,
            "sets": len(rules.sets), "set_members": members}


def settle(quiet=1.0, timeout=60):
    """Until the rules have not changed for ``quiet`` seconds: the agent has
    written a state change (and is not busy beside the measurement)."""
    def rules():
        return sh(["iptables", "-S"]).stdout + sh(["nft", "-s", "list", "ruleset"]).stdout  # no counters
    last, since, deadline = rules(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise RuntimeError("the rules kept changing")
        time.sleep(0.2)
        now = rules()
        if now != last:
            last, since = now, time.monotonic()


def pods_running(n):
    items = json.loads(mp("get", "pods", "-n", NS, "-o", "json").stdout)["items"]
    ready = [i for i in items if [c.get("ready") for c in i.get("status", {}).get("containerStatuses", [])] == [True]]
    return len(ready) == n


def pause_pid(name):
    from minipod.core import pod
    return next(r["pause"]["pid"] for r in pod.store().all() if (r.get("k8s") or {}).get("name") == name)


def pod_ip(name):
    return json.loads(mp("get", "pod", name, "-n", NS, "-o", "json").stdout)["status"]["podIP"]


def in_pod(name, *cmd, **kw):
    return ["nsenter", f"--net=/proc/{pause_pid(name)}/ns/net", *cmd]


def live(mode: str) -> dict:
    pods = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}]
    for i in range(100):
        name, app = ("server", "server") if i == 0 else ("client", "client") if i == 1 else (f"f{i}", f"filler{i % 10}")
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS,
                                                                     "labels": {"app": app}},
                     "spec": {"terminationGracePeriodSeconds": 0,
                              "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "86400"]}]}})
    apply(pods)
    deadline = time.monotonic() + 600
    while not pods_running(100):
        if time.monotonic() > deadline:
            raise RuntimeError("the 100 pods did not start")
        time.sleep(1)
    server = pod_ip("server")
    echo = subprocess.Popen(in_pod("server", *PATH_CPU, sys.executable, "-c", ECHO_SERVER))
    time.sleep(0.3)

    def path_once():
        """One sample of each figure: 1,000 connects and 2,000 round trips, 3 s of iperf3."""
        connect, rtt = sh(in_pod("client", *PATH_CPU, sys.executable, "-c", CLIENT, server)).stdout.split()
        srv = subprocess.Popen(in_pod("server", "iperf3", "-s", "-1"), stdout=subprocess.DEVNULL)
        time.sleep(0.3)
        out = json.loads(sh(in_pod("client", "iperf3", "-c", server, "-t", "3", "-J")).stdout)
        srv.wait(timeout=10)
        return float(connect), float(rtt), out["end"]["sum_received"]["bits_per_second"] / 1e9

    states = networkpolicy_states(NS)
    allow = states["spread"][-1]  # the client's
    samples = {name: [] for name in states}
    try:
        sh(in_pod("client", *PATH_CPU, sys.executable, "-c", CLIENT, server))  # warm-up, not counted
        for _ in range(ROUNDS):  # the states in turns, so drift hits all alike
            for name, objs in states.items():
                if objs:
                    apply(objs)
                else:
                    # by name: minipod's delete has no --all
                    listed = mp("get", "networkpolicy", "-n", NS, "-o", "name").stdout.split()
                    names = [n.split("/")[-1] for n in listed]
                    if names:
                        mp("delete", "networkpolicy", *names, "-n", NS)
                settle()
                samples[name].append(path_once())
        figures = {name: {"connect_us": statistics.median(x[0] for x in runs),
                          "connect_range": (min(x[0] for x in runs), max(x[0] for x in runs)),
                          "rtt_us": statistics.median(x[1] for x in runs),
                          "gbps": statistics.median(x[2] for x in runs)} for name, runs in samples.items()}
        probe = subprocess.Popen(in_pod("client", sys.executable, "-c", PROBE, server), stdout=subprocess.PIPE,
                                 text=True)
        assert probe.stdout.readline().split()[1] == "True"

        def until(state, answered):
            if not select.select([probe.stdout], [], [], 30)[0]:
                raise RuntimeError(f"the change to {state} was not seen within 30 s")
            t, ok = probe.stdout.readline().split()
            assert ok == str(state), ok
            return float(t) - answered
        mp("delete", "networkpolicy", "p099-client", "-n", NS)
        changes = {"policy deleted": until(False, time.time())}
        changes["policy added"] = until(True, apply([allow]))
        client = pods[2]
        client["metadata"]["labels"] = {"app": "other"}
        changes["client relabelled"] = until(False, apply([client]))
        probe.kill()
    finally:
        echo.kill()
    return {**figures, "changes_s": changes}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("iptables", "nftables"), default="iptables")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    ENV["MINIPOD_PROXY_MODE"] = os.environ["MINIPOD_PROXY_MODE"] = args.mode
    try:
        built = build_and_load(args.mode)
        sh([sys.executable, str(REPO / "images" / "build-busybox.py"), str(ROOT / "busybox.tar.gz")])
        mp("image", "import", ROOT / "busybox.tar.gz", "busybox")
        measured = live(args.mode)
    finally:
        mp("delete", "namespace", NS, check=False, timeout=600)
        release_root(mp, ROOT, "mpbnp")
    none = measured["none"]
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: NetworkPolicy, mode {args.mode} "
             "(bench/networkpolicy.py)", "",
             f"- 1,000 pods and 500 policies: built in {built['build_s'] * 1000:.0f} ms (goal ≤ 1 s): "
             f"{built['chains']} chains, {built['rules']} rules, {built['sets']} sets of {built['set_members']} "
             f"members; loaded in {built['load_s']:.2f} s "
             f"({'one nft transaction' if args.mode == 'nftables' else 'one ipset restore, one iptables-restore'})",
             "- enforced after the API's answer (100 pods, 100 policies; goal ≤ 1 s): "
             + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in measured["changes_s"].items()), "",
             "| client pod → server pod (100 pods in the namespace) | TCP connect µs | request/response µs | "
             "iperf3 Gbit/s |", "|---|---|---|---|",
             f"| no policy | {none['connect_us']:.1f} | {none['rtt_us']:.1f} | {none['gbps']:.2f} |"]
    for key, label in (("spread", "100 policies, each isolating its own pods (one the server)"),
                       ("100 policies", "100 policies all selecting the server, the client's walked last")):
        m = measured[key]
        lines.append(f"| {label} | {m['connect_us']:.1f} ({m['connect_us'] / none['connect_us']:.2f}x) | "
                     f"{m['rtt_us']:.1f} ({m['rtt_us'] / none['rtt_us']:.2f}x) | "
                     f"{m['gbps']:.2f} ({m['gbps'] / none['gbps']:.2f}x) |")
    lines += ["", f"Each figure: the median of {ROUNDS} rounds (the states in turns; a round's connect time is "
              "the median of 1,000 connects, client and server on one CPU). Connect µs, lowest and highest round: "
              + ", ".join(f"{name} {m['connect_range'][0]:.1f}-{m['connect_range'][1]:.1f}"
                          for name, m in measured.items() if name != "changes_s") + ".",
              "", "Goals: ≤ 1.05x connect and round trip, ≥ 0.95x throughput.", ""]
    text = "\n".join(lines)
    print(text)
    if args.record:
        record(text)


if __name__ == "__main__":
    main()
