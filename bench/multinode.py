#!/usr/bin/env python3
"""Pod-to-pod networking across two minipod nodes against within one node,
on the one-host layout of the tests (minipod.cluster.onehost: each node a
network namespace on an underlay bridge, the control plane on the host):

  - TCP throughput (iperf3, 5 s, one stream) and round trip (ping, 200
    echoes 2 ms apart), from a client pod to a server pod on the same
    node and on the other node;
  - with the host-gw backend (routes via the other node), and the vxlan
    backend beside it (the nodes on two segments the host routes between).

The measuring tools run from the host inside the pods' network namespaces
(nsenter): what is measured is the pods' own path (veth, bridge, routes,
the underlay), never the host's.

usage (as root, after ./scripts/setup and scripts/setup-cluster):
    .venv/bin/python bench/multinode.py [--record]

Goal (issue 23): across nodes with host-gw >= 0.95x the throughput within a node.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import record

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from minipod.cluster import onehost  # noqa: E402

ROOT = Path(tempfile.mkdtemp(prefix="mpbmn-"))
CLUSTER_CIDR, SERVICE_CIDR = "10.241.0.0/16", "10.237.0.0/16"
SEGMENTS = {"mpbul0": "198.19.9.1", "mpbul1": "198.19.10.1"}
ENV = {"MINIPOD_ROOT": str(ROOT / "cp"), "MINIPOD_CLUSTER_PORT_OFFSET": "21000",
       "MINIPOD_CLUSTER_SERVICE_DEVICE": "mpbkube0", "KUBECONFIG": str(ROOT / "user.kubeconfig"),
       "MINIPOD_CGROUP_PARENT": "minipod-bench-mn"}


def minipod(*args, env=None):
    proc = subprocess.run([sys.executable, "-m", "minipod", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **ENV, **(env or {})}, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"minipod {' '.join(map(str, args))}: {proc.stderr.strip()}")
    return proc.stdout


def kubectl(*args, input=None):
    proc = subprocess.run(["kubectl", *args], capture_output=True, text=True, input=input, timeout=300,
                          env={**os.environ, "KUBECONFIG": str(ROOT / "cp" / "etc" / "cluster" / "admin.kubeconfig")})
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def pod(name, node):
    return (f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: {node}\n"
            f"  terminationGracePeriodSeconds: 1\n  containers:\n  - {{name: c, image: busybox, "
            f"imagePullPolicy: Never, command: [sleep, '3600']}}\n---\n")


def in_pod(nodes, pod_name, argv, **kw):
    """Run ``argv`` (a host binary) in the network namespace of a pod of ``nodes``."""
    info = json.loads(kubectl("get", "pod", pod_name, "-o", "json"))
    node = next(n for n in nodes if n.name == info["spec"]["nodeName"])
    sandbox = next(p for p in json.loads(node.mp("pod", "ls", "--format", "json").stdout)
                   if p["Labels"].get("io.kubernetes.pod.name") == pod_name)
    return ["nsenter", f"--net={node.pod_netns(sandbox['Id'])}", *argv]


def measure(nodes, backend) -> dict:
    """{"within"|"across": {"gbps", "rtt_ms"}} for ``nodes`` joined with ``backend``."""
    a, b = nodes
    join = next(line.strip() for line in minipod(
        "cluster", "init", "--control-plane-only", "--advertise-address", SEGMENTS["mpbul0"], "--pod-cidr",
        CLUSTER_CIDR, "--service-cidr", SERVICE_CIDR).splitlines() if line.strip().startswith("minipod cluster join"))
    for node in nodes:
        node.up(SEGMENTS[node.segment])
        for image, name in (("busybox.tar.gz", "busybox"), ("nginx.oci.tar", "nginx")):  # nginx: the node's ingress
            node.mp("image", "import", REPO / "build" / image, name)
        node.mp(*join.split()[1:], "--node-name", node.name, "--node-ip", node.address, "--backend", backend)
    kubectl("apply", "-f", "-", input=pod("server", a.name) + pod("near", a.name) + pod("far", b.name))
    kubectl("wait", "--for=condition=Ready", "pod/server", "pod/near", "pod/far", "--timeout=120s")
    server_ip = kubectl("get", "pod", "server", "-o", "jsonpath={.status.podIP}")
    iperf = subprocess.Popen(in_pod(nodes, "server", ["iperf3", "-s", "-1"]), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    out = {}
    try:
        for label, client in (("within", "near"), ("across", "far")):
            time.sleep(0.5)
            if iperf.poll() is not None:  # -1: one client each; start it again
                iperf = subprocess.Popen(in_pod(nodes, "server", ["iperf3", "-s", "-1"]),
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
            result = json.loads(subprocess.run(in_pod(nodes, client, ["iperf3", "-c", server_ip, "-t", "5", "-J"]),
                                               capture_output=True, text=True, check=True).stdout)
            ping = subprocess.run(in_pod(nodes, client, ["ping", "-c", "200", "-i", "0.002", "-q", server_ip]),
                                  capture_output=True, text=True, check=True).stdout
            rtt = float(re.search(r"= [\d.]+/([\d.]+)/", ping).group(1))
            out[label] = {"gbps": result["end"]["sum_received"]["bits_per_second"] / 1e9, "rtt_ms": rtt}
    finally:
        iperf.kill()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/multinode.py runs as root")
    if not shutil.which("iperf3"):
        subprocess.run(["apt-get", "install", "-y", "-q", "iperf3"], check=True, capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    results = {}
    for backend, segments in (("host-gw", ("mpbul0", "mpbul0")), ("vxlan", ("mpbul0", "mpbul1"))):
        nodes = [onehost.Node(f"node{i}", f"mpbn{i}", seg, f"{SEGMENTS[seg][:-2]}.{10 + i}",
                              ROOT / backend / f"node{i}", ENV) for i, seg in ((1, segments[0]), (2, segments[1]))]
        with onehost.underlay({s: SEGMENTS[s] for s in set(segments)}, reserved=(CLUSTER_CIDR, SERVICE_CIDR)):
            try:
                results[backend] = measure(nodes, backend)
            finally:
                for node in reversed(nodes):
                    node.down()
                subprocess.run([sys.executable, "-m", "minipod", "cluster", "down"], capture_output=True,
                               env={**os.environ, **ENV})
    shutil.rmtree(ROOT, ignore_errors=True)
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: pod to pod across nodes (bench/multinode.py)",
             "", "Two nodes of the one-host layout; iperf3 (5 s, one stream) and ping (200 echoes) from a client pod "
                 "to a server pod on the same node and on the other node.", "",
             "| backend | within a node | across nodes | ratio | round trip within / across |", "|---|---|---|---|---|"]
    for backend, r in results.items():
        lines.append(f"| {backend} | {r['within']['gbps']:.2f} Gbit/s | {r['across']['gbps']:.2f} Gbit/s | "
                     f"{r['across']['gbps'] / r['within']['gbps']:.2f}x | {r['within']['rtt_ms']:.3f} / "
                     f"{r['across']['rtt_ms']:.3f} ms |")
    lines.append("")
    print("\n".join(lines))
    if args.record:
        record("\n".join(lines))


if __name__ == "__main__":
    main()
