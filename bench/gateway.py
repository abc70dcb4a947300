#!/usr/bin/env python3
"""The Gateway API's cost (issue 34): requests per second and p99 latency
through a Gateway's nginx against the same path through the Ingress's
nginx, and how soon a route change serves.

usage (as root, after ./scripts/setup; wrk from Debian: apt-get install wrk):
    .venv/bin/python bench/gateway.py [--seconds 10] [--rounds 3] [--changes 10] [--record]

Both nginx run in pods from the same `nginx` image with one worker, in
front of the same two nginx pods (the welcome page), for the same host;
wrk (2 threads, 32 connections, keep-alive) loads the Ingress on its host
port and the Gateway on its LoadBalancer address, in alternating rounds.
A route change: a new HTTPRoute for a host of its own is applied, then
requested every 10 ms until it answers 200; the time from the apply's
answer to that 200. Runs against its own state root, ports, chain prefix,
bridge and ranges (checked free); never the user's.
"""

import argparse
import ipaddress
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import BACKEND, nginx_archive, record, release_root, runner, wrk_figures

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(tempfile.mkdtemp(prefix="mpbgw-"))
INGRESS_PORT = 18790
LB_POOL, SERVICE_CIDR, SUBNET = "198.18.6.0/24", "10.122.0.0/16", "10.246.0.0/16"
ENV = {**os.environ, "MINIPOD_ROOT": str(ROOT), "MINIPOD_CNI_CONF_DIR": str(ROOT / "net.d"),
       "MINIPOD_CGROUP_PARENT": "minipod-bench-gw", "MINIPOD_NETNS_PREFIX": "mpbg-",
       "MINIPOD_DEFAULT_NETWORK": "mpbgw", "MINIPOD_DEFAULT_BRIDGE": "mpbgw0",
       "MINIPOD_DEFAULT_SUBNET": SUBNET, "MINIPOD_CHAIN_PREFIX": "MPBG",
       "MINIPOD_SERVICE_DEVICE": "mpbgwdev0", "MINIPOD_SERVICE_CIDR": SERVICE_CIDR,
       "MINIPOD_LB_POOL": LB_POOL, "MINIPOD_INGRESS_HTTP_PORT": str(INGRESS_PORT),
       "MINIPOD_INGRESS_HTTPS_PORT": "18791"}
MINIPOD = [str(REPO / ".venv" / "bin" / "minipod")]

# The ingress controller's nginx behind a LoadBalancer address too, so that
# both nginx are also measured through the same kind of front door.
INGRESS_LB = """apiVersion: v1
kind: Service
metadata: {name: ingress-lb, namespace: ingress-nginx}
spec:
  type: LoadBalancer
  selector: {app.kubernetes.io/name: ingress-nginx, app.kubernetes.io/component: controller}
  ports: [{port: 80, targetPort: 80}]
"""

FRONTS = """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench}
spec:
  ingressClassName: nginx
  rules:
  - host: bench.local
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 8080}}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: minipod}
spec: {controllerName: minipod.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench}
spec:
  gatewayClassName: minipod
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bench}
spec:
  parentRefs: [{name: bench}]
  hostnames: [bench.local]
  rules: [{backendRefs: [{name: web, port: 8080}]}]
"""

sh = runner(ENV)


def mp(*args, check=True, **kw):
    return sh(MINIPOD + list(args), check=check, **kw)


def apply(text, name):
    path = ROOT / name
    path.write_text(text)
    mp("apply", "-f", path)


def code(url, host) -> str:
    return sh(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", "-H", f"Host: {host}", url],
              check=False).stdout


