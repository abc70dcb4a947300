#!/usr/bin/env python3
"""minipod's CRI server against containerd 1.6's CRI plugin (Debian's
containerd), through the same gRPC client (runtime.v1 stubs generated at
set-up from Debian's kubernetes source), in turns each round:

    RunPodSandbox -> CreateContainer (busybox sleep) -> StartContainer
    -> StopPodSandbox -> RemovePodSandbox

the time of each call and of the whole, and the memory of a running pod
(the PSS of every process the pod added: minipod's pause, log writer and
container; containerd's shim, pause and container), with the servers'
own RSS beside it.

usage (as root, after ./scripts/setup):
    .venv/bin/python bench/cri.py [--repeat 15] [--record]

containerd runs with a config, root, state and socket of its own, pointed
at the same CNI plugins and the same conflist as minipod (minipod's
default network in the bench's own root: bridge mpbcri0, 10.247.0.0/16,
host-local IPs in one data dir, so the two never take the same address).
Its sandbox image is Kubernetes' own pause, compiled from
build/pause/linux/pause.c of Debian's kubernetes source (static, gcc), and
its busybox image is minipod's busybox rootfs; both are written as OCI
archives by images/oci.py and imported with ctr: nothing is pulled.
Debian's containerd is installed if missing (no service is started).
"""

import argparse
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from common import record, runner

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "images"))
import oci  # noqa: E402  (the project's OCI archive writer)

ROOT = Path(tempfile.mkdtemp(prefix="mpbcri-"))
ENV = {**os.environ, "MINIPOD_ROOT": str(ROOT / "minipod"), "MINIPOD_CNI_CONF_DIR": str(ROOT / "net.d"),
       "MINIPOD_CGROUP_PARENT": "minipod-bench-cri", "MINIPOD_NETNS_PREFIX": "mpbc-",
       "MINIPOD_DEFAULT_NETWORK": "mpbcri", "MINIPOD_DEFAULT_BRIDGE": "mpbcri0",
       "MINIPOD_DEFAULT_SUBNET": "10.247.0.0/16"}
MINIPOD = [str(REPO / ".venv" / "bin" / "minipod")]
CONTAINERD_SOCK = ROOT / "containerd" / "containerd.sock"
PAUSE_REF, BUSYBOX_REF = "k8s.gcr.io/pause:3.6", "docker.io/library/busybox:latest"
STEPS = ("RunPodSandbox", "CreateContainer", "StartContainer", "StopPodSandbox", "RemovePodSandbox")


def containerd_config(cni_conf_dir: Path) -> str:
    d = ROOT / "containerd"
    return f"""version = 2
root = "{d / 'root'}"
state = "{d / 'state'}"
[grpc]
  address = "{CONTAINERD_SOCK}"
[ttrpc]
  address = "{d / 'ttrpc.sock'}"
[debug]
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_REF}"
  stream_server_port = "0"
  enable_selinux = false
  restrict_oom_score_adj = true  # root here lacks CAP_SYS_RESOURCE (pause asks for -998)
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni_conf_dir}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
"""


def build_images(sh) -> tuple:
    """The pause and busybox OCI archives for containerd."""
    src = next(Path("/var/cache/minipod/k8s-src").glob("kubernetes_*.orig.tar.gz"))
    with tarfile.open(src) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("build/pause/linux/pause.c"))
        (ROOT / "pause.c").write_bytes(tar.extractfile(member).read())
    sh(["gcc", "-Os", "-static", "-o", ROOT / "pause", ROOT / "pause.c", "-DVERSION=3.6"])
    pause_layer = oci.layer([oci.entry("pause", data=(ROOT / "pause").read_bytes(), mode=0o755)])
    pause = ROOT / "pause.oci.tar"
    oci.write_archive(pause, [pause_layer], {"Entrypoint": ["/pause"]}, ref=PAUSE_REF)
    import gzip
    busybox_layer = gzip.decompress((REPO / "build" / "busybox.tar.gz").read_bytes())
    busybox = ROOT / "busybox.oci.tar"
    oci.write_archive(busybox, [busybox_layer], {"Cmd": ["sh"]}, ref=BUSYBOX_REF)
    return pause, busybox


