#!/usr/bin/env python3
"""minipod benchmarks: minipod against its floors and against podman.

usage (as root, after ./scripts/setup):
    .venv/bin/python bench/run.py [--repeat N] [--pods N] [--record]

Every comparison alternates A and B within one run and reports min/median/max
of each and the median of the per-pair ratios, so machine drift cancels out.
Prints a markdown report and writes bench/results-latest.json; --record also
appends the report, dated, to bench/RESULTS.md. minipod runs against its own
state root, bridge (mpbench0) and subnet (10.240.0.0/16), never the user's.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ROOT = Path(tempfile.mkdtemp(prefix="mpbench-"))
ENV = {**os.environ, "MINIPOD_ROOT": str(ROOT), "MINIPOD_CNI_CONF_DIR": str(ROOT / "net.d"),
       "MINIPOD_CGROUP_PARENT": "minipod-bench",
       "MINIPOD_NETNS_PREFIX": "mpb-", "MINIPOD_DEFAULT_NETWORK": "mpbench",
       "MINIPOD_DEFAULT_BRIDGE": "mpbench0", "MINIPOD_DEFAULT_SUBNET": "10.240.0.0/16",
       "MINIPOD_API_PORT": "18653", "MINIPOD_CHAIN_PREFIX": "MPBK", "MINIPOD_SERVICE_DEVICE": "mpbsvc0",
       "MINIPOD_SERVICE_CIDR": "10.125.0.0/16", "HOME": str(ROOT / "home")}
os.environ.update({k: v for k, v in ENV.items() if k.startswith("MINIPOD_")})
MINIPOD = [str(REPO / ".venv" / "bin" / "minipod")]
PODMAN = ["podman", "--log-level", "error"]
PODMAN_RUN = []
# crun refuses hybrid cgroup hierarchies (as on the development machines) and
# podman as root asks for rlimits above this machine's hard limits: runc and
# modest rlimits, through a containers.conf of the benchmark's own.
PODMAN_CONF = ROOT / "containers.conf"
PODMAN_CONF.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                       '[engine]\nruntime = "runc"\n')
ENV["CONTAINERS_CONF"] = str(PODMAN_CONF)


def sh(cmd, env=ENV, check=True, **kw):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {proc.stderr.strip()}")
    return proc


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def stats(values) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


SETTLE = 0.3  # seconds between timed runs (--settle)


def compare(name, a, b, repeat, warmup=2) -> dict:
    """Alternate a() and b(); return stats of each and of the a/b ratios.

    Each timed run starts after a pause: podman finishes its clean-up
    (conmon -> `podman container cleanup`) after the CLI returns, and that
    tail must not land on the next measurement of either side."""
    for _ in range(warmup):
        a()
        if b:
            b()
    ta, tb = [], []
    for _ in range(repeat):
        time.sleep(SETTLE)
        ta.append(timed(a))
        if b:
            time.sleep(SETTLE)
            tb.append(timed(b))
    out = {"name": name, "a": stats(ta)}
    if b:
        out["b"] = stats(tb)
        out["ratio"] = stats([x / y for x, y in zip(ta, tb)])
    return out


def have(tool) -> bool:
    return shutil.which(tool) is not None


# ------------------------------------------------------------------ set-up

def setup():
    sh([sys.executable, str(REPO / "images" / "build-busybox.py"), str(ROOT / "busybox.tar.gz")])
    sh(MINIPOD + ["image", "import", str(ROOT / "busybox.tar.gz"), "busybox"])
    sh(MINIPOD + ["run", "--rm", "busybox", "true"])  # writes the network, creates the bridge
    # the node process serves every command from now on, as after a user's first `run`
    sh(MINIPOD + ["agent", "start"])
    notes = ["minipod's node process (the agent) runs and serves the commands, as after a first `run`; "
             "podman has no daemon"]
    if have("podman"):
        for leftover in ("bp", "inpod"):  # from an interrupted earlier run
            sh(PODMAN + ["pod", "rm", "-f", leftover], check=False)
        if sh(PODMAN + ["image", "exists", "localhost/mpbench-busybox"], check=False).returncode != 0:
            sh(PODMAN + ["import", "-q", str(ROOT / "busybox.tar.gz"), "mpbench-busybox:latest"])
    else:
        notes.append("podman is not installed: podman columns skipped")
    return notes


def teardown():
    sh(MINIPOD + ["api", "stop"], check=False)
    sh(MINIPOD + ["agent", "stop"], check=False)
    sh(MINIPOD + ["gc"], check=False)  # a run --rm's teardown still under way when the agent stopped
    sh(MINIPOD + ["network", "rm", "mpbench"], check=False)
    if have("podman"):
        sh(PODMAN + ["image", "rm", "-f", "localhost/mpbench-busybox"], check=False)
    shutil.rmtree(ROOT, ignore_errors=True)


# ------------------------------------------------------------ measurements

def mp(*args):
    return lambda: sh(MINIPOD + list(args))


def pm(*args):
    return lambda: sh(PODMAN + list(args))


def bench_run(repeat):
    podman = have("podman")
    return [
        compare("run --rm busybox true (default network)", mp("run", "--rm", "busybox", "true"),
                pm("run", "--rm", *PODMAN_RUN, "mpbench-busybox", "true") if podman else None, repeat),
        compare("run --rm --network none busybox true", mp("run", "--rm", "--network", "none", "busybox", "true"),
                pm("run", "--rm", *PODMAN_RUN, "--network", "none", "mpbench-busybox", "true") if podman else None,
                repeat),
    ]


def bench_isolation(repeat):
    """What seccomp and cgroups add to `run --rm busybox true`: the default
    (filter + cgroups) against seccomp=unconfined, and the cgroup work of
    one pod and container timed on its own, in this process."""
    from minipod.runtime import cgroup
    from minipod.spec import parse_limits
    seccomp = compare("run --rm busybox true: default seccomp vs unconfined",
                      mp("run", "--rm", "busybox", "true"),
                      mp("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "true"), repeat)
    limits = parse_limits(memory="64m", cpus="0.5", pids_limit="100")

    def cgroup_cycle():
        pod = cgroup.pod_path("bench")
        cgroup.create(pod, limits)
        cgroup.create(cgroup.pause_path("bench"))
        cgroup.create(cgroup.container_path("bench", "c"), limits, devices=True)
        cgroup.remove(pod)
    cycle = compare(f"cgroups of one pod + container: create with limits, remove (v{cgroup.version()})",
                    cgroup_cycle, None, repeat)
    return [seccomp, cycle]


def bench_pods(repeat):
    podman = have("podman")

    def mp_cycle(*flags):
        return lambda: (sh(MINIPOD + ["pod", "create", "--name", "bp", *flags]), sh(MINIPOD + ["pod", "rm", "-f", "bp"]))

    def pm_cycle(*flags):
        return lambda: (sh(PODMAN + ["pod", "create", "--name", "bp", *flags]), sh(PODMAN + ["pod", "start", "bp"]),
                        sh(PODMAN + ["pod", "rm", "-f", "bp"]))

    results = [
        compare("pod create + rm, no ports (podman: + pod start)", mp_cycle(),
                pm_cycle() if podman else None, repeat),
        compare("pod create + rm, -p 18180:80 (podman: + pod start)", mp_cycle("-p", "18180:80"),
                pm_cycle("-p", "18180:80") if podman else None, repeat),
    ]
    sh(MINIPOD + ["pod", "create", "--name", "inpod"])
    if podman:
        sh(PODMAN + ["pod", "create", "--name", "inpod"])
        sh(PODMAN + ["pod", "start", "inpod"])
    try:
        results.append(compare("run --rm --pod P busybox true", mp("run", "--rm", "--pod", "inpod", "busybox", "true"),
                               pm("run", "--rm", *PODMAN_RUN, "--pod", "inpod", "mpbench-busybox", "true")
                               if podman else None, repeat))
    finally:
        sh(MINIPOD + ["pod", "rm", "-f", "inpod"])
        if podman:
            sh(PODMAN + ["pod", "rm", "-f", "inpod"], check=False)
    return results


QUERY_POD = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: q{i}\nspec:\n  terminationGracePeriodSeconds: 1\n"
             "  containers:\n  - name: c\n    image: busybox\n    command: [sleep, \"3600\"]\n")


def bench_queries(repeat):
    """The everyday read-only verbs on a node with three pods (Pod objects,
    so `get pods` shows them too), against `podman ps` with three
    containers; and the real kubectl against minipod's API beside `minipod
    get pods` on the same pods."""
    podman = have("podman")
    for i in range(3):
        sh(MINIPOD + ["apply", "-f", "-"], input=QUERY_POD.format(i=i))
    deadline = time.monotonic() + 60
    while sh(MINIPOD + ["get", "pods"]).stdout.count(" Running ") < 3:
        if time.monotonic() > deadline:
            raise RuntimeError("bench: the query pods did not start")
        time.sleep(0.2)
    if podman:
        for i in range(3):
            sh(PODMAN + ["run", "-d", "--name", f"mpbq{i}", "mpbench-busybox", "sleep", "3600"])
    podman_ps = pm("ps") if podman else None
    try:
        results = [compare(f"{' '.join(verb)} (3 pods) vs podman ps (3 containers)", mp(*verb), podman_ps, repeat)
                   for verb in (("ps",), ("pod", "ls"), ("get", "pods"))]
        if have("kubectl"):
            sh(MINIPOD + ["kubeconfig"])  # starts the API server; its admin kubeconfig in the bench's root
            env = {**ENV, "KUBECONFIG": str(ROOT / "etc" / "admin.kubeconfig")}
            results.append(compare("kubectl get pods (minipod's API) vs minipod get pods",
                                   lambda: sh(["kubectl", "get", "pods"], env=env), mp("get", "pods"), repeat))
        return results
    finally:
        sh(MINIPOD + ["api", "stop"], check=False)
        for i in range(3):
            sh(MINIPOD + ["delete", "pod", f"q{i}"], check=False)
        if podman:
            sh(PODMAN + ["rm", "-f", "-t", "0", *[f"mpbq{i}" for i in range(3)]], check=False)


def bench_burst(rounds, count=20):
    """`run -d` of ``count`` containers started at once: the wall time until
    every command has returned (each round's containers removed untimed)."""
    podman = have("podman")

    def burst(argv, prefix):
        start = time.perf_counter()
        procs = [subprocess.Popen(argv(f"{prefix}{i}"), env=ENV, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for i in range(count)]
        failed = [p.stderr.read().decode() for p in procs if p.wait() != 0]
        elapsed = (time.perf_counter() - start) * 1000
        if failed:
            raise RuntimeError(f"bench: run -d burst: {failed[0]}")
        return elapsed

    ta, tb = [], []
    for _ in range(rounds):
        time.sleep(SETTLE)
        ta.append(burst(lambda n: MINIPOD + ["run", "-d", "--name", n, "busybox", "sleep", "600"], "mpbb"))
        sh(MINIPOD + ["rm", "-f", *[f"mpbb{i}" for i in range(count)]])
        if podman:
            time.sleep(SETTLE)
            tb.append(burst(lambda n: PODMAN + ["run", "-d", "--name", n, "mpbench-busybox", "sleep", "600"],
                            "mpbb"))
            sh(PODMAN + ["rm", "-f", "-t", "0", *[f"mpbb{i}" for i in range(count)]])
    out = {"name": f"run -d of {count} containers at once (wall time)", "a": stats(ta)}
    if tb:
        out["b"] = stats(tb)
        out["ratio"] = stats([x / y for x, y in zip(ta, tb)])
    return out


def cni_floor(repeat, ports):
    """The same plugins minipod runs (loopback, then the network's chain),
    executed directly against a netns made with `ip netns add`."""
    from minipod.cni import network
    from minipod.cni import config, invoke
    from minipod.paths import cni_path
    conflist = network.strip_private(network.load("mpbench"))
    version = config.pick_version(conflist)
    caps = {"portMappings": [{"hostPort": 18181, "containerPort": 80, "protocol": "tcp"}]} if ports else {}
    add_ms, del_ms = [], []

    def call(conf_list, plugin, command, prev, ifname, cid, ns):
        conf = config.build_plugin_config(conf_list, plugin, version, caps, prev)
        return invoke.exec_plugin(plugin["type"], command, conf, container_id=cid, netns=ns, ifname=ifname,
                                  args=config.cni_args("floor", cid), search_path=cni_path())

    for i in range(repeat + 2):
        cid = f"floor{i:04d}{os.urandom(4).hex()}"
        sh(["ip", "netns", "add", "mpb-floor"])
        ns = "/run/netns/mpb-floor"
        try:
            start = time.perf_counter()
            call(config.LOOPBACK_CONFLIST, {"type": "loopback"}, "ADD", None, "lo", cid, ns)
            prev = None
            for plugin in conflist["plugins"]:
                prev = call(conflist, plugin, "ADD", prev, "eth0", cid, ns)
            mid = time.perf_counter()
            for plugin in reversed(conflist["plugins"]):
                call(conflist, plugin, "DEL", prev, "eth0", cid, ns)
            call(config.LOOPBACK_CONFLIST, {"type": "loopback"}, "DEL", None, "lo", cid, ns)
            end = time.perf_counter()
        finally:
            sh(["ip", "netns", "del", "mpb-floor"])
        if i >= 2:
            add_ms.append((mid - start) * 1000)
            del_ms.append((end - mid) * 1000)
    return {"add": stats(add_ms), "del": stats(del_ms),
            "total": stats([a + d for a, d in zip(add_ms, del_ms)])}


def container_floor(repeat):
    exe = ROOT / "floor"
    sh(["gcc", "-O2", "-o", str(exe), str(REPO / "bench" / "floor.c")])
    # the busybox image's one layer, where the layer store keeps it
    lower = json.loads(sh(MINIPOD + ["image", "inspect", "busybox"]).stdout)[0]["GraphDriver"]["Data"]["LowerDir"]

    def one():
        scratch = Path(tempfile.mkdtemp(dir=ROOT))
        sh([str(exe), str(lower), str(scratch)])
        shutil.rmtree(scratch)
    runc = None
    if have("runc"):
        bundle = ROOT / "bundle"
        bundle.mkdir()
        sh(["runc", "spec", "--bundle", str(bundle)])
        spec = json.loads((bundle / "config.json").read_text())
        spec["root"] = {"path": str(lower), "readonly": True}
        spec["process"].update(terminal=False, args=["/bin/true"])
        spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
        (bundle / "config.json").write_text(json.dumps(spec))
        counter = iter(range(10 ** 6))
        runc = lambda: sh(["runc", "run", "--bundle", str(bundle), f"mpb-{next(counter)}"])
    return compare("bare fork+unshare+overlay+pivot_root+exec (C) vs runc run", one, runc, repeat)


def pss_of_pauses() -> list:
    """PSS (kB) of every pause process of the benchmark's root: the only
    process minipod keeps per pod."""
    from minipod import procfs
    from minipod.ops import gc
    return [procfs.memory(pid).get("Pss", 0) for pid, _start, _dir in gc.pause_processes()]


def agent_pss() -> int:
    """PSS (kB) of the node agent of the benchmark's root (0 if none)."""
    from minipod import procfs
    from minipod.roles import agent
    pid = agent.running_pid()
    return procfs.memory(pid).get("Pss", 0) if pid else 0


SCALE_SETTLE = 0.05  # between pod creates of the scale run (500 of them)


def bench_scale(count):
    times, memory = [], {}
    sh(MINIPOD + ["agent", "start"])  # it runs on every node with pods: counted once
    try:
        for i in range(1, count + 1):
            time.sleep(SCALE_SETTLE)
            times.append(timed(lambda: sh(MINIPOD + ["pod", "create", "--name", f"scale{i}"])))
            if i in (1, 10, 50, 500, count):
                pss, agent = pss_of_pauses(), agent_pss()
                memory[i] = {"pods": i, "pause_processes": len(pss), "pss_total_kb": sum(pss),
                             "pss_per_pod_kb": sum(pss) / i, "agent_pss_kb": agent,
                             "pss_per_pod_with_agent_kb": (sum(pss) + agent) / i}
    finally:
        for i in range(1, count + 1):
            sh(MINIPOD + ["pod", "rm", "-f", f"scale{i}"], check=False)
        sh(MINIPOD + ["agent", "stop"], check=False)
    first = statistics.median(times[:3])
    last = statistics.median(times[-3:])
    at = {n: statistics.median(times[n - 3:n]) / first for n in (50, 500) if n <= count}
    return {"create_ms": times, "first3_median_ms": first, "last3_median_ms": last,
            "ratio_last_first": last / first, "ratio_at": at, "memory": memory}


def _iperf(server_ns, client_ns, ip, seconds=3):
    server = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-B", ip],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    try:
        out = sh(["ip", "netns", "exec", client_ns, "iperf3", "-c", ip, "-t", str(seconds), "-J"]).stdout
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9
    finally:
        server.wait(timeout=10)


def _rtt(client_ns, ip, count=200):
    out = sh(["ip", "netns", "exec", client_ns, "ping", "-q", "-c", str(count), "-i", "0.005", ip]).stdout
    return float(out.strip().splitlines()[-1].split("=")[1].split("/")[1])  # avg ms


def _podman_pods():
    """Two running podman pods on podman's default network, and their netns."""
    out = {}
    for key in ("a", "b"):
        name = f"tp{key}"
        sh(PODMAN + ["pod", "rm", "-f", name], check=False)
        sh(PODMAN + ["pod", "create", "--name", name])
        sh(PODMAN + ["pod", "start", name])
        infra = sh(PODMAN + ["pod", "inspect", name, "--format", "{{.InfraContainerID}}"]).stdout.strip()
        netns = sh(PODMAN + ["inspect", infra, "--format", "{{.NetworkSettings.SandboxKey}}"]).stdout.strip()
        out[f"{key}_ns"] = os.path.basename(netns)  # under /run/netns: `ip netns exec` finds it
        out[f"{key}_ip"] = sh(PODMAN + ["inspect", infra, "--format",
                                        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"]).stdout.strip()
    return out


def bench_network(rounds=3):
    """pod-to-pod over mpbench0 vs a raw veth pair between two namespaces."""
    if not have("iperf3"):
        return {"note": "iperf3 not installed: throughput skipped"}
    sh(MINIPOD + ["pod", "create", "--name", "na"])
    sh(MINIPOD + ["pod", "create", "--name", "nb"])
    ip_a = json.loads(sh(MINIPOD + ["pod", "inspect", "na"]).stdout)[0]["IPAddress"].split("/")[0]
    sh(["ip", "netns", "add", "mpb-va"])
    sh(["ip", "netns", "add", "mpb-vb"])
    sh(["ip", "link", "add", "mpbv0", "netns", "mpb-va", "type", "veth", "peer", "name", "mpbv1", "netns", "mpb-vb"])
    sh(["ip", "-n", "mpb-va", "addr", "add", "10.241.0.1/24", "dev", "mpbv0"])
    sh(["ip", "-n", "mpb-vb", "addr", "add", "10.241.0.2/24", "dev", "mpbv1"])
    for ns, dev in (("mpb-va", "mpbv0"), ("mpb-vb", "mpbv1")):
        sh(["ip", "-n", ns, "link", "set", dev, "up"])
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])
    podman = _podman_pods() if have("podman") else None
    try:
        pod_tp, veth_tp, pod_rtt, veth_rtt, pm_tp, pm_rtt = [], [], [], [], [], []
        for _ in range(rounds):
            pod_tp.append(_iperf("mpb-na", "mpb-nb", ip_a))
            veth_tp.append(_iperf("mpb-va", "mpb-vb", "10.241.0.1"))
            pod_rtt.append(_rtt("mpb-nb", ip_a))
            veth_rtt.append(_rtt("mpb-vb", "10.241.0.1"))
            if podman:
                pm_tp.append(_iperf(podman["a_ns"], podman["b_ns"], podman["a_ip"]))
                pm_rtt.append(_rtt(podman["b_ns"], podman["a_ip"]))
        out = {"pod_gbps": stats(pod_tp), "veth_gbps": stats(veth_tp), "pod_rtt_ms": stats(pod_rtt),
               "veth_rtt_ms": stats(veth_rtt),
               "throughput_ratio": statistics.median(pod_tp) / statistics.median(veth_tp),
               "rtt_ratio": statistics.median(pod_rtt) / statistics.median(veth_rtt)}
        if podman:
            out.update(podman_gbps=stats(pm_tp), podman_rtt_ms=stats(pm_rtt),
                       vs_podman_throughput=statistics.median(pod_tp) / statistics.median(pm_tp),
                       vs_podman_rtt=statistics.median(pod_rtt) / statistics.median(pm_rtt))
        return out
    finally:
        if podman:
            sh(PODMAN + ["pod", "rm", "-f", "tpa", "tpb"], check=False)
        sh(MINIPOD + ["pod", "rm", "-f", "na", "nb"], check=False)
        sh(["ip", "netns", "del", "mpb-va"], check=False)
        sh(["ip", "netns", "del", "mpb-vb"], check=False)


def interpreter_floor(repeat):
    py = str(REPO / ".venv" / "bin" / "python")
    return [compare("python -c 'import click'", lambda: sh([py, "-c", "import click"]), None, repeat),
            compare("python -c 'import pyroute2'", lambda: sh([py, "-c", "import pyroute2"]), None, repeat),
            compare("minipod --version (CLI start-up)", lambda: sh(MINIPOD + ["--version"]), None, repeat)]


# ------------------------------------------------------------------ report

def machine() -> str:
    mem = next(l for l in open("/proc/meminfo") if l.startswith("MemTotal")).split()[1]
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    osr = dict(l.strip().split("=", 1) for l in open("/etc/os-release") if "=" in l)
    versions = []
    for tool, args in (("podman", ["--version"]), ("runc", ["--version"])):
        if have(tool):
            versions.append(sh([tool] + args).stdout.splitlines()[0])
    commit = sh(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    return (f"minipod {commit}; {os.cpu_count()} CPUs ({model}), {int(mem) // 1024 // 1024} GiB, "
            f"{osr.get('PRETTY_NAME', '').strip(chr(34))}, "
            f"kernel {platform.release()}, Python {platform.python_version()} (venv on /usr/bin/python3); "
            + "; ".join(versions))


def fmt(s) -> str:
    return f"{s['median']:.1f} ({s['min']:.1f}–{s['max']:.1f})"


def goals(results) -> list:
    """(measure, goal, measured, met) for each goal of issue 24 this run measured."""
    rows = {r["name"]: r for r in results["timings"]}
    out = []

    def ratio_goal(measure, name, limit):
        r = rows.get(name)
        if r and "ratio" in r:
            value = r["ratio"]["median"]
            out.append((measure, f"≤ {limit}x", f"{value:.2f}x", value <= limit))

    ratio_goal("`run --rm busybox true`, default network, vs podman", "run --rm busybox true (default network)", 0.4)
    ratio_goal("`run --rm --network none busybox true` vs podman", "run --rm --network none busybox true", 0.3)
    ratio_goal("`run --rm --pod P busybox true` vs podman", "run --rm --pod P busybox true", 0.25)
    for name, key, label in (("pod create + rm, no ports (podman: + pod start)", "cni_floor", "no ports"),
                             ("pod create + rm, -p 18180:80 (podman: + pod start)", "cni_floor_ports", "-p")):
        ratio_goal(f"`pod create` + `pod rm`, {label}, vs podman", name, 0.5)
        if name in rows:
            value = rows[name]["a"]["median"] / results[key]["total"]["median"]
            out.append((f"`pod create` + `pod rm`, {label}, vs the plugins' own ADD+DEL", "≤ 1.1x", f"{value:.2f}x",
                        value <= 1.1))
    for verb in ("ps", "pod ls", "get pods"):
        ratio_goal(f"`{verb}` vs `podman ps`", f"{verb} (3 pods) vs podman ps (3 containers)", 0.3)
    ratio_goal("`kubectl get pods` against minipod vs `minipod get pods`",
               "kubectl get pods (minipod's API) vs minipod get pods", 1.0)
    sc = results["scale"]
    at50 = sc["memory"].get(50) or sc["memory"].get("50")
    if at50:
        value = at50["pss_per_pod_with_agent_kb"] / 1024
        out.append(("PSS per pod at 50 pods, every minipod process counted (pauses + agent)", "≤ 1.35 MB",
                    f"{value:.2f} MB", value <= 1.35))
    for n, limit in ((50, 1.1), (500, 1.3)):
        value = sc.get("ratio_at", {}).get(n) or sc.get("ratio_at", {}).get(str(n))
        if value:
            out.append((f"pod create: the {n}th vs the 1st (medians of 3)", f"≤ {limit}x", f"{value:.2f}x",
                        value <= limit))
    ratio_goal("`run -d` of 20 containers at once, wall time, vs podman", "run -d of 20 containers at once (wall time)",
               0.5)
    return out


def report(results) -> str:
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "", f"Machine: {results['machine']}", ""]
    lines += [f"Notes: {n}" for n in results["notes"]] + ([""] if results["notes"] else [])
    lines += ["| operation | minipod ms, median (min–max) | reference ms | ratio (median of pairs) |",
              "|---|---|---|---|"]
    for r in results["timings"]:
        ref = fmt(r["b"]) if "b" in r else "–"
        ratio = f"{r['ratio']['median']:.2f}x ({r['ratio']['min']:.2f}–{r['ratio']['max']:.2f})" if "ratio" in r else "–"
        lines.append(f"| {r['name']} | {fmt(r['a'])} | {ref} | {ratio} |")
    for key, label in (("cni_floor", "CNI plugins alone, no ports"), ("cni_floor_ports", "CNI plugins alone, one port")):
        f = results[key]
        lines.append(f"| {label}: ADD / DEL / ADD+DEL | {fmt(f['add'])} / {fmt(f['del'])} / {fmt(f['total'])} | | |")
    pods = {r["name"]: r for r in results["timings"]}
    for name, key in (("pod create + rm, no ports (podman: + pod start)", "cni_floor"),
                      ("pod create + rm, -p 18180:80 (podman: + pod start)", "cni_floor_ports")):
        if name in pods:
            ratio = pods[name]["a"]["median"] / results[key]["total"]["median"]
            lines.append(f"| {name.split(' (')[0]} vs the plugins' own ADD+DEL | | | {ratio:.2f}x |")
    sc = results["scale"]
    lines += ["", f"Scale: pod create median of the first 3 = {sc['first3_median_ms']:.1f} ms, "
                  f"of the last 3 (to pod {len(sc['create_ms'])}) = {sc['last3_median_ms']:.1f} ms, "
                  f"ratio {sc['ratio_last_first']:.2f}x.", ""]
    lines += ["| pods running | pause processes | PSS of the pauses | per pod | agent PSS | per pod, agent counted once |",
              "|---|---|---|---|---|---|"]
    for m in sc["memory"].values():
        lines.append(f"| {m['pods']} | {m['pause_processes']} | {m['pss_total_kb'] / 1024:.1f} MB | "
                     f"{m['pss_per_pod_kb'] / 1024:.2f} MB | {m.get('agent_pss_kb', 0) / 1024:.1f} MB | "
                     f"{m.get('pss_per_pod_with_agent_kb', m['pss_per_pod_kb']) / 1024:.2f} MB |")
    lines += ["", "Chart: bench/pods-scale.svg (pod create time against the number of pods)"]
    lines += ["", "Goals of issue 24:", "", "| measure | goal | measured | met |", "|---|---|---|---|"]
    lines += [f"| {m} | {g} | {v} | {'yes' if ok else 'no'} |" for m, g, v, ok in goals(results)]
    net = results["network"]
    if "pod_gbps" in net:
        lines += ["", "| path | TCP throughput Gbit/s | ping RTT ms |", "|---|---|---|",
                  f"| pod to pod over the bridge | {fmt(net['pod_gbps'])} | {net['pod_rtt_ms']['median']:.3f} |",
                  f"| raw veth pair | {fmt(net['veth_gbps'])} | {net['veth_rtt_ms']['median']:.3f} |",
                  f"| minipod / raw veth | {net['throughput_ratio']:.2f}x | {net['rtt_ratio']:.2f}x |"]
        if "podman_gbps" in net:
            lines += [f"| podman pod to pod (netavark bridge) | {fmt(net['podman_gbps'])} | "
                      f"{net['podman_rtt_ms']['median']:.3f} |",
                      f"| minipod / podman | {net['vs_podman_throughput']:.2f}x | {net['vs_podman_rtt']:.2f}x |"]
    else:
        lines += ["", net.get("note", "")]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--pods", type=int, default=500, help="pods of the scale run (checkpoints at 1, 10, 50, 500)")
    parser.add_argument("--record", action="store_true", help="append the report to bench/RESULTS.md")
    parser.add_argument("--settle", type=float, default=SETTLE, help="seconds of quiet before each timed run")
    args = parser.parse_args()
    globals()["SETTLE"] = args.settle
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    results = {"machine": machine(), "notes": []}
    try:
        results["notes"] += setup()
        results["timings"] = bench_run(args.repeat) + bench_isolation(args.repeat) + bench_pods(args.repeat)
        results["timings"] += bench_queries(args.repeat)
        results["timings"].append(bench_burst(max(3, args.repeat // 3)))
        results["timings"].append(container_floor(args.repeat))
        results["timings"] += interpreter_floor(args.repeat)
        results["cni_floor"] = cni_floor(args.repeat, ports=False)
        results["cni_floor_ports"] = cni_floor(args.repeat, ports=True)
        results["scale"] = bench_scale(args.pods)
        results["network"] = bench_network()
    finally:
        teardown()
    text = report(results)
    print(text)
    from chart import svg
    create = results["scale"]["create_ms"]
    (REPO / "bench" / "pods-scale.svg").write_text(svg(
        [("pod create (with its pause, netns and CNI ADD), one after another", {
            "pod create": [(i + 1, ms) for i, ms in enumerate(create)]}, False, "ms")],
        xlabel="the pod's number (pods already running + 1)"))
    (REPO / "bench" / "results-latest.json").write_text(json.dumps(results, indent=2))
    if args.record:
        path = REPO / "bench" / "RESULTS.md"
        head = "" if path.exists() else (
            "# minipod benchmark results\n\nProduced by `bench/run.py --record` (see its docstring); "
            "newest last. Ratios are minipod / reference, computed pair by pair within one run.\n\n")
        with open(path, "a") as f:
            f.write(head + text + "\n")


if __name__ == "__main__":
    main()
