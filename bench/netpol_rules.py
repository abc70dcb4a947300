#!/usr/bin/env python3
"""The kernel's cost of the NetworkPolicy rules on a connection's first
packet, without a node agent or pods (issue 33): what bench/networkpolicy.py
measures through real pods, taken apart.

Two network namespaces on a bridge of the bench's own (mpbr0, 10.246.0.0/16,
checked unrouted), a client (10.246.0.2) and a server (10.246.0.3). The rules
of a synthetic namespace are built by the rule builders from resolved
objects, as the agent builds them, and loaded in turn (chain prefix MPBR):

    none           no policy
    spread         100 pods, 100 policies each isolating its own pods (the
                   server by one allowing the client)
    spread, 1,000  the same with 1,000 isolated pods: the dispatch to the
                   pods' chains is linear in iptables, a verdict map in nft
    worst          100 policies all selecting the server, the one allowing
                   the client walked last

Each round loads each state and times 3,000 connects (median), client and
server on one CPU; the figure is the median of the rounds.

usage (as root): .venv/bin/python bench/netpol_rules.py [--rounds N] [--record]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ["MINIPOD_CHAIN_PREFIX"] = "MPBR"  # never the node's chains, sets or table (nft: mpbr-netpol)
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common import networkpolicy_states, record, runner  # noqa: E402
from minipod import hostnet  # noqa: E402
from minipod.roles.policy import iptables, iptables_rules, nft_rules, nftables, resolve  # noqa: E402

BRIDGE, NETNS, SUBNET = "mpbr0", ("mpbr-cli", "mpbr-srv"), "10.246.0.0/16"
CLIENT_IP, SERVER_IP = "10.246.0.2", "10.246.0.3"
CPU = ["taskset", "-c", "1"] if (os.cpu_count() or 1) > 1 else []
SERVER = ("import socket\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "s.bind(('0.0.0.0', 7000)); s.listen(512)\nwhile True:\n    c, _ = s.accept(); c.close()\n")
# closed by a reset (SO_LINGER 0): no TIME_WAIT, so ports and conntrack never run short
CLIENT = ("import socket, statistics, struct, sys, time\nts = []\nfor _ in range(3000):\n"
          "    t = time.perf_counter(); s = socket.create_connection((sys.argv[1], 7000))\n"
          "    ts.append(time.perf_counter() - t)\n"
          "    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); s.close()\n"
          "print(statistics.median(ts) * 1e6)\n")
STATES = ("none", "spread", "spread, 1,000", "worst")


_run = runner(dict(os.environ))


def sh(*cmd, check=True):
    return _run(list(cmd), check=check)


def setup():
    why = hostnet.conflicts(SUBNET)  # a range the host routes or reaches is not ours to take
    if why:
        raise SystemExit(f"bench: {SUBNET} is the host's own: {why[0]}")
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", "10.246.0.1/16", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    for ns, ip in zip(NETNS, (CLIENT_IP, SERVER_IP)):
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", ns, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", ns, "master", BRIDGE, "up")
        sh("ip", "-n", ns, "addr", "add", f"{ip}/16", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")


def teardown():
    for ns in NETNS:
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", ns, check=False)
    sh("ip", "link", "del", BRIDGE, check=False)
    iptables.cleanup()
    nftables.cleanup()


def plan(state: str):
    """The resolved objects of ``state``: the server and client, and
    fillers at addresses no namespace holds (their rules are walked, never hit)."""
    fillers = 1000 if state == "spread, 1,000" else 98
    pods = [resolve.Pod("bench", "server", SERVER_IP, (("app", "server"),)),
            resolve.Pod("bench", "client", CLIENT_IP, (("app", "client"),))]
    pods += [resolve.Pod("bench", f"f{i}", f"10.246.{1 + i // 250}.{i % 250 + 2}", (("app", f"filler{i % 10}"),))
             for i in range(fillers)]
    states = networkpolicy_states("bench")  # bench/networkpolicy.py's, on these bare addresses
    policies = states["spread"] if state.startswith("spread") else states["100 policies"] if state == "worst" \
        else []
    return resolve.plan(policies, pods, {"bench": {}})


def load(mode: str, state: str):
    iptables.cleanup()
    nftables.cleanup()
    if state != "none":
        if mode == "nftables":
            nftables.sync(nft_rules.render(plan(state)), force=True)
        else:
            iptables.sync(iptables_rules.render(plan(state)), force=True)


def connect_us() -> float:
    return float(sh("ip", "netns", "exec", NETNS[0], *CPU, sys.executable, "-c", CLIENT, SERVER_IP).stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    teardown()
    setup()
    server = subprocess.Popen(["ip", "netns", "exec", NETNS[1], *CPU, sys.executable, "-c", SERVER])
    samples = {}
    try:
        time.sleep(0.3)
        connect_us()  # warm-up, not counted
        for _ in range(args.rounds):  # states and modes in turns, so drift hits all alike
            for mode in ("iptables", "nftables"):
                for state in STATES:
                    load(mode, state)
                    samples.setdefault((mode, state), []).append(connect_us())
    finally:
        server.kill()
        teardown()
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: NetworkPolicy's rules on a first packet, "
             "without the agent (bench/netpol_rules.py)", "",
             f"TCP connect µs, median of {args.rounds} rounds of 3,000 connects (client and server on one CPU; "
             "lowest–highest round):", "", "| state | iptables | nftables |", "|---|---|---|"]
    for state in STATES:
        cells = []
        for mode in ("iptables", "nftables"):
            runs = samples[(mode, state)]
            base = statistics.median(samples[(mode, "none")])
            cells.append(f"{statistics.median(runs):.1f} ({statistics.median(runs) / base:.2f}x; "
                         f"{min(runs):.1f}–{max(runs):.1f})")
        lines.append(f"| {state} | {' | '.join(cells)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.record:
        record(text)


if __name__ == "__main__":
    main()
