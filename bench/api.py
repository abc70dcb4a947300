#!/usr/bin/env python3
"""minipod's Kubernetes API against a real kube-apiserver 1.20 with etcd on
the same machine (issue 21), through the same real kubectl:

  - `kubectl get pods` (three pods on each: running on minipod, unscheduled
    on kube-apiserver, which has no scheduler or kubelet here), and `minipod
    get pods` beside it;
  - `kubectl apply -f` of the course's tutorial YAML (a namespace, a
    Deployment, a Service, an Ingress; a new namespace each round);
  - a watch of 100 changes to one pod (its labels, written back to back over
    HTTP by this script): the time from the first write until kubectl
    printed the 100th, and whether every change came, in order.

usage (as root, after ./scripts/setup):
    .venv/bin/python bench/api.py [--repeat 9] [--record]

kube-apiserver is built from Debian's source by scripts/build-kubernetes
(cached; about 5 minutes the first time) and runs on Debian's etcd (its
package is installed here if missing). Both servers listen on loopback
only: minipod's on 18643, kube-apiserver's on 18644, etcd on 18679/18680.
minipod runs against its own state root, bridge, chains and ranges.
"""

import argparse
import http.client
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import cpu_seconds, record, runner

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(tempfile.mkdtemp(prefix="mpbapi-"))
MP_PORT, KUBE_PORT, ETCD_PORT = 18643, 18644, 18679
WATCH_ROUNDS = 10
ENV = {**os.environ, "MINIPOD_ROOT": str(ROOT), "MINIPOD_CNI_CONF_DIR": str(ROOT / "net.d"),
       "MINIPOD_CGROUP_PARENT": "minipod-bench-api", "MINIPOD_NETNS_PREFIX": "mpba-",
       "MINIPOD_DEFAULT_NETWORK": "mpbapi", "MINIPOD_DEFAULT_BRIDGE": "mpbapi0",
       "MINIPOD_DEFAULT_SUBNET": "10.246.0.0/16", "MINIPOD_CHAIN_PREFIX": "MPBA",
       "MINIPOD_SERVICE_DEVICE": "mpbapidev0", "MINIPOD_SERVICE_CIDR": "10.122.0.0/16",
       "MINIPOD_LB_POOL": "198.18.5.0/24", "MINIPOD_INGRESS_HTTP_PORT": "18745",
       "MINIPOD_INGRESS_HTTPS_PORT": "18746", "MINIPOD_API_PORT": str(MP_PORT), "HOME": str(ROOT / "home")}
MINIPOD = [str(REPO / ".venv" / "bin" / "minipod")]
KUBECTL = shutil.which("kubectl")
POD = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{n: \"0\"}}\nspec:\n  containers:\n"
       "  - name: c\n    image: busybox\n    command: [sleep, \"3600\"]\n")


def timed(argv, env, repeat) -> list:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        out.append((time.perf_counter() - t) * 1000)
    return out


class Server:
    """One API server as kubectl and this script reach it."""

    def __init__(self, name, kubeconfig, port, context, headers):
        self.name, self.kubeconfig, self.port, self.context, self.headers = name, kubeconfig, port, context, headers
        self.env = {**ENV, "KUBECONFIG": str(kubeconfig)}

    def kubectl(self, *args, check=True, input=None):
        return subprocess.run([KUBECTL, *args], env=self.env, capture_output=True, text=True, check=check,
                              input=input)

    def patch(self, conn, path, body):
        conn.request("PATCH", path, body=json.dumps(body),
                     headers={"Content-Type": "application/merge-patch+json", **self.headers})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{self.name}: PATCH {path}: {resp.status}")


def start_minipod(sh) -> Server:
    subprocess.run([str(REPO / "scripts" / "setup-images")], env={**ENV, "MINIPOD_BIN": MINIPOD[0]}, check=True,
                   capture_output=True)
    sh(MINIPOD + ["kubeconfig"])
    pki = ROOT / "etc" / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    return Server("minipod", ROOT / "etc" / "admin.kubeconfig", MP_PORT, ctx, {})


