"""What the benches share: running a command in a bench's own environment,
a process's CPU time, appending a report to bench/RESULTS.md, wrk's
figures, and the NetworkPolicy states both policy benches measure."""

import os
import subprocess
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

# Two pods of the nginx image serving its welcome page, and their Service:
# what the ingress and gateway benches put behind their nginx.
BACKEND = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx
        ports: [{containerPort: 80, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 8080, targetPort: http, name: http}]
"""


def nginx_archive(sh) -> Path:
    """The nginx image's archive that scripts/setup-images makes from
    Debian's nginx packages, unpacked (made now if it is not there)."""
    repo = Path(__file__).resolve().parent.parent
    archive = repo / "build" / "nginx.oci.tar"
    if not archive.exists():
        sh([repo / "scripts" / "setup-images"])
    return archive


def runner(env: dict):
    """sh(cmd, check=True, **kw) for ``env``: a CompletedProcess, or
    RuntimeError with the command's stderr when it fails and ``check``."""
    def sh(cmd, check=True, **kw):
        proc = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, **kw)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, cmd))}: {proc.stderr.strip()}")
        return proc
    return sh


def wrk_figures(sh, url: str, seconds: int, host: str, close=False) -> dict:
    """wrk -t2 -c32 against ``url`` with Host ``host`` (``close``: a new
    connection per request): requests/s, p99, requests, failures."""
    import re
    extra = ["-H", "Connection: close"] if close else []
    out = sh(["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-H", f"Host: {host}", *extra, url],
             timeout=seconds + 30).stdout
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p99_ms": float(p99.group(1)) * unit[p99.group(2)],
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "non_2xx": int(failed.group(1)) if failed else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


def cpu_seconds(pid) -> float:
    """User and system CPU time of ``pid`` so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def record(text: str) -> None:
    """Append a report, dated by its own heading, to bench/RESULTS.md."""
    with open(RESULTS, "a") as f:
        f.write(text + "\n")


def release_root(mp, root, network: str) -> None:
    """A bench's end: its agent stopped, what it made released (gc), its
    network removed; its state root removed only if gc finds nothing left
    (the records are what gc would need to release the rest)."""
    import shutil
    import sys
    mp("agent", "stop", check=False)
    mp("gc", check=False)
    mp("network", "rm", network, check=False)
    left = mp("gc", "--dry-run", check=False).stdout.strip()
    if left:
        print(f"bench: left behind, root kept at {root}:\n{left}", file=sys.stderr)
    else:
        shutil.rmtree(root, ignore_errors=True)


def networkpolicy_states(ns: str) -> dict:
    """The policy sets of bench/networkpolicy.py and bench/netpol_rules.py, by
    state: none; "spread", 99 policies each isolating its own group of pods
    (app=filler0..9, a port each) and the one letting the client (app=client)
    reach the server (app=server), what a namespace of 100 policies looks
    like; "100 policies", the worst case: all of them select the server,
    and the client's is the last walked."""
    def policy(name, selected, port=None):
        rule = {"from": [{"podSelector": {"matchLabels": {"app": "client"}}}], **({"ports": [{"port": port}]}
                                                                                  if port else {})}
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"podSelector": {"matchLabels": {"app": selected}}, "ingress": [rule]}}
    allow = policy("p099-client", "server")
    return {"none": [],
            "spread": [policy(f"p{j:03d}", f"filler{j % 10}", 8000 + j) for j in range(99)] + [allow],
            "100 policies": [policy(f"p{j:03d}", "server", 8000 + j) for j in range(99)] + [allow]}