def start_containerd(sh, procs) -> None:
    if not shutil.which("containerd"):
        policy = Path("/usr/sbin/policy-rc.d")
        made = not policy.exists()
        if made:
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
        try:
            sh(["apt-get", "install", "-y", "-q", "containerd"], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        finally:
            if made:
                policy.unlink()
    (ROOT / "containerd").mkdir(parents=True)
    config = ROOT / "containerd" / "config.toml"
    config.write_text(containerd_config(ROOT / "net.d"))
    log = open(ROOT / "containerd" / "log", "wb")
    procs.append(subprocess.Popen(["containerd", "--config", str(config)], stdout=log, stderr=log,
                                  start_new_session=True))
    deadline = time.monotonic() + 30
    while not CONTAINERD_SOCK.exists():
        if time.monotonic() > deadline or procs[-1].poll() is not None:
            raise RuntimeError(f"containerd did not start: {(ROOT / 'containerd' / 'log').read_text()[-2000:]}")
        time.sleep(0.1)
    pause, busybox = build_images(sh)
    for archive in (pause, busybox):
        sh(["ctr", "-a", CONTAINERD_SOCK, "-n", "k8s.io", "images", "import", "--no-unpack", archive])
    listed = sh(["ctr", "-a", CONTAINERD_SOCK, "-n", "k8s.io", "images", "ls", "-q"]).stdout.split()
    for ref in (PAUSE_REF, BUSYBOX_REF):
        if ref not in listed:
            short = next(x for x in listed if x.endswith(ref.rsplit("/", 1)[1]) or x.endswith(ref.rsplit(":", 1)[1]))
            sh(["ctr", "-a", CONTAINERD_SOCK, "-n", "k8s.io", "images", "tag", short, ref])


def pss_kb(pids) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return total


def rss_kb(pid) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def all_pids() -> set:
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


class Runtime:
    """One CRI endpoint as the client sees it."""

    def __init__(self, name, endpoint, pb, stubs, server_pid):
        import grpc
        self.name, self.pb, self.server_pid = name, pb, server_pid
        channel = grpc.insecure_channel(endpoint)
        self.rt, self.im = stubs.RuntimeServiceStub(channel), stubs.ImageServiceStub(channel)

    def pod_round(self, n: int) -> tuple:
        """({step: seconds}, the pod's PSS in kB while it ran)."""
        pb = self.pb
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=f"bench-{n}", namespace="bench", uid=f"{self.name}-{n}", attempt=0),
            hostname=f"bench-{n}", log_directory=str(ROOT / "logs" / self.name / str(n)),
            linux=pb.LinuxPodSandboxConfig())
        ctr = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="app"), image=pb.ImageSpec(image=BUSYBOX_REF),
                                 command=["sleep", "3600"], log_path="app/0.log", linux=pb.LinuxContainerConfig())
        times, before = {}, all_pids()
        t = time.perf_counter()
        sid = self.rt.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
        times["RunPodSandbox"] = time.perf_counter() - t
        t = time.perf_counter()
        cid = self.rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sid, config=ctr,
                                                                sandbox_config=config)).container_id
        times["CreateContainer"] = time.perf_counter() - t
        t = time.perf_counter()
        self.rt.StartContainer(pb.StartContainerRequest(container_id=cid))
        times["StartContainer"] = time.perf_counter() - t
        time.sleep(0.3)  # settled: a fresh process's pages are still being faulted in
        pss = pss_kb(all_pids() - before)
        t = time.perf_counter()
        self.rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid))
        times["StopPodSandbox"] = time.perf_counter() - t
        t = time.perf_counter()
        self.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
        times["RemovePodSandbox"] = time.perf_counter() - t
        return times, pss


