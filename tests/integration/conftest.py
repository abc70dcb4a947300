"""Integration fixtures: root only, the real busybox image imported into the
test root, per-test cleanup through the CLI, and a final leak check."""

import glob
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, TEST_ENV, TEST_ROOT

if os.geteuid() != 0:
    pytest.skip("integration tests need root (namespaces, mounts, CNI plugins); "
                "run them through scripts/test as root", allow_module_level=True)

MP = [sys.executable, "-m", "minipod"]
TEST_NET_MARK = 'name: \\"mpt'  # iptables comments of the test networks' rules


def mp(*args, check=True, timeout=60, input=None, text=True, env=None):
    """Run the real CLI against the test root; return CompletedProcess."""
    full_env = {**os.environ, **TEST_ENV, **(env or {})}
    proc = subprocess.run(MP + [str(a) for a in args], capture_output=True, text=text, input=input,
                          timeout=timeout, env=full_env, cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"minipod {' '.join(map(str, args))} exited {proc.returncode}:\n"
                             f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


CURRENT_KUBECTL = "/var/cache/minipod/kubectl-current/kubectl"  # 1.35 (scripts/setup-kubectl)


def with_current_kubectl(env: dict) -> dict:
    """``env`` with the current kubectl first on PATH, where there is one: the
    one scripts/setup-kubectl puts on a machine that has none, whose output
    the docs show (kubectl 1.33 and later word `delete` differently)."""
    if not os.access(CURRENT_KUBECTL, os.X_OK):
        return env
    return {**env, "PATH": os.path.dirname(CURRENT_KUBECTL) + os.pathsep + env.get("PATH", os.environ["PATH"])}


def has_cap_sys_resource() -> bool:
    """Whether this root may lower an OOM score (some roots lack the capability)."""
    with open("/proc/self/status") as f:
        eff = int(next(line for line in f if line.startswith("CapEff:")).split()[1], 16)
    return bool(eff & (1 << 24))  # CAP_SYS_RESOURCE


def mp_json(*args):
    return json.loads(mp(*args).stdout)


def sh(cmd, check=True, timeout=30):
    """A host command (ip, iptables, nsenter, curl)."""
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}: {proc.stderr}")
    return proc


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def pod_ip(name):
    return mp_json("pod", "inspect", name)[0]["IPAddress"].split("/")[0]


def netns_pins():
    """The names pinned in /run/netns (which exists only after a first pin)."""
    return sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []


def state_snapshot():
    """What a refused command must leave unchanged: containers, pods,
    networks, images, netns pins, nat rules and every file of the test root."""
    # The stores' own directories (lib/containers, run/pods ...) appear on
    # first use and hold nothing by themselves; locks come and go. The
    # node process a first `run` started is let finish starting.
    settle()
    files = sorted(str(rel) for rel in (p.relative_to(TEST_ROOT) for p in TEST_ROOT.rglob("*"))
                   if len(rel.parts) > 2 and "locks" not in rel.parts and rel.name != "lock")
    return {
        "ps": mp("ps", "-a", "--format", "json").stdout, "pods": mp("pod", "ls", "--format", "json").stdout,
        "networks": mp("network", "ls").stdout,
        "images": [l.split()[:2] for l in mp("image", "ls").stdout.splitlines()],
        "pins": netns_pins(),
        "nat": sorted(l for l in sh("iptables-save -t nat").stdout.splitlines() if l.startswith("-A")),
        "files": files,
    }


