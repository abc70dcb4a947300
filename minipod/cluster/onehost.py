"""Several cluster nodes on one host, as kind runs nodes in containers: each
node is a network namespace with an uplink veth on a shared "underlay"
bridge of the host, its own minipod state root (its CNI directory, pod
bridge, pod range, kubelet root and ports follow), and a mount namespace of
its own in which /var/log is a tmpfs (kubelet 1.20 keeps its pods' logs in
/var/log/pods whatever its flags and removes the directories of pods it
does not know, so two kubelets must not share it). The node code is the
same as on a machine of its own: `minipod cluster join`, run in the node's
namespaces. The tests and bench/multinode.py use this layout.

    with underlay({"ul0": "198.19.7.1"}):
        node = Node("node1", netns="n1", segment="ul0", address="198.19.7.11", root=..., env=...)
        node.up(gateway="198.19.7.1")
        node.mp("cluster", "join", server, "--token", ..., "--node-name", "node1", "--node-ip", node.address)
        ...
        node.down()
"""

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path


def sh(cmd: str, check: bool = True, timeout: float = 60):
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{cmd}: {proc.stderr.strip()}")
    return proc


@contextlib.contextmanager
def underlay(segments: dict, reserved=()):
    """The host's bridges of the node segments ({bridge: the host's address
    on it, a /24}), after checking that the host routes none of them nor
    ``reserved`` ranges nor reaches anything in them; removed on the way out."""
    from minipod import hostnet
    for cidr in [f"{a}/24" for a in segments.values()] + list(reserved):
        why = hostnet.conflicts(cidr)
        if why:
            raise RuntimeError(f"{cidr} is the host's own: {why}")
    made = []
    try:
        for bridge, address in segments.items():
            sh(f"ip link add {bridge} type bridge && ip addr add {address}/24 dev {bridge} && ip link set {bridge} up")
            made.append(bridge)
        yield
    finally:
        for bridge in made:
            sh(f"ip link del {bridge}", check=False)


class Node:
    """One node: ``name`` in the cluster, network namespace ``netns`` on
    ``segment`` with ``address``, minipod state under ``root``; ``env`` is
    the environment its minipod commands start from."""

    def __init__(self, name: str, netns: str, segment: str, address: str, root: Path, env: dict):
        self.name, self.netns, self.segment, self.address, self.root = name, netns, segment, address, Path(root)
        self.env = {**env, "MINIPOD_ROOT": str(self.root), "MINIPOD_CNI_CONF_DIR": str(self.root / "net.d"),
                    "MINIPOD_NETNS_PREFIX": f"{netns}-",
                    "MINIPOD_CGROUP_PARENT": f"{env.get('MINIPOD_CGROUP_PARENT', 'minipod')}-{netns}"}
        self.holder = None  # the process that keeps the node's mount namespace

    def enter(self) -> list:
        """The command prefix that runs in the node's namespaces (nsenter, not
        `ip netns exec`: that one mounts a sysfs of its own over the cgroups)."""
        return ["nsenter", f"--mount=/proc/{self.holder.pid}/ns/mnt", f"--net=/run/netns/{self.netns}"]

    def sh(self, cmd: str, check: bool = True, timeout: float = 60):
        proc = subprocess.run([*self.enter(), "sh", "-c", cmd], capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{self.name}: {cmd}: {proc.stderr.strip()}")
        return proc

    def mp(self, *args, check: bool = True, timeout: float = 300):
        """minipod in the node's namespaces, against its root."""
        args = [str(a) for a in args]
        proc = subprocess.run([*self.enter(), sys.executable, "-m", "minipod", *args], env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{self.name}: minipod {' '.join(args)}: {proc.stderr.strip()}")
        return proc

    def up(self, gateway: str) -> None:
        sh(f"ip netns add {self.netns}")
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                        f"mount -t tmpfs -o mode=755 {self.netns}-log /var/log && exec sleep infinity"],
                                       start_new_session=True)
        deadline = time.monotonic() + 10
        while "/var/log" not in _mounts_of(self.holder.pid):
            if time.monotonic() > deadline or self.holder.poll() is not None:
                raise RuntimeError(f"{self.name}: its mount namespace did not come up")
            time.sleep(0.02)
        sh(f"ip link add {self.netns}h type veth peer name eth0 netns {self.netns}")
        sh(f"ip link set {self.netns}h master {self.segment} up")
        for cmd in (f"ip addr add {self.address}/24 dev eth0", "ip link set eth0 up", "ip link set lo up",
                    f"ip route add default via {gateway}"):
            self.sh(cmd)

    def pod_netns(self, pod: str) -> str:
        """The network namespace of one of the node's pods, as a path the host can open."""
        import json
        [info] = json.loads(self.mp("pod", "inspect", pod).stdout)
        return f"/proc/{info['PausePid']}/ns/net"

    def down(self) -> None:
        """`minipod cluster down` on the node, then its namespaces go."""
        if self.holder is not None:
            self.mp("cluster", "down", check=False)
            self.holder.kill()
            self.holder.wait()
            self.holder = None
        sh(f"ip netns del {self.netns}", check=False)
        sh(f"ip link del {self.netns}h", check=False)
        remove_cgroup_parent(self.env["MINIPOD_CGROUP_PARENT"])


def cgroup_dirs(parent: str) -> list:
    """The directories of a cgroup parent, in every hierarchy, deepest first."""
    import glob
    out = []
    for top in sorted({os.path.realpath(p) for p in glob.glob("/sys/fs/cgroup/*/")} | {"/sys/fs/cgroup"}):
        base = os.path.join(top, parent)
        if os.path.isdir(base):
            out += [d for d, _subdirs, _files in os.walk(base, topdown=False)]
    return out


def remove_cgroup_parent(parent: str) -> None:
    """A node's own cgroup parent (the kubelet's kubepods below it too),
    once empty: what still holds a process stays, for the leak check."""
    for d in cgroup_dirs(parent):
        try:
            os.rmdir(d)
        except OSError:
            pass


def _mounts_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/mounts") as f:
            return " ".join(line.split()[1] for line in f)
    except OSError:
        return ""