def start_kube(procs) -> Server:
    if not shutil.which("etcd"):
        subprocess.run(["apt-get", "install", "-y", "-q", "etcd-server"], check=True, capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    binary = subprocess.run([str(REPO / "scripts" / "build-kubernetes"), "kube-apiserver"], check=True,
                            capture_output=True, text=True).stdout.split()[-1]
    kube = ROOT / "kube"
    kube.mkdir()
    log = open(kube / "log", "w")
    procs.append(subprocess.Popen(["etcd", "--data-dir", kube / "etcd", "--listen-client-urls",
                                   f"http://127.0.0.1:{ETCD_PORT}", "--advertise-client-urls",
                                   f"http://127.0.0.1:{ETCD_PORT}", "--listen-peer-urls",
                                   f"http://127.0.0.1:{ETCD_PORT + 1}"], stdout=log, stderr=log))
    subprocess.run(["openssl", "genrsa", "-out", kube / "sa.key", "2048"], check=True, capture_output=True)
    (kube / "tokens").write_text("bench-token,admin,admin,system:masters\n")
    procs.append(subprocess.Popen(
        [binary, f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}", "--bind-address=127.0.0.1",
         f"--secure-port={KUBE_PORT}", f"--cert-dir={kube / 'certs'}", f"--token-auth-file={kube / 'tokens'}",
         f"--service-account-key-file={kube / 'sa.key'}", f"--service-account-signing-key-file={kube / 'sa.key'}",
         "--service-account-issuer=https://kubernetes.default.svc", "--service-cluster-ip-range=10.107.0.0/16",
         "--disable-admission-plugins=ServiceAccount", "--authorization-mode=AlwaysAllow"],
        stdout=log, stderr=log))
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "k",
              "clusters": [{"name": "k", "cluster": {"server": f"https://127.0.0.1:{KUBE_PORT}",
                                                     "insecure-skip-tls-verify": True}}],
              "users": [{"name": "k", "user": {"token": "bench-token"}}],
              "contexts": [{"name": "k", "context": {"cluster": "k", "user": "k"}}]}
    (kube / "kubeconfig").write_text(json.dumps(config))
    server = Server("kube-apiserver 1.20", kube / "kubeconfig", KUBE_PORT, ssl._create_unverified_context(),
                    {"Authorization": "Bearer bench-token"})
    deadline = time.monotonic() + 120
    while server.kubectl("get", "--raw", "/readyz", check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"kube-apiserver did not come up; see {kube / 'log'}")
        time.sleep(0.5)
    while server.kubectl("get", "serviceaccounts", check=False).returncode != 0:
        time.sleep(0.5)
    return server


def tutorial(round_no: int) -> str:
    text = (REPO / "docs" / "examples" / "tutorial.yaml").read_text()
    return text.replace("namespace: tutorial", f"namespace: bench{round_no}") \
        .replace("name: tutorial", f"name: bench{round_no}").replace("  clusterIP: 10.107.35.208\n", "")


def watch_changes(server: Server, changes: int, base: int) -> tuple:
    """(ms from the first write until the last change was printed, every
    change seen in order, how many); the label takes base+1 … base+changes."""
    watcher = subprocess.Popen([KUBECTL, "get", "pod", "watched", "-w", "-o", "jsonpath={.metadata.labels.n}{\"\\n\"}"],
                               env=server.env, stdout=subprocess.PIPE, text=True)
    seen, done, first = [], threading.Event(), []

    def read():
        for line in watcher.stdout:
            seen.append(line.strip())
            if seen[-1] == str(base + changes):
                done.set()
                return
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while not seen:  # the watch's first line: the pod as it is
        time.sleep(0.01)
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.context)
    first.append(time.perf_counter())
    for i in range(base + 1, base + changes + 1):
        server.patch(conn, "/api/v1/namespaces/default/pods/watched", {"metadata": {"labels": {"n": str(i)}}})
    done.wait(120)
    elapsed = (time.perf_counter() - first[0]) * 1000
    watcher.terminate()
    conn.close()
    got = [s for s in seen[1:] if s]
    want = [str(i) for i in range(base + 1, base + changes + 1)]
    if got != want:
        print(f"{server.name}: watch saw {len(got)} changes; missing {sorted(set(want) - set(got))}, "
              f"first line {seen[:1]}, out of order: {got != sorted(got, key=int)}", file=sys.stderr)
    return elapsed, got == want, len(got)


