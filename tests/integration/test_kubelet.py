"""The real kubelet (1.20.2, built from Debian's kubernetes source by
scripts/build-kubernetes, cached) on minipod through the CRI, standalone:
static pods from a manifest directory, no API server. It runs the pod
(pause sandbox and CNI network from RunPodSandbox, the container from
CreateContainer/StartContainer), writes `kubectl logs`' file through
minipod's CRI log writer, restarts a crashing container with its own
back-off while the sandbox keeps its IP, and removes the pod and its
network when the manifest goes.

Marked `kubelet`: the first run builds the kubelet (about 5 minutes on
these machines, then cached); `./scripts/test -m "not kubelet"` skips it.

The kubelet 1.20 writes a few host paths of its own whatever its flags:
/var/log/pods/<pod> (its pods' logs) and /var/lib/kubelet/device-plugins;
the test removes what it made of them, and runs the kubelet with
--make-iptables-util-chains=false so that it adds no KUBE-* chain."""

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, TEST_ROOT
from tests.integration.conftest import has_cap_sys_resource, mp, mp_json, sh, wait_for

pytestmark = pytest.mark.kubelet

KUBELET_ROOT = TEST_ROOT / "kubelet"
MANIFESTS = KUBELET_ROOT / "manifests"
NODE = "mptnode"
HELLO = """apiVersion: v1
kind: Pod
metadata: {name: hello, namespace: default}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "echo hello from the kubelet; while true; do sleep 1; done"]
"""
CRASHER = """apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: default}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "echo run; sleep 1; exit 3"]
"""


def _iptables_kube_chains() -> list:
    return [l for t in ("filter", "nat", "mangle") for l in sh(f"iptables-save -t {t}").stdout.splitlines()
            if l.startswith(":KUBE-")]


@pytest.fixture(scope="module")
def kubelet():
    build = subprocess.run([str(REPO / "scripts" / "build-kubernetes"), "kubelet"], capture_output=True, text=True)
    assert build.returncode == 0, f"scripts/build-kubernetes kubelet failed:\n{build.stderr[-3000:]}"
    binary = build.stdout.split()[-1]
    had = {p: os.path.exists(p) for p in ("/var/lib/kubelet", "/var/log/pods")}
    chains_before = _iptables_kube_chains()
    from minipod.cluster import tunables
    saved = tunables.snapshot()  # the kubelet sets vm.overcommit_memory, kernel.panic... on its node
    endpoint = mp("cri", "start").stdout.strip()
    MANIFESTS.mkdir(parents=True)
    log = open(KUBELET_ROOT / "kubelet.log", "w")
    proc = subprocess.Popen(
        [binary, "--container-runtime=remote", f"--container-runtime-endpoint={endpoint}",
         f"--pod-manifest-path={MANIFESTS}", f"--root-dir={KUBELET_ROOT / 'root'}",
         f"--cert-dir={KUBELET_ROOT / 'pki'}", f"--volume-plugin-dir={KUBELET_ROOT / 'volume-plugins'}",
         "--cgroup-driver=cgroupfs", "--cgroups-per-qos=false", "--enforce-node-allocatable=",
         "--fail-swap-on=false", "--make-iptables-util-chains=false", f"--hostname-override={NODE}",
         "--read-only-port=0", "--port=10291", "--healthz-port=0", "--file-check-frequency=1s",
         "--sync-frequency=2s", "--v=1"], stdout=log, stderr=log, start_new_session=True)
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
    for pid in mp("pod", "ls", "-q", check=False).stdout.split():  # a stopped kubelet leaves its pods
        mp("pod", "rm", "-f", pid, check=False)
    mp("cri", "stop", check=False)
    with open("/proc/mounts") as f:  # the kubelet makes its root dir a mount of its own
        mounts = [l.split()[1] for l in f if l.split()[1].startswith(str(KUBELET_ROOT))]
    for m in sorted(mounts, reverse=True):
        subprocess.run(["umount", "-l", m], check=False)
    for path in Path("/var/log/pods").glob(f"default_*-{NODE}_*"):
        shutil.rmtree(path, ignore_errors=True)
    for path, existed in had.items():
        if not existed:
            shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(KUBELET_ROOT, ignore_errors=True)
    tunables.restore(saved)
    assert _iptables_kube_chains() == chains_before, "the kubelet left iptables chains"


