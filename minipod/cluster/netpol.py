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
as kube-router does it. On SIGTERM the rules go.
"""

import sys

from minipod.cluster import config_dir, kubelet_client_cert, processes, settings
from minipod.cluster.client import Client
from minipod.cluster.events import NodeEvents

INTERVAL = 2.0
GROUP = "/apis/networking.k8s.io/v1"
DONE = ("Succeeded", "Failed")  # a pod that ended holds no address


def pods_of(items: list) -> tuple:
    """([resolve.Pod] of every pod with an address of its own, {ip: node name})."""
    from minipod.roles.policy import resolve
    out, nodes = [], {}
    for obj in items:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        if spec.get("hostNetwork") or not status.get("podIP") or status.get("phase") in DONE:
            continue
        out.append(resolve.pod_of(obj, status["podIP"]))
        nodes[status["podIP"]] = spec.get("nodeName")
    return out, nodes


class Controller:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.api = Client(cfg["server"], ca_file=str(config_dir() / "ca.crt"), cert_file=kubelet_client_cert())
        self.last = None

    def log(self, text: str) -> None:
        print(text, flush=True)

    def setup(self) -> None:
        pass

    def sync(self) -> None:
        from minipod.roles import policy
        from minipod.roles.policy import resolve
        policies = self.api.get(f"{GROUP}/networkpolicies")["items"]
        if not policies:
            if self.last != "clean":
                policy.cleanup()
                self.last = "clean"
            return
        pods, nodes = pods_of(self.api.get("/api/v1/pods")["items"])
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