def fmt(values) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if KUBECTL is None:
        sys.exit("bench/api.py: no kubectl on PATH (scripts/setup-kubectl installs Debian's)")
    sh = runner(ENV)
    procs = []
    rows = {}
    try:
        servers = [start_minipod(sh), start_kube(procs)]
        for s in servers:
            for i in range(3):
                s.kubectl("apply", "-f", "-", input=POD.format(name=f"p{i}"))
            s.kubectl("apply", "-f", "-", input=POD.format(name="watched"))
        sh(MINIPOD + ["wait", "--for=condition=Ready", "pod/p0", "pod/p1", "pod/p2", "pod/watched", "--timeout", "60"])
        kubectl_version = servers[0].kubectl("version", "--client", "-o", "json").stdout
        # every measurement in turns, the first server first in even rounds and second in odd ones:
        # the machine's drift (a busy neighbour, a warm cache) falls on both alike
        def turns(r):
            return servers if r % 2 == 0 else servers[::-1]
        for r in range(args.repeat):
            for s in turns(r):
                rows.setdefault("kubectl get pods", {}).setdefault(s.name, []).extend(
                    timed([KUBECTL, "get", "pods"], s.env, 1))
            rows.setdefault("minipod get pods", {}).setdefault("minipod", []).extend(
                timed(MINIPOD + ["get", "pods"], ENV, 1))
        for r in range(args.repeat):
            path = ROOT / f"tutorial-{r}.yaml"
            path.write_text(tutorial(r))
            for s in turns(r):
                t = time.perf_counter()
                s.kubectl("apply", "-f", str(path))
                rows.setdefault("kubectl apply -f tutorial.yaml", {}).setdefault(s.name, []).append(
                    (time.perf_counter() - t) * 1000)
                if s.name == "minipod":  # its pods really start: let them, and go, outside the timing
                    sh(MINIPOD + ["rollout", "status", f"deployment/nginx", "-n", f"bench{r}", "--timeout", "120"])
                    s.kubectl("delete", "namespace", f"bench{r}")
        watch, cpu = {}, {}
        # the CPU the server side spends on a watch round: minipod's API server and agent (it wakes on
        # every write), kube-apiserver and etcd
        server_pids = {"minipod": [json.loads((ROOT / "run" / "apiserver" / "pid").read_text())["pid"],
                                   json.loads((ROOT / "run" / "agent" / "pid").read_text())["pid"]],
                       servers[1].name: [p.pid for p in procs]}
        for r in range(WATCH_ROUNDS):
            for s in turns(r):
                before = sum(cpu_seconds(p) for p in server_pids[s.name])
                ms, ok, n = watch_changes(s, 100, 1000 * (r + 1))
                cpu.setdefault(s.name, []).append((sum(cpu_seconds(p) for p in server_pids[s.name]) - before) * 1000)
                rows.setdefault("watch of 100 pod changes", {}).setdefault(s.name, []).append(ms)
                was_ok, counts = watch.get(s.name, (True, []))
                watch[s.name] = was_ok and ok, counts + [n]
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        subprocess.run(MINIPOD + ["delete", "pod", "p0", "p1", "p2", "watched"], env=ENV, capture_output=True)
        subprocess.run(MINIPOD + ["api", "stop"], env=ENV, capture_output=True)
        subprocess.run(MINIPOD + ["agent", "stop"], env=ENV, capture_output=True)
        subprocess.run(MINIPOD + ["gc"], env=ENV, capture_output=True)
        subprocess.run(MINIPOD + ["network", "rm", "mpbapi"], env=ENV, capture_output=True)
        left = subprocess.run(MINIPOD + ["gc", "--dry-run"], env=ENV, capture_output=True, text=True).stdout.strip()
        if left:
            print(f"bench: left behind, root kept at {ROOT}:\n{left}", file=sys.stderr)
        else:
            shutil.rmtree(ROOT, ignore_errors=True)
    version = json.loads(kubectl_version)["clientVersion"]["gitVersion"]
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: the Kubernetes API (bench/api.py)", "",
             f"kubectl {version}; kube-apiserver v1.20.2 (scripts/build-kubernetes) on Debian's etcd; "
             f"{args.repeat} rounds (watch: {WATCH_ROUNDS}), the two servers in turns.", "",
             "| operation | minipod ms, median (min–max) | kube-apiserver ms | ratio |", "|---|---|---|---|"]
    for op, by in rows.items():
        mine = by.get("minipod")
        ref = by.get("kube-apiserver 1.20")
        ratio = f"{statistics.median(mine) / statistics.median(ref):.2f}x" if mine and ref else ""
        lines.append(f"| {op} | {fmt(mine) if mine else '–'} | {fmt(ref) if ref else '–'} | {ratio} |")
    mg, mp_get = statistics.median(rows["kubectl get pods"]["minipod"]), statistics.median(rows["minipod get pods"]["minipod"])
    lines += ["", f"`kubectl get pods` / `minipod get pods` on minipod: {mg / mp_get:.2f}x.",
              "Server-side CPU per watch round, median: " + ", ".join(
                  f"{k} {statistics.median(v):.0f} ms" for k, v in cpu.items()) +
              " (minipod: API server and agent; kube-apiserver: it and etcd).",
              f"Watch, every change in order: " + ", ".join(f"{k}: {'yes' if ok else 'NO'} (seen {n})"
                                                           for k, (ok, n) in watch.items()), ""]
    report = "\n".join(lines)
    print(report)
    if args.record:
        record(report)


if __name__ == "__main__":
    main()
