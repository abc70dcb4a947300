"""A cluster node's NetworkPolicy controller, in kube-router's role:
`python -m minipod.cluster.netpol`, started by `minipod cluster join` on
every node. Every 2 seconds it reads the Pods, Namespaces and
NetworkPolicies from kube-apiserver with the kubelet's credentials
(bootstrap.py grants the policy and namespace part; pods are the node's to
read already) and loads this node's rules with the rule builder of
minipod's own agent (minipod.roles.policy): peers are pods on any node
(the pod network routes their addresses across nodes), the chains are
those of this node's pods. So cross-node traffic is filtered on the
destination pod's node (its ingress) and on the source pod's (its egress),
as kube-router does it. A new pod's address is taken from its sandbox on
this node (the CRI's records) before the kubelet reports it, and the CRI's
RunPodSandbox wakes this process and waits for a pass (roles/policy/link.py),
so no container of a pod starts before its rules. On SIGTERM the rules go.
"""

import sys

from minipod.cluster import config_dir, kubelet_client_cert, processes, settings
from minipod.cluster.client import Client
from minipod.cluster.events import NodeEvents

INTERVAL = 2.0
GROUP = "/apis/networking.k8s.io/v1"
DONE = ("Succeeded", "Failed")  # a pod that ended holds no address


def _local_addresses() -> dict:
    """{(namespace, name): address} of this node's sandboxes (the CRI's
    records): a pod's address is known here as soon as its sandbox has a
    network, before the kubelet puts it in the pod's status."""
    from minipod.core import pod
    out = {}
    for rec in pod.store().all():
        meta = (rec.get("cri") or {}).get("metadata")
        if meta and rec.get("ip"):
            out[(meta["namespace"], meta["name"])] = rec["ip"].split("/")[0]
    return out


def pods_of(items: list, me: str = None) -> tuple:
    """([resolve.Pod] of every pod with an address of its own, {ip: node name});
    ``me``: this node, whose pods' addresses come from its sandboxes too."""
    from minipod.roles.policy import resolve
    out, nodes = [], {}
    local = _local_addresses() if me else {}
    for obj in items:
        spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj["metadata"]
        ip = status.get("podIP") or (local.get((meta["namespace"], meta["name"]))
                                     if spec.get("nodeName") == me else None)
        if spec.get("hostNetwork") or not ip or status.get("phase") in DONE:
            continue
        out.append(resolve.pod_of(obj, ip))
        nodes[ip] = spec.get("nodeName")
    return out, nodes


class Controller:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.api = Client(cfg["server"], ca_file=str(config_dir() / "ca.crt"), cert_file=kubelet_client_cert())
        self.last = None

    def log(self, text: str) -> None:
        print(text, flush=True)

    def setup(self) -> None:
        import os
        from minipod.roles.policy import link
        link.register(os.getpid())  # the CRI wakes this process for each new sandbox, and waits for a pass

    def sync(self) -> None:
        import time
        from minipod.roles.policy import link
        began = time.time()
        self._sync()
        link.passed(began)

    def _sync(self) -> None:
        from minipod.roles import policy
        from minipod.roles.policy import resolve
        policies = self.api.get(f"{GROUP}/networkpolicies")["items"]
        if not policies:
            if self.last != "clean":
                policy.cleanup()
                self.last = "clean"
            return
        pods, nodes = pods_of(self.api.get("/api/v1/pods")["items"], self.cfg["node_name"])
        namespaces = {o["metadata"]["name"]: o["metadata"].get("labels") or {}
                      for o in self.api.get("/api/v1/namespaces")["items"]}
        plan = resolve.plan(policies, pods, namespaces)
        me = self.cfg["node_name"]
        plan.isolated = {key: pols for key, pols in plan.isolated.items() if nodes.get(key[1].ip) == me}
        did = policy.write(plan)
        self.last = "written"
        if did:
            self.log(f"netpol: {did} for {len(policies)} policies, {len(plan.isolated)} isolations of this "
                     "node's pods")

    def teardown(self) -> None:
        from minipod.roles import policy
        from minipod.roles.policy import link
        link.unregister()
        policy.cleanup()


def start(cfg) -> None:
    """`cluster join`'s step: this node's policy controller, as a process of its own."""
    processes.start_own("netpol", "minipod.cluster.netpol", "the node's policy controller")


def stop() -> bool:
    """`cluster leave`'s step: the controller stopped and its rules gone, also
    when it was killed (no rule of a policy outlives the node)."""
    from minipod.roles import policy
    stopped = processes.stop("netpol")
    policy.cleanup()
    return stopped


def main() -> int:
    ctl = Controller(settings())
    return processes.run_passes(ctl, "netpol", INTERVAL, events=NodeEvents(
        ctl.api, ctl.cfg["node_name"], "minipod-netpol", "FailedToSyncNetworkPolicies"))


if __name__ == "__main__":
    sys.exit(main())
