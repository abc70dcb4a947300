"""A cluster node's network agent, in flannel's role: `python -m
minipod.cluster.netagent`, started by `minipod cluster join` on the node.

Pods on one node reach pods on another with their own addresses (no NAT):
each Node object carries the pod range the controller-manager gave it
(spec.podCIDR) and its address; the agent keeps, on this node, a route to
every other node's range:

  host-gw  <range> via <node address>          the nodes share an L2 segment
  vxlan    <range> via <range>.0 dev minipod.1 onlink, the kernel's own vxlan
           device (VNI 1, UDP 8472 as flannel's), with a neighbour and an
           FDB entry per node: no L2 segment needed, only UDP between nodes

The routes carry protocol number 77 (`ip route show proto 77` lists them),
so that the agent only ever touches its own. What leaves the cluster's pod
range is masqueraded on the way out (chain MINIPOD-CLUSTER-MASQ; the
node's bridge masquerades nothing, minipod.cni.network.write_node_network).
Every 2 seconds it reads the Nodes from kube-apiserver with the kubelet's
credentials; a pass that fails is a Warning Event of its Node
(FailedToSyncRoutes, `kubectl get events`); on SIGTERM it takes everything
it made away.
"""

import ipaddress
import sys

from minipod import hostcmd
from minipod.cluster import config_dir, kubelet_client_cert, processes, settings
from minipod.cluster.client import Client
from minipod.cluster.events import NodeEvents

INTERVAL = 2.0
PROTO = "77"
VXLAN_DEVICE, VXLAN_ID, VXLAN_PORT = "minipod.1", "1", "8472"
MASQ_CHAIN = "MINIPOD-CLUSTER-MASQ"


def run(*args, check=True):
    """A host command; one that hangs is killed (hostcmd) and fails this pass, the next one tries again."""
    proc = hostcmd.run(list(args), timeout=hostcmd.command_timeout(), text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.strip()}")
    return proc


def vtep_mac(address: str) -> str:
    """A node's vxlan MAC, made from its address (locally administered, as
    OVN's 0a:58 prefix): every node computes every other's, no annotation needed."""
    return "0a:58:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(address).packed)


def gateway_of(pod_cidr: str) -> str:
    """A node's address on the vxlan overlay: its range's network address (flannel's .0)."""
    return str(ipaddress.ip_network(pod_cidr).network_address)


def peers(nodes: list, me: str) -> dict:
    """{node name: (pod range, address)} of every other node that has both."""
    out = {}
    for node in nodes:
        name = node["metadata"]["name"]
        cidr = node.get("spec", {}).get("podCIDR")
        addrs = [a["address"] for a in node.get("status", {}).get("addresses", []) if a["type"] == "InternalIP"]
        if name != me and cidr and addrs:
            out[name] = (cidr, addrs[0])
    return out


def desired_routes(peer_map: dict, backend: str) -> dict:
    """{pod range: the `ip route` arguments after it} for ``peer_map``."""
    if backend == "vxlan":
        return {cidr: ["via", gateway_of(cidr), "dev", VXLAN_DEVICE, "onlink"] for cidr, _ in peer_map.values()}
    return {cidr: ["via", address] for cidr, address in peer_map.values()}


def our_routes() -> dict:
    """{destination: the line of `ip route`} of the routes this agent made."""
    out = {}
    for line in run("ip", "-4", "route", "show", "proto", PROTO).stdout.splitlines():
        if line.split():
            out[line.split()[0]] = line
    return out