def _sandbox(name):
    pods = [p for p in mp_json("pod", "ls", "--format", "json") if p["Name"].startswith(f"default_{name}-{NODE}_")]
    return pods[0] if len(pods) == 1 else None


def _ready_sandbox(name):
    """The sandbox once RunPodSandbox has finished: it shows in `pod ls` from its first record on."""
    pod = _sandbox(name)
    return pod if pod and pod["Status"] == "running" and pod["IP"] else None


def _log_of(name) -> str:
    logs = sorted(Path("/var/log/pods").glob(f"default_{name}-{NODE}_*/app/*.log"))
    return "".join(p.read_text() for p in logs)


def test_a_static_pod_runs_on_minipod_and_goes_with_its_manifest(kubelet):
    (MANIFESTS / "hello.yaml").write_text(HELLO)
    sandbox = wait_for(lambda: _ready_sandbox("hello"), timeout=120, what="the kubelet's sandbox for hello")
    [rec] = mp_json("pod", "inspect", sandbox["Id"])
    assert rec["Labels"]["io.kubernetes.pod.name"] == "hello-" + NODE and rec["IPAddress"].startswith("10.231.0.")
    with open(f"/proc/{rec['PausePid']}/status") as f:  # minipod's pause is the sandbox, PID 1 of the pod
        assert f.read().split("NSpid:")[1].splitlines()[0].split()[-1] == "1"
    wait_for(lambda: " stdout F hello from the kubelet\n" in _log_of("hello"), timeout=60,
             what="the container's line in the kubelet's log, in the CRI format")
    # The kubelet's OOM score for the container, through the CRI's resources: a
    # static pod is critical to it (-997, as Guaranteed), else BestEffort's 1000.
    # Its processes have it; below 0 only with CAP_SYS_RESOURCE, else as low
    # as the kernel allows (0: procfs.set_own_oom_score_adj).
    [app] = [c for c in mp_json("ps", "--format", "json") if c["Name"].startswith(sandbox["Name"])]
    info = mp_json("inspect", app["Id"])[0]
    asked = info["HostConfig"]["OomScoreAdj"]
    with open(f"/proc/{info['State']['Pid']}/oom_score_adj") as f:
        assert asked in (-997, 1000) and int(f.read()) == (asked if asked > 0 or has_cap_sys_resource() else 0)
    (MANIFESTS / "hello.yaml").unlink()
    wait_for(lambda: _sandbox("hello") is None, timeout=120, what="the kubelet removing the pod")
    cache = TEST_ROOT / "lib" / "cni" / "results"
    assert not (cache.is_dir() and any(cache.iterdir())), "the removed pod's network is still attached"


def test_the_kubelet_restarts_a_crashing_container_and_the_sandbox_keeps_its_ip(kubelet):
    (MANIFESTS / "crasher.yaml").write_text(CRASHER)
    sandbox = wait_for(lambda: _ready_sandbox("crasher"), timeout=120, what="the kubelet's sandbox for crasher")
    ip = mp_json("pod", "inspect", sandbox["Id"])[0]["IPAddress"]

    def restarted():  # a container of attempt 2 (its name ends in _app_<attempt>): the back-off, 10 s then 20 s
        return any(c["Name"].startswith(sandbox["Name"]) and c["Name"].endswith("_app_2")
                   for c in mp_json("ps", "-a", "--format", "json"))
    wait_for(restarted, timeout=150, interval=1, what="the kubelet restarting the crashing container twice")
    again = _sandbox("crasher")
    assert again["Id"] == sandbox["Id"] and mp_json("pod", "inspect", again["Id"])[0]["IPAddress"] == ip
    assert " stdout F run\n" in _log_of("crasher")  # the kubelet keeps the logs of the last attempts only
    (MANIFESTS / "crasher.yaml").unlink()
    wait_for(lambda: _sandbox("crasher") is None, timeout=120, what="the kubelet removing the pod")