def running_agent():
    """The pid of the test root's agent (the node process) while it runs, else None."""
    try:
        pid = json.loads((TEST_ROOT / "run" / "agent" / "pid").read_text())["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if os.path.exists(f"/proc/{pid}") else None


def settle(timeout=30.0):
    """Until the node process has finished what commands left to it (the
    teardown of a `run --rm` goes on after the command returned): no removal
    under way, no worker nor pod teardown (the agent's, kubelet/teardown.py)
    left, and an agent that a command started in the background serving. A
    check right after a command waits for this, as a user's next look would
    find it done."""
    removing = TEST_ROOT / "lib" / "pods-removing"

    def settled():
        agent = running_agent()
        return not (removing.is_dir() and any(removing.iterdir())) and \
            set(agent_processes()) <= {agent} and not agent_processes(b"minipod.roles.kubelet.teardown") and \
            (agent is None or (TEST_ROOT / "run" / "agent" / "node.sock").exists())
    try:
        wait_for(settled, timeout=timeout, what="the node process's work to end")
    except AssertionError:
        pass  # what is still there is reported as a leak


def leaks(agent_ok=True):
    """Everything the suite may have left, by kind (empty when clean); the
    running agent itself counts only with ``agent_ok=False`` (the suite's
    end): `run` starts it, as dockerd would be running."""
    settle()
    found = [line for line in mp("gc", "--dry-run", check=False).stdout.splitlines() if line]
    pins = [p for p in os.listdir("/run/netns") if p.startswith("mpt-")] if os.path.isdir("/run/netns") else []
    found += [f"netns pin {p}" for p in pins]
    nat = sh("iptables-save -t nat").stdout
    found += [f"nat rule {l}" for l in nat.splitlines() if TEST_NET_MARK in l]
    filt = sh("iptables-save -t filter").stdout
    found += [f"filter rule {l}" for l in filt.splitlines() if " 10.231." in l or TEST_NET_MARK in l]
    for d in (TEST_ROOT / "lib" / "cni" / "results", ):
        if d.is_dir():
            found += [f"cni cache {p.name}" for p in d.iterdir()]
    ipam = TEST_ROOT / "lib" / "cni" / "networks"
    if ipam.is_dir():
        for net in ipam.iterdir():
            found += [f"ip file {net.name}/{f.name}" for f in net.iterdir()
                      if f.name[0].isdigit()]
    with open("/proc/mounts") as f:
        found += [f"mount {l.split()[1]}" for l in f if str(TEST_ROOT) in l]
    found += [f"cgroup {d}" for d in leftover_cgroups()]
    found += [f"agent process {pid}" for pid in agent_processes() if not (agent_ok and pid == running_agent())]
    found += [f"API server process {pid}" for pid in agent_processes(b"minipod.apiserver")]
    found += [f"CRI server process {pid}" for pid in agent_processes(b"minipod.cri")]
    found += [f"cluster process {pid}" for name in (b"etcd", b"kube-apiserver", b"kube-controller-manager",
                                                    b"kube-scheduler", b"kubelet", b"kube-proxy")
              for pid in agent_processes(name)]
    for table in ("nat", "filter"):
        found += [f"{table} chain {l}" for l in sh(f"iptables-save -t {table}").stdout.splitlines()
                  if l.startswith(":MPTK-") or "-j MPTK-" in l]
    for device in ("mptsvc0", "mptkube0"):  # minipod's service proxy's, the test cluster node's
        if sh(f"ip link show {device}", check=False).returncode == 0:
            found.append(f"service device {device}")
    for table in ("mptk-proxy", "mptk-netpol"):  # the proxy's, the NetworkPolicy rules'
        if sh(f"nft list table ip {table}", check=False).returncode == 0:
            found.append(f"nftables table ip {table}")
    found += [f"ipset {s}" for s in sh("ipset list -n", check=False).stdout.split() if s.startswith("MPTK-")]
    found += [f"dnsmasq {l}" for l in sh("pgrep -af dnsmasq", check=False).stdout.splitlines() if str(TEST_ROOT) in l]
    vols = TEST_ROOT / "lib" / "volumes"
    if vols.is_dir():
        found += [f"volume {v.name}" for v in vols.iterdir()]
    gateways = TEST_ROOT / "lib" / "gateways"  # a Gateway's nginx configuration (roles/gateway)
    if gateways.is_dir():
        found += [f"gateway configuration {g.name}" for g in gateways.iterdir()]
    veths = sh("ip -o link show", check=False).stdout
    found += [f"veth on test bridge: {l.split(':')[1].strip()}" for l in veths.splitlines()
              if " master mpt" in l]
    return found


def leftover_cgroups():
    """Every directory below the test cgroup parent, in every hierarchy."""
    parent = TEST_ENV["MINIPOD_CGROUP_PARENT"]
    out = []
    for top in sorted({os.path.realpath(p) for p in glob.glob("/sys/fs/cgroup/*/")} | {"/sys/fs/cgroup"}):
        base = os.path.join(top, parent)
        if os.path.isdir(base):
            out += [root for root, _dirs, _files in os.walk(base) if root != base]
    return out


def agent_processes(module=b"minipod.node"):
    """Agents (or API servers) of this test root still alive (by their environment)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if module not in f.read():
                    continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"MINIPOD_ROOT={TEST_ROOT}".encode() in f.read().split(b"\0"):
                    out.append(int(pid))
        except OSError:
            pass
    return out


def remove_everything():
    """Stop the agent first (it would restart or re-create what goes next),
    drop every object, then remove containers and pods."""
    if (TEST_ROOT / "run" / "agent").exists():
        mp("agent", "stop", check=False)
    shutil.rmtree(TEST_ROOT / "lib" / "objects", ignore_errors=True)
    if sh("ip link show mptsvc0", check=False).returncode == 0 or \
            sh("nft list table ip mptk-proxy", check=False).returncode == 0:
        from minipod.roles import clusterdns, proxy  # what the agent does after the last service and pod
        clusterdns.stop()
        proxy.cleanup()
    from minipod.roles import policy
    if policy.leftovers():  # what the agent does after the last NetworkPolicy
        policy.cleanup()
    for cid in mp("ps", "-aq", check=False).stdout.split():
        mp("rm", "-f", cid, check=False)
    for pid in mp("pod", "ls", "-q", check=False).stdout.split():
        mp("pod", "rm", "-f", pid, check=False)
    settle()  # the next test starts on a node whose teardowns are done


def remove_test_cgroup_parent():
    """The parent itself (empty once the leak check passed) in every hierarchy."""
    for top in {os.path.realpath(p) for p in glob.glob("/sys/fs/cgroup/*/")} | {"/sys/fs/cgroup"}:
        try:
            os.rmdir(os.path.join(top, TEST_ENV["MINIPOD_CGROUP_PARENT"]))
        except FileNotFoundError:
            pass


@pytest.fixture(scope="session", autouse=True)
def busybox_image():
    """The real busybox image, built from busybox-static, in the test root;
    after the whole session: remove test networks and assert no leaks."""
    tarball = TEST_ROOT / "busybox.tar.gz"
    subprocess.run([sys.executable, str(REPO / "images" / "build-busybox.py"), str(tarball)],
                   check=True, capture_output=True)
    mp("image", "import", tarball, "busybox")
    yield "busybox"
    mp("api", "stop", check=False)
    mp("cri", "stop", check=False)
    remove_everything()
    for line in mp("network", "ls").stdout.splitlines()[1:]:
        mp("network", "rm", line.split()[1], check=False)
    left = leaks(agent_ok=False)
    bridges = [l for l in sh("ip -o link show type bridge").stdout.splitlines() if ": mpt" in l]
    assert not left and not bridges, "leaks after the test suite:\n" + "\n".join(left + bridges)
    remove_test_cgroup_parent()
    shutil.rmtree(TEST_ROOT)  # only once clean: a failed run keeps its root to look at


@pytest.fixture(autouse=True)
def clean_after_each_test():
    yield
    remove_everything()


@pytest.fixture(params=["local", "node"])
def via(request, monkeypatch):
    """The same test both ways a command runs: in the client's own process
    (MINIPOD_LOCAL=1), and in a worker of the running node process."""
    if request.param == "node":
        mp("agent", "start")  # returns once it serves commands
    else:
        monkeypatch.setenv("MINIPOD_LOCAL", "1")
    return request.param


def take_free_range(cidr):
    """Before a test puts ``cidr`` on a host veth: nothing of the host's own
    routes or reaches it (its resolvers, proxy, package mirror, open
    connections), so the host is never cut off from them meanwhile."""
    from minipod import hostnet
    why = hostnet.conflicts(cidr)
    assert not why, f"the test's range {cidr} is the host's own: {why}"
    return cidr


@pytest.fixture
def outside():
    """An outside client namespace at 198.18.101.130, the node at .129
    (198.18.0.0/15, benchmarking's range: no host of anyone's)."""
    take_free_range("198.18.101.128/25")
    sh("ip netns add mpt-out && ip link add mpto-h type veth peer name mpto-x netns mpt-out")
    sh("ip addr add 198.18.101.129/25 dev mpto-h && ip link set mpto-h up")
    sh("ip -n mpt-out addr add 198.18.101.130/25 dev mpto-x && ip -n mpt-out link set mpto-x up "
       "&& ip -n mpt-out link set lo up && ip -n mpt-out route add default via 198.18.101.129")
    yield "198.18.101.129"
    sh("ip link del mpto-h", check=False)
    sh("ip netns del mpt-out", check=False)