class Agent:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.backend = cfg.get("backend", "host-gw")
        self.api = Client(cfg["server"], ca_file=str(config_dir() / "ca.crt"), cert_file=kubelet_client_cert())
        self.fdb = {}  # peer address -> MAC, vxlan only

    def setup(self) -> None:
        cidr = self.cfg["cluster_cidr"]
        run("iptables", "-t", "nat", "-N", MASQ_CHAIN, check=False)
        rule = ["-s", cidr, "!", "-d", cidr, "-m", "comment", "--comment", "minipod cluster: leaving the pod range",
                "-j", "MASQUERADE"]
        if run("iptables", "-t", "nat", "-C", MASQ_CHAIN, *rule, check=False).returncode != 0:
            run("iptables", "-t", "nat", "-A", MASQ_CHAIN, *rule)
        if run("iptables", "-t", "nat", "-C", "POSTROUTING", "-j", MASQ_CHAIN, check=False).returncode != 0:
            run("iptables", "-t", "nat", "-A", "POSTROUTING", "-j", MASQ_CHAIN)
        if self.backend == "vxlan" and run("ip", "link", "show", VXLAN_DEVICE, check=False).returncode != 0:
            me = self.cfg["node_ip"]
            run("ip", "link", "add", VXLAN_DEVICE, "type", "vxlan", "id", VXLAN_ID, "local", me, "dstport",
                VXLAN_PORT, "nolearning")
            run("ip", "link", "set", VXLAN_DEVICE, "address", vtep_mac(me), "mtu", "1450", "up")

    def sync(self) -> None:
        nodes = self.api.get("/api/v1/nodes")["items"]
        peer_map = peers(nodes, self.cfg["node_name"])
        mine = [n for n in nodes if n["metadata"]["name"] == self.cfg["node_name"]]
        if self.backend == "vxlan" and mine and mine[0].get("spec", {}).get("podCIDR"):
            gw = gateway_of(mine[0]["spec"]["podCIDR"])
            run("ip", "addr", "replace", f"{gw}/32", "dev", VXLAN_DEVICE)
        want = desired_routes(peer_map, self.backend)
        have = our_routes()
        for dest in have:
            if dest not in want:
                run("ip", "route", "del", dest, "proto", PROTO, check=False)
        if self.backend == "vxlan":
            self._sync_fdb({address: cidr for cidr, address in peer_map.values()})
        # One route the kernel refuses (a node whose address no segment of
        # ours reaches) must not keep the others from being made.
        refused = []
        for dest, args in want.items():
            proc = run("ip", "route", "replace", dest, *args, "proto", PROTO, check=False)
            if proc.returncode != 0:
                refused.append(f"ip route replace {dest} {' '.join(args)}: {proc.stderr.strip()}")
        if refused:
            raise RuntimeError("; ".join(refused))

    def _sync_fdb(self, peer_ranges: dict) -> None:
        """A neighbour (the peer's .0 -> its MAC) and an FDB entry (its MAC ->
        its address) per peer; those of peers gone are removed."""
        for address, cidr in peer_ranges.items():
            mac = vtep_mac(address)
            run("ip", "neigh", "replace", gateway_of(cidr), "lladdr", mac, "dev", VXLAN_DEVICE, "nud", "permanent")
            run("bridge", "fdb", "replace", mac, "dev", VXLAN_DEVICE, "dst", address, "self", "permanent")
        for address in set(self.fdb) - set(peer_ranges):
            run("bridge", "fdb", "del", vtep_mac(address), "dev", VXLAN_DEVICE, "self", check=False)
        self.fdb = dict(peer_ranges)

    def teardown(self) -> None:
        for dest in our_routes():
            run("ip", "route", "del", dest, "proto", PROTO, check=False)
        run("ip", "link", "del", VXLAN_DEVICE, check=False)
        run("iptables", "-t", "nat", "-D", "POSTROUTING", "-j", MASQ_CHAIN, check=False)
        run("iptables", "-t", "nat", "-F", MASQ_CHAIN, check=False)
        run("iptables", "-t", "nat", "-X", MASQ_CHAIN, check=False)


def main() -> int:
    agent = Agent(settings())
    return processes.run_passes(agent, "netagent", INTERVAL, events=NodeEvents(
        agent.api, agent.cfg["node_name"], "minipod-netagent", "FailedToSyncRoutes"))


if __name__ == "__main__":
    sys.exit(main())