def wait(predicate, timeout=120, what="it", interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


def pod_ip(ns: str, name: str) -> str:
    """A pod's address on the bench's own bridge: its nginx without the
    Service's or host port's NAT in front."""
    return json.loads(mp("get", "pod", name, "-n", ns, "-o", "json").stdout)["status"]["podIP"]


def route_change(i: int, address: str) -> float:
    """Seconds from the apply's answer until the new route answers 200."""
    host = f"change{i}.local"
    path = ROOT / "change.yaml"
    path.write_text(f"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: change{i}}}\n"
                    f"spec:\n  parentRefs: [{{name: bench}}]\n  hostnames: [{host}]\n"
                    "  rules: [{backendRefs: [{name: web, port: 8080}]}]\n")
    mp("apply", "-f", path)
    applied = time.monotonic()
    wait(lambda: code(f"http://{address}/", host) == "200", timeout=30, interval=0.01, what=host)
    return time.monotonic() - applied


def _check_ranges() -> None:
    sys.path.insert(0, str(REPO))
    from minipod import hostnet
    for cidr in (LB_POOL, SERVICE_CIDR, SUBNET):
        why = hostnet.conflicts(ipaddress.ip_network(cidr))
        if why:
            sys.exit(f"bench: {cidr} is the host's own ({why}): not taken")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    if not shutil.which("wrk"):
        sys.exit("bench: needs wrk (apt-get install wrk)")
    _check_ranges()
    results = {"changes": []}
    try:
        mp("image", "import", nginx_archive(sh))
        apply(BACKEND + "---\n" + FRONTS, "bench.yaml")
        mp("wait", "--for=condition=Ready", "-l", "app=web", "--timeout", "120")
        mp("wait", "--for=condition=Programmed", "gateway/bench", "--timeout", "120")
        address = json.loads(mp("get", "gateway", "bench", "-o", "json").stdout)["status"]["addresses"][0]["value"]
        wait(lambda: mp("get", "pod", "ingress-nginx-controller", "-n", "ingress-nginx", check=False).returncode == 0,
             what="the ingress controller's pod")
        apply(INGRESS_LB, "ingress-lb.yaml")
        ingress_lb = json.loads(mp("get", "svc", "ingress-lb", "-n", "ingress-nginx", "-o", "json").stdout)[
            "status"]["loadBalancer"]["ingress"][0]["ip"]
        for ip in (address, ingress_lb):
            route = sh(["ip", "-o", "route", "get", ip]).stdout
            if " dev mpbgwdev0 " not in route:  # the safety check before any request to a virtual IP
                sys.exit(f"bench: {ip} is not routed to the bench's service device: {route}")
        urls = {"ingress": f"http://127.0.0.1:{INGRESS_PORT}/", "gateway": f"http://{address}/",
                "ingress_lb": f"http://{ingress_lb}/",
                "ingress_pod": f"http://{pod_ip('ingress-nginx', 'ingress-nginx-controller')}/",
                "gateway_pod": f"http://{pod_ip('default', 'bench-minipod')}/"}
        for name, url in urls.items():
            wait(lambda: code(url, "bench.local") == "200", what=name)
            wrk(url, 3)  # warm-up
        for _ in range(args.rounds):
            for name, url in urls.items():
                results.setdefault(name, []).append(wrk(url, args.seconds))
        for i in range(args.changes):
            results["changes"].append(route_change(i, address))
            time.sleep(0.5)
    finally:
        mp("delete", "svc", "ingress-lb", "-n", "ingress-nginx", check=False)
        mp("delete", "-f", ROOT / "bench.yaml", check=False)
        for i in range(args.changes):
            mp("delete", "httproute", f"change{i}", check=False)
        wait(lambda: not mp("get", "pods", "-A", check=False).stdout.strip(), timeout=60, what="the pods to go")
        release_root(mp, ROOT, "mpbgw")
    report(results, args)


def wrk(url, seconds) -> dict:
    return wrk_figures(sh, url, seconds, "bench.local")


def report(results, args) -> None:
    med = lambda rows, k: sorted(r[k] for r in rows)[len(rows) // 2]  # noqa: E731
    ing_rps, gw_rps = med(results["ingress"], "rps"), med(results["gateway"], "rps")
    ing_p99, gw_p99 = med(results["ingress"], "p99_ms"), med(results["gateway"], "p99_ms")
    changes = sorted(results["changes"])
    failed = {k: sum(r["non_2xx"] + r["socket_errors"] for r in results[k]) for k in ("ingress", "gateway")}
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: Gateway API (bench/gateway.py)", "",
             f"wrk -t2 -c32 -d{args.seconds}s, {args.rounds} rounds alternating, medians; each nginx one worker, "
             "the same two nginx pods (the welcome page) behind, the same host name.", "",
             "| through | requests/s | p99 ms | failed requests |", "|---|---|---|---|",
             f"| the Ingress's nginx (host port) | {ing_rps:.0f} | {ing_p99:.2f} | {failed['ingress']} |",
             f"| the Gateway's nginx (LoadBalancer address) | {gw_rps:.0f} | {gw_p99:.2f} | {failed['gateway']} |",
             f"| Gateway / Ingress | {gw_rps / ing_rps:.2f}x | {gw_p99 / ing_p99:.2f}x | |"]
    if results.get("ingress_lb"):
        il_rps, il_p99 = med(results["ingress_lb"], "rps"), med(results["ingress_lb"], "p99_ms")
        lines += [f"| the Ingress's nginx, through a LoadBalancer address too | {il_rps:.0f} | {il_p99:.2f} | "
                  f"{sum(r['non_2xx'] + r['socket_errors'] for r in results['ingress_lb'])} |",
                  f"| Gateway / Ingress, both through a LoadBalancer address | {gw_rps / il_rps:.2f}x | "
                  f"{gw_p99 / il_p99:.2f}x | |"]
    if results.get("ingress_pod"):
        ip_rps, gp_rps = med(results["ingress_pod"], "rps"), med(results["gateway_pod"], "rps")
        ip_p99, gp_p99 = med(results["ingress_pod"], "p99_ms"), med(results["gateway_pod"], "p99_ms")
        lines += [f"| the Ingress's nginx, its pod's address (no NAT in front) | {ip_rps:.0f} | {ip_p99:.2f} | |",
                  f"| the Gateway's nginx, its pod's address (no NAT in front) | {gp_rps:.0f} | {gp_p99:.2f} | |",
                  f"| Gateway / Ingress, nginx alone | {gp_rps / ip_rps:.2f}x | {gp_p99 / ip_p99:.2f}x | |"]
    lines += ["",
             f"A route change (a new HTTPRoute applied) serving, from the apply's answer, {len(changes)} changes: "
             f"median {changes[len(changes) // 2] * 1000:.0f} ms, max {changes[-1] * 1000:.0f} ms.", ""]
    text = "\n".join(lines)
    print(text)
    if args.record:
        record(text)


if __name__ == "__main__":
    main()
