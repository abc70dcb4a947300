#!/usr/bin/env python3
"""The ingress nginx's cost (issue 16): requests per second and p99 latency
through the controller's nginx against a hand-written nginx `proxy_pass`
to the same two pods, and through the controller while its configuration
is reloaded every 2 s (a failed request is a defect).

usage (as root, after ./scripts/setup; wrk from Debian: apt-get install wrk):
    .venv/bin/python bench/ingress.py [--seconds 10] [--rounds 3] [--record]

Both nginx run in pods from the same `nginx` image (images/build-image.py),
each with one worker, published on a host port and loaded from the host
with wrk (2 threads, 32 connections, keep-alive); the rounds alternate.
Behind both: two pods of that image serving its welcome page. Under
reloads wrk runs twice: with keep-alive, and with a connection per request.
Runs against its own state root, ports (18780, 18781), chain prefix and
bridge; never the user's.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import BACKEND, nginx_archive, record, runner, wrk_figures

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(tempfile.mkdtemp(prefix="mpbing-"))
INGRESS_PORT, REF_PORT, REF_KEEPALIVE_PORT = 18780, 18781, 18782
ENV = {**os.environ, "MINIPOD_ROOT": str(ROOT), "MINIPOD_CNI_CONF_DIR": str(ROOT / "net.d"),
       "MINIPOD_CGROUP_PARENT": "minipod-bench-ing", "MINIPOD_NETNS_PREFIX": "mpbi-",
       "MINIPOD_DEFAULT_NETWORK": "mpbing", "MINIPOD_DEFAULT_BRIDGE": "mpbing0",
       "MINIPOD_DEFAULT_SUBNET": "10.245.0.0/16", "MINIPOD_CHAIN_PREFIX": "MPBI",
       "MINIPOD_SERVICE_DEVICE": "mpbingdev0", "MINIPOD_SERVICE_CIDR": "10.121.0.0/16",
       "MINIPOD_LB_POOL": "198.18.4.0/24", "MINIPOD_INGRESS_HTTP_PORT": str(INGRESS_PORT),
       "MINIPOD_INGRESS_HTTPS_PORT": "18743"}
MINIPOD = [str(REPO / ".venv" / "bin" / "minipod")]

def ingress(extra_paths=0) -> str:
    paths = "".join(f"      - {{path: /r{i}, pathType: Prefix, backend: {{service: {{name: web, port: "
                    f"{{number: 8080}}}}}}}}\n" for i in range(extra_paths))
    return ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: bench}\nspec:\n"
            "  ingressClassName: nginx\n  rules:\n  - host: bench.local\n    http:\n      paths:\n"
            "      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 8080}}}}\n" + paths)


def reference_conf(endpoints, keepalive=False) -> str:
    """What a person writes to put nginx in front of two pods: the minimal
    proxy_pass, or the one that also keeps connections to the pods."""
    servers = "".join(f"        server {e};\n" for e in endpoints)
    pool = "        keepalive 320;\n" if keepalive else ""
    http11 = ('            proxy_http_version 1.1;\n            proxy_set_header Connection "";\n'
              if keepalive else "")
    return ("user www-data;\nworker_processes 1;\npid /run/nginx.pid;\nevents { worker_connections 1024; }\n"
            "http {\n    access_log /var/log/nginx/access.log;\n    upstream web {\n" + servers + pool + "    }\n"
            "    server {\n        listen 80;\n        location / {\n            proxy_set_header Host $host;\n"
            + http11 + "            proxy_pass http://web;\n        }\n    }\n}\n")


sh = runner(ENV)


def mp(*args, check=True, **kw):
    return sh(MINIPOD + list(args), check=check, **kw)


def apply(text, name="apply.yaml"):
    path = ROOT / name
    path.write_text(text)
    mp("apply", "-f", path)


def wait(predicate, timeout=120, what="it"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def answers(port) -> bool:
    out = sh(["curl", "-s", "--max-time", "2", "-H", "Host: bench.local", f"http://127.0.0.1:{port}/"],
             check=False).stdout
    return "Welcome to nginx!" in out


def wrk(port, seconds, close=False) -> dict:
    """wrk's figures through 127.0.0.1:``port``; ``close``: a new connection per request (no keep-alive)."""
    return wrk_figures(sh, f"http://127.0.0.1:{port}/", seconds, "bench.local", close)