def fmt(values) -> str:
    return f"{statistics.median(values) * 1000:.1f} ({min(values) * 1000:.1f}–{max(values) * 1000:.1f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/cri.py runs as root")
    sh = runner(ENV)
    procs = []
    pb = importlib.import_module("minipod_cri.v1.api_pb2")
    stubs = importlib.import_module("minipod_cri.v1.api_pb2_grpc")
    try:
        sh(MINIPOD + ["image", "import", REPO / "build" / "busybox.tar.gz", "busybox"])
        sh(MINIPOD + ["network", "ls"])  # writes the default network's conflist, which containerd reads too
        endpoint = sh(MINIPOD + ["cri", "start"]).stdout.strip()
        import json
        minipod_pid = json.loads((ROOT / "minipod" / "run" / "cri" / "pid").read_text())["pid"]
        start_containerd(sh, procs)
        runtimes = [Runtime("minipod", endpoint, pb, stubs, minipod_pid),
                    Runtime("containerd", f"unix://{CONTAINERD_SOCK}", pb, stubs, procs[0].pid)]
        for r in runtimes:  # a first round each, not counted: caches, the first CNI ADD, containerd's snapshots
            r.pod_round(-1)
        results = {r.name: {"times": {s: [] for s in STEPS + ("total",)}, "pss": []} for r in runtimes}
        for n in range(args.repeat):
            for r in (runtimes if n % 2 == 0 else runtimes[::-1]):
                times, pss = r.pod_round(n)
                for step, value in times.items():
                    results[r.name]["times"][step].append(value)
                results[r.name]["times"]["total"].append(sum(times.values()))
                results[r.name]["pss"].append(pss)
        servers = {r.name: rss_kb(r.server_pid) for r in runtimes}
        version = sh(["containerd", "--version"]).stdout.split()[2]
        lines = [f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: the CRI against containerd (bench/cri.py)",
                 "", f"The same gRPC client (runtime.v1); containerd {version} with runc, its CRI plugin on the same "
                     f"CNI plugins and conflist; {args.repeat} rounds, the runtimes in turns.", "",
                 "| call | minipod ms, median (min–max) | containerd ms | ratio |", "|---|---|---|---|"]
        m, c = results["minipod"], results["containerd"]
        for step in STEPS + ("total",):
            ratio = statistics.median(m["times"][step]) / statistics.median(c["times"][step])
            lines.append(f"| {step} | {fmt(m['times'][step])} | {fmt(c['times'][step])} | {ratio:.2f}x |")
        lines += ["", f"Memory of a running pod (PSS of the processes it added, median): minipod "
                      f"{statistics.median(m['pss']) / 1024:.2f} MB, containerd {statistics.median(c['pss']) / 1024:.2f} MB. "
                      f"The servers' RSS after the rounds: minipod's CRI server {servers['minipod'] / 1024:.1f} MB, "
                      f"containerd {servers['containerd'] / 1024:.1f} MB.", ""]
        print("\n".join(lines))
        if args.record:
            record("\n".join(lines))
    finally:
        subprocess.run(MINIPOD + ["cri", "stop"], env=ENV, capture_output=True)
        for pid in subprocess.run(MINIPOD + ["pod", "ls", "-q"], env=ENV, capture_output=True,
                                  text=True).stdout.split():
            subprocess.run(MINIPOD + ["pod", "rm", "-f", pid], env=ENV, capture_output=True)
        for p in procs:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["pkill", "-f", f"containerd-shim-runc-v2 .*{ROOT}"], capture_output=True)
        _unmount_below(ROOT)
        subprocess.run(MINIPOD + ["network", "rm", "mpbcri"], env=ENV, capture_output=True)
        subprocess.run(MINIPOD + ["gc"], env=ENV, capture_output=True)
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(ROOT, ignore_errors=True)


def _unmount_below(top: Path) -> None:
    """containerd's snapshot and sandbox mounts (shm, rootfs) under its root."""
    prefix = str(top) + "/"
    with open("/proc/mounts") as f:
        mounts = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
    for target in sorted(mounts, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)


if __name__ == "__main__":
    main()
