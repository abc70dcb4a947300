#!/usr/bin/env python3
"""The Service network's cost (issue 16): the data path through a ClusterIP
against the same pod reached directly, and the service proxy at scale.

usage (as root, after ./scripts/setup):
    .venv/bin/python bench/services.py [--counts 10,100,1000] [--mode iptables|nftables] [--skip-data-path]
                                       [--record]

1. Data path: iperf3 TCP throughput and TCP request/response round trips
   (a 1-byte echo, 2000 times on one connection; client and server each on
   a CPU of its own) from a client pod to a server pod, through the service's ClusterIP and directly to the pod IP.
2. Scale: with N services of 2 endpoints each (selector-less services with
   Endpoints whose addresses need no pods, as kube-proxy's own scale tests
   do), the time `minipod apply` takes for one more service, the time until
   its rules are live (from the apply's start to the first TCP connection
   through its ClusterIP), and the TCP connect time to that last service (named
   to sort last, the end of KUBE-SERVICES's linear walk) against the first
   (both backed by the real server pod), in the proxy mode given (kube-proxy's iptables view, or its nftables
   mode with verdict maps).

Runs against its own state root, chain prefix (MPBK), service device,
ranges and bridge; never the user's. Writes bench/services-latest.json and
an SVG chart (bench/services-scale.svg); --record appends the report to
bench/RESULTS.md.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import record, runner

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(tempfile.mkdtemp(prefix="mpbsvc-"))
ENV = {**os.environ, "MINIPOD_ROOT": str(ROOT), "MINIPOD_CNI_CONF_DIR": str(ROOT / "net.d"),
       "MINIPOD_CGROUP_PARENT": "minipod-bench-svc", "MINIPOD_NETNS_PREFIX": "mpbs-",
       "MINIPOD_DEFAULT_NETWORK": "mpbsvc", "MINIPOD_DEFAULT_BRIDGE": "mpbsvc0",
       "MINIPOD_DEFAULT_SUBNET": "10.243.0.0/16", "MINIPOD_CHAIN_PREFIX": "MPBK",
       "MINIPOD_SERVICE_DEVICE": "mpbsvcdev0", "MINIPOD_SERVICE_CIDR": "10.120.0.0/16",
       "MINIPOD_LB_POOL": "198.18.3.0/24"}
MINIPOD = [str(REPO / ".venv" / "bin" / "minipod")]


sh = runner(ENV)


def mp(*args, check=True, **kw):
    return sh(MINIPOD + list(args), check=check, **kw)


def nat() -> str:
    return sh(["iptables-save", "-t", "nat"]).stdout


def rules_text() -> str:
    """What the proxy wrote, in the mode under test."""
    if ENV.get("MINIPOD_PROXY_MODE") == "nftables":
        return sh(["nft", "list", "table", "ip", "mpbk-proxy"], check=False).stdout
    return nat()


NOT_RULES = ("chain", "}", "type", "map", "set", "table")  # the rest of `nft list table`: rules and elements


def rule_count() -> int:
    if ENV.get("MINIPOD_PROXY_MODE") == "nftables":
        return sum(1 for l in rules_text().splitlines() if l.strip() and not l.strip().startswith(NOT_RULES))
    return sum(1 for l in nat().splitlines() if l.startswith("-A MPBK-"))


def wait(predicate, timeout=600, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    raise RuntimeError("timed out")


def service_docs(names, endpoint_ips, port=80, cluster_ip=None) -> str:
    docs = []
    for name in names:
        ip = f"clusterIP: {cluster_ip}, " if cluster_ip else ""
        docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\n"
                    f"spec: {{{ip}ports: [{{port: {port}, targetPort: {port}}}]}}\n")
        addrs = ", ".join(f"{{ip: {ip}}}" for ip in endpoint_ips)
        docs.append(f"apiVersion: v1\nkind: Endpoints\nmetadata: {{name: {name}}}\n"
                    f"subsets: [{{addresses: [{addrs}], ports: [{{port: {port}}}]}}]\n")
    return "---\n".join(docs)


def apply_text(text) -> float:
    path = ROOT / "apply.yaml"
    path.write_text(text)
    start = time.perf_counter()
    mp("apply", "-f", path)
    return time.perf_counter() - start


def cluster_ip(name) -> str:
    return json.loads(mp("get", "svc", name, "-o", "json").stdout)["spec"]["clusterIP"]


PROBE_IP = "10.120.255.200"  # in the bench's service range, above what 5,000 services take


def routed_locally(ip) -> None:
    out = sh(["ip", "-o", "route", "get", ip]).stdout
    if f" dev {ENV['MINIPOD_SERVICE_DEVICE']} " not in out:
        raise RuntimeError(f"{ip} is not routed to the service device: {out}")


def connects(ip, port, timeout=0.01) -> bool:
    """One TCP connect; False when the SYN found no rule (dropped on the
    service device) within ``timeout``."""
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect((ip, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def connect_ms(targets, port, n=200) -> list:
    """Median TCP connect time from the host to each of ``targets``, taken
    in turns so drift hits all alike (a new connection walks the nat rules;
    an established one does not)."""
    times = {ip: [] for ip in targets}
    for _ in range(n):
        for ip in targets:
            s = socket.socket()
            s.settimeout(2)
            start = time.perf_counter()
            s.connect((ip, port))
            times[ip].append((time.perf_counter() - start) * 1000)
            s.close()
    return [statistics.median(times[ip]) for ip in targets]


ECHO_SERVER = ("import socket\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
               "s.bind(('0.0.0.0', 7000)); s.listen(64)\nwhile True:\n    c, _ = s.accept()\n"
               "    while True:\n        b = c.recv(1)\n        if not b: break\n        c.sendall(b)\n    c.close()\n")
ECHO_CLIENT = ("import socket, sys, time, statistics\nc = socket.create_connection((sys.argv[1], 7000))\n"
               "c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\nts = []\nfor _ in range(2000):\n"
               "    t = time.perf_counter(); c.sendall(b'x'); r = c.recv(1); ts.append(time.perf_counter() - t)\n"
               "    assert r == b'x', 'the echo server did not answer'\n"
               "print(statistics.median(ts) * 1e6)\n")


# The echo server and client on CPUs of their own: otherwise the round trip
# swings between ~10 and ~70 µs with where the scheduler puts them (measured),
# which drowns what the path itself costs.
SERVER_CPU, CLIENT_CPU = (["taskset", "-c", "0"], ["taskset", "-c", "1"]) if (os.cpu_count() or 1) > 1 else ([], [])


def data_path(start_echo, rounds=5) -> dict:
    mp("pod", "create", "--name", "srv", "-l", "app=srv")
    mp("pod", "create", "--name", "cli")
    # a running container makes the pod ready (an endpoint); the servers run in its netns
    mp("run", "-d", "--pod", "srv", "--name", "srv-sleep", "busybox", "sleep", "86400")
    srv_ip = json.loads(mp("pod", "inspect", "srv").stdout)[0]["IPAddress"].split("/")[0]
    apply_text("apiVersion: v1\nkind: Service\nmetadata: {name: srv}\nspec:\n  selector: {app: srv}\n"
               "  ports: [{name: iperf, port: 5201}, {name: echo, port: 7000}]\n")
    vip = cluster_ip("srv")
    wait(lambda: vip in rules_text() and f"{srv_ip}:5201" in rules_text())
    echo = start_echo()
    time.sleep(0.3)
    out = {"direct_gbps": [], "service_gbps": [], "direct_rtt_us": [], "service_rtt_us": []}
    if True:  # the echo server (started by main) serves the scale part too
        for _ in range(rounds):
            for label, ip in (("direct", srv_ip), ("service", vip)):
                server = subprocess.Popen(["ip", "netns", "exec", "mpbs-srv", "iperf3", "-s", "-1"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.3)
                res = sh(["ip", "netns", "exec", "mpbs-cli", "iperf3", "-c", ip, "-t", "3", "-J"]).stdout
                server.wait(timeout=10)
                out[f"{label}_gbps"].append(json.loads(res)["end"]["sum_received"]["bits_per_second"] / 1e9)
                rtt = sh(["ip", "netns", "exec", "mpbs-cli", *CLIENT_CPU, sys.executable, "-c", ECHO_CLIENT, ip]).stdout
                out[f"{label}_rtt_us"].append(float(rtt))
    summary = {k: statistics.median(v) for k, v in out.items()}
    summary["throughput_ratio"] = summary["service_gbps"] / summary["direct_gbps"]
    summary["latency_ratio"] = summary["service_rtt_us"] / summary["direct_rtt_us"]
    return {"runs": out, **summary, "server_ip": srv_ip, "echo": echo}


def scale(counts, server_ip) -> list:
    """Grow the number of services through ``counts``; at each, time one more."""
    rows, have = [], 0
    fake = ["10.243.250.1", "10.243.250.2"]  # addresses without pods
    apply_text(service_docs(["first"], [server_ip], port=7000))
    have = 1
    for n in counts:
        if n > have:
            batch = [f"s{i}" for i in range(have, n)]
            for i in range(0, len(batch), 500):
                apply_text(service_docs(batch[i:i + 500], fake))
            have = n
        last_rule = cluster_ip(f"s{n - 1}") if n > 1 else cluster_ip("first")
        wait(lambda: last_rule in rules_text())
        time.sleep(1.0)  # let the agent settle
        # "zz-": sorts after every other name, so in the iptables mode its rule is
        # the last of KUBE-SERVICES, the far end of the linear walk. Its
        # ClusterIP is given, so the clock stops at the first connection that
        # goes through, with nothing (no listing of 40,000 rules) in between.
        probe, ip = f"zz-last-{n}", PROBE_IP
        start = time.perf_counter()
        apply_secs = apply_text(service_docs([probe], [server_ip], port=7000, cluster_ip=ip))
        routed_locally(ip)  # an unmatched SYN is dropped on the host, never sent out
        while not connects(ip, 7000):
            pass
        live_secs = time.perf_counter() - start
        # The SYNs sent before the rules were live left un-NATed conntrack
        # entries (SYN_SENT, 2 minutes); a later connection that happens to
        # reuse one of their source ports would follow it to the service
        # device. kube-proxy clears such entries for UDP; here, for the bench.
        sh(["conntrack", "-D", "-d", ip], check=False)
        first, last = connect_ms([cluster_ip("first"), ip], 7000)
        rows.append({"services": n, "apply_s": apply_secs, "rules_live_s": live_secs,
                     "connect_first_ms": first, "connect_last_ms": last,
                     "rules": rule_count()})
        mp("delete", "svc", probe)
        mp("delete", "ep", probe)
        print(json.dumps(rows[-1]), flush=True)
    return rows


def chart() -> str:
    """Both modes' scale rows, whichever have been measured, as one SVG."""
    from chart import svg
    data = {m: json.loads((REPO / "bench" / f"services-{m}.json").read_text())["scale"]
            for m in ("iptables", "nftables") if (REPO / "bench" / f"services-{m}.json").exists()}
    times, connects = {}, {}
    for mode, rows in data.items():
        times[f"apply ({mode})"] = [(r["services"], r["apply_s"]) for r in rows]
        times[f"rules live ({mode})"] = [(r["services"], r["rules_live_s"]) for r in rows]
        connects[f"to first ({mode})"] = [(r["services"], r["connect_first_ms"]) for r in rows]
        connects[f"to last ({mode})"] = [(r["services"], r["connect_last_ms"]) for r in rows]
    return svg([("one more Service: apply, and until its rules are live", times, True, "seconds"),
                ("TCP connect to a ClusterIP (median of 200)", connects, True, "ms")],
               xlabel="services (2 endpoints each), log scale")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="10,100,1000")
    parser.add_argument("--mode", choices=("iptables", "nftables"), default="iptables", help="the proxy mode")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    ENV["MINIPOD_PROXY_MODE"] = args.mode
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    for tool, package in (("iperf3", "iperf3"), ("conntrack", "conntrack")):
        if not shutil.which(tool):
            sys.exit(f"bench: needs {tool} (apt-get install {package})")
    counts = sorted(int(c) for c in args.counts.split(","))
    try:
        sh([sys.executable, str(REPO / "images" / "build-busybox.py"), str(ROOT / "busybox.tar.gz")])
        mp("image", "import", ROOT / "busybox.tar.gz", "busybox")
        echo = None
        path = data_path(start_echo=lambda: subprocess.Popen(
            ["ip", "netns", "exec", "mpbs-srv", *SERVER_CPU, sys.executable, "-c", ECHO_SERVER],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        echo = path.pop("echo")
        rows = scale(counts, path["server_ip"])
    finally:
        if echo is not None:
            echo.kill()
        for kind in ("svc", "ep"):
            names = [n.split("/", 1)[1] for n in mp("get", kind, "-o", "name", check=False).stdout.split()]
            for i in range(0, len(names), 200):
                mp("delete", kind, *names[i:i + 200], check=False)
        mp("rm", "-f", "srv-sleep", check=False)
        mp("pod", "rm", "-f", "srv", "cli", check=False)
        mp("agent", "stop", check=False)
        mp("gc", check=False)
        mp("network", "rm", "mpbsvc", check=False)
        left = mp("gc", "--dry-run", check=False).stdout.strip()
        if left:  # its records are what gc needs to release the rest: keep them
            print(f"bench: left behind, root kept at {ROOT}:\n{left}", file=sys.stderr)
        else:
            shutil.rmtree(ROOT, ignore_errors=True)
    (REPO / "bench" / f"services-{args.mode}.json").write_text(json.dumps({"data_path": path, "scale": rows},
                                                                          indent=2))
    (REPO / "bench" / "services-scale.svg").write_text(chart())
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: the Service network, proxy mode "
             f"{args.mode} (bench/services.py)", "",
             "| path | TCP throughput Gbit/s | request/response µs |", "|---|---|---|",
             f"| client pod → server pod IP | {path['direct_gbps']:.2f} | {path['direct_rtt_us']:.1f} |",
             f"| client pod → ClusterIP | {path['service_gbps']:.2f} | {path['service_rtt_us']:.1f} |",
             f"| ClusterIP / direct | {path['throughput_ratio']:.2f}x (goal ≥ 0.95x) | "
             f"{path['latency_ratio']:.2f}x (goal ≤ 1.1x) |", "",
             "| services | rules | apply one more (s) | its rules live (s) | connect to first (ms) | "
             "connect to last (ms) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['services']} | {r['rules']} | {r['apply_s']:.3f} | {r['rules_live_s']:.3f} | "
                     f"{r['connect_first_ms']:.3f} | {r['connect_last_ms']:.3f} |")
    lines += ["", "Chart: bench/services-scale.svg", ""]
    text = "\n".join(lines)
    print(text)
    if args.record:
        record(text)


if __name__ == "__main__":
    main()