def under_reloads(seconds, close) -> dict:
    """wrk through the ingress while an Ingress change is applied every 2 s."""
    stop, applies = threading.Event(), []

    def reloader():
        i = 0
        while not stop.wait(2.0):
            i += 1
            apply(BACKEND + "---\n" + ingress(extra_paths=i % 5 + 1), "reload.yaml")
            applies.append(time.monotonic())
    before = mp("agent", "logs", check=False).stdout.count("configuration reloaded")
    thread = threading.Thread(target=reloader)
    thread.start()
    try:
        out = wrk(INGRESS_PORT, seconds, close)
    finally:
        stop.set()
        thread.join()
    time.sleep(1)
    done = mp("agent", "logs", check=False).stdout.count("configuration reloaded") - before
    return {**out, "applies": len(applies), "reloads_logged": done}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    if not shutil.which("wrk"):
        sys.exit("bench: needs wrk (apt-get install wrk)")
    results = {"ingress": [], "reference": [], "reference_keepalive": [], "reloads": None}
    try:
        mp("image", "import", nginx_archive(sh))
        apply(BACKEND + "---\n" + ingress(), "demo.yaml")
        mp("wait", "--for=condition=Ready", "-l", "app=web", "--timeout", "120")
        wait(lambda: answers(INGRESS_PORT), what="the ingress nginx")
        eps = json.loads(mp("get", "ep", "web", "-o", "json").stdout)
        targets = [f"{a['ip']}:{p['port']}" for s in eps["subsets"] for a in s["addresses"] for p in s["ports"]]
        for name, port, keepalive in (("ref-nginx", REF_PORT, False), ("ref-nginx-ka", REF_KEEPALIVE_PORT, True)):
            conf = ROOT / f"{name}.conf"
            conf.write_text(reference_conf(targets, keepalive))
            mp("run", "-d", "--name", name, "-p", f"{port}:80", "-v", f"{conf}:/etc/nginx/nginx.conf:ro", "nginx")
            wait(lambda: answers(port), what=f"the hand-written nginx {name}")
        for port in (INGRESS_PORT, REF_PORT, REF_KEEPALIVE_PORT):
            wrk(port, 3)  # warm-up
        for _ in range(args.rounds):
            results["ingress"].append(wrk(INGRESS_PORT, args.seconds))
            results["reference"].append(wrk(REF_PORT, args.seconds))
            results["reference_keepalive"].append(wrk(REF_KEEPALIVE_PORT, args.seconds))
        # reloads every 2 s under load, with keep-alive and with a connection
        # per request: each apply changes the rendered configuration
        results["reloads"] = {}
        for mode, close in (("keep-alive", False), ("connection: close", True)):
            results["reloads"][mode] = under_reloads(max(args.seconds * 2, 20), close)
    finally:
        mp("rm", "-f", "ref-nginx", "ref-nginx-ka", check=False)
        mp("delete", "ingress", "bench", check=False)
        mp("delete", "deploy", "web", check=False)
        mp("delete", "svc", "web", check=False)
        mp("agent", "stop", check=False)
        mp("gc", check=False)
        mp("network", "rm", "mpbing", check=False)
        left = mp("gc", "--dry-run", check=False).stdout.strip()
        if left:
            print(f"bench: left behind, root kept at {ROOT}:\n{left}", file=sys.stderr)
        else:
            shutil.rmtree(ROOT, ignore_errors=True)
    (REPO / "bench" / "ingress-latest.json").write_text(json.dumps(results, indent=2))
    med = lambda rows, k: sorted(r[k] for r in rows)[len(rows) // 2]
    ing_rps, ref_rps = med(results["ingress"], "rps"), med(results["reference"], "rps")
    ing_p99, ref_p99 = med(results["ingress"], "p99_ms"), med(results["reference"], "p99_ms")
    ka_rps, ka_p99 = med(results["reference_keepalive"], "rps"), med(results["reference_keepalive"], "p99_ms")
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: Ingress (bench/ingress.py)", "",
             f"wrk -t2 -c32 -d{args.seconds}s to 127.0.0.1 (a host port of each nginx pod), {args.rounds} rounds "
             "alternating, medians; one nginx worker each, two nginx pods (the welcome page) behind.", "",
             "| nginx | requests/s | p99 ms | failed requests |", "|---|---|---|---|",
             f"| ingress controller's | {ing_rps:.0f} | {ing_p99:.2f} | "
             f"{sum(r['non_2xx'] + r['socket_errors'] for r in results['ingress'])} |",
             f"| hand-written proxy_pass | {ref_rps:.0f} | {ref_p99:.2f} | "
             f"{sum(r['non_2xx'] + r['socket_errors'] for r in results['reference'])} |",
             f"| hand-written, with upstream keepalive | {ka_rps:.0f} | {ka_p99:.2f} | "
             f"{sum(r['non_2xx'] + r['socket_errors'] for r in results['reference_keepalive'])} |",
             f"| controller / minimal proxy_pass | {ing_rps / ref_rps:.2f}x | {ing_p99 / ref_p99:.2f}x | |",
             f"| controller / with upstream keepalive | {ing_rps / ka_rps:.2f}x | {ing_p99 / ka_p99:.2f}x | |"]
    for mode, rl in results["reloads"].items():
        lines.append(f"| ingress, reloaded every 2 s, {mode} ({rl['applies']} applies, {rl['reloads_logged']} "
                     f"reloads logged) | {rl['rps']:.0f} | {rl['p99_ms']:.2f} | "
                     f"{rl['non_2xx']} non-2xx, {rl['socket_errors']} socket errors of {rl['requests']} |")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.record:
        record(text)


if __name__ == "__main__":
    main()
