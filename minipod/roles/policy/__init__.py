"""NetworkPolicy enforcement (kube-router's policy controller's role):
keeps the host's packet rules in step with NetworkPolicies, Pods and
Namespaces, in the proxy's mode (MINIPOD_PROXY_MODE):

    iptables   filter chains KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-*
               and ipsets KUBE-SRC-*/KUBE-DST-* (iptables_rules.py)
    nftables   the table `ip kube-netpol` (nft_rules.py)

resolve.py turns the objects into a Plan (who is isolated, what each rule
allows); the two rule builders render it; iptables.py and nftables.py load
what changed. Policies act on pod addresses after Service DNAT and before
any masquerade, so a ClusterIP, NodePort or Ingress path is filtered by the
pod it reaches. Pods on one bridge reach the host's filter hooks only
through br_netfilter, turned on while any policy exists.

sync() runs on every agent pass, and right after a pod is made and before
its containers start (so a new pod is isolated before its first packet).
It writes only on a change; with no policy left, everything goes.
"""

from minipod.core import pod
from minipod.objects import kinds, store
from minipod.roles.policy import iptables, iptables_rules, nft_rules, nftables, resolve
from minipod.roles.proxy import host, mode as proxy_mode

# What this process knows: the inputs of the last render (held, so the ids
# of the shared objects in them are not reused), and whether all is clean.
_done = {"inputs": None, "clean": False, "mode": None, "netfilter": False}


def leftovers() -> list:
    """What either mode has on the host: ["filter/KUBE-ROUTER-FORWARD",
    "ipset KUBE-SRC-…", "nft ip kube-netpol"]."""
    found = [f"filter/{c}" for c in iptables.existing_chains()] + [f"ipset {s}" for s in iptables.existing_sets()]
    if nftables.exists():
        found.append(f"nft ip {nft_rules.table()}")
    return found


def node_pods() -> list:
    """resolve.Pod of every pod of this node that policies act on: those made
    from Pod objects, with an address of their own (a hostNetwork pod is the
    node, which no policy selects)."""
    objs = {o["metadata"]["uid"]: o for o in store.list_objects(kinds.POD, shared=True)}
    out = []
    for rec in pod.store().all():
        obj = objs.get((rec.get("k8s") or {}).get("uid"))
        if obj is not None and rec.get("ip") and not obj["spec"].get("hostNetwork"):
            out.append(resolve.pod_of(obj, rec["ip"].split("/")[0]))
    return out


def sync(log=None, force=False, jumps=False) -> bool:
    """Make the rules match the objects and the pods this node runs;
    ``jumps``: check that the jumps into the policy chains are still first
    (the proxy just wrote its own). Returns True when it wrote."""
    policy_objs = store.list_objects(kinds.NETWORK_POLICY, shared=True)  # read only
    if not policy_objs:
        if force or not _done["clean"]:  # once per process, then only after the last policy went
            found = leftovers()
            if found:
                cleanup()
                if log:
                    log("policy: no NetworkPolicy left; its rules removed")
            _done["clean"] = True
            return bool(found)
        return False
    current = proxy_mode()
    pods = node_pods()  # read only while a policy exists: the pass stays cheap without
    ns_objs = store.list_objects(kinds.NAMESPACE, shared=True)
    inputs = (current, tuple(pods), tuple(map(id, policy_objs)), tuple(map(id, ns_objs)), policy_objs, ns_objs)
    if not force and _done["inputs"] is not None and _done["inputs"][:4] == inputs[:4]:
        if jumps and current == "iptables":
            iptables.ensure_jumps()
        return False
    namespaces = {o["metadata"]["name"]: o["metadata"].get("labels") or {} for o in ns_objs}
    did = write(resolve.plan(policy_objs, pods, namespaces), force=force)
    _done["inputs"] = inputs
    if did and log:
        log(f"policy ({current}): {did} for {len(policy_objs)} policies over {len(pods)} pods")
    return bool(did)


def write(plan: resolve.Plan, force=False) -> str:
    """Load the rules of ``plan`` in the proxy's mode (what a cluster node's
    controller calls too); returns what was written ("" if nothing)."""
    current = proxy_mode()
    _done["clean"] = False
    if not _done["netfilter"]:  # pods on one bridge: their packets reach the filter hooks only through it
        host.enable_bridge_netfilter()
        _done["netfilter"] = True
    if _done["mode"] != current:  # a switched mode leaves nothing behind
        (iptables.cleanup if current == "nftables" else nftables.cleanup)()
        _done["mode"] = current
    if current == "nftables":
        return nftables.sync(nft_rules.render(plan), force=force)
    did = iptables.sync(iptables_rules.render(plan), force=force)
    if not did:  # pods came or went: a CNI ADD may have put its FORWARD jump above ours
        iptables.ensure_jumps()
    return did


def cleanup() -> None:
    """No policy left: every rule, set and table of either mode goes."""
    _done["inputs"], _done["mode"] = None, None
    iptables.cleanup()
    nftables.cleanup()
    _done["clean"] = True
