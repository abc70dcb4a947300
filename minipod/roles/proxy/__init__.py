"""The service proxy (kube-proxy's role): keeps the host's packet rules in
step with Services and Endpoints. Two modes, as kube-proxy has them:

    MINIPOD_PROXY_MODE=iptables  (default) KUBE-SERVICES and friends, the
                                 view every Kubernetes tutorial shows
    MINIPOD_PROXY_MODE=nftables  the `ip kube-proxy` table with verdict
                                 maps: a connection's first packet costs the
                                 same with 10 services or 5,000

Each sync also removes what the other mode left (a switched mode leaves
nothing behind). The agent calls sync() on every pass; it writes only on a
change.
"""

import os

from minipod.cni import network
from minipod.errors import InvalidArgument
from minipod.objects import kinds, services as svcmod, store
from minipod.roles.proxy import conntrack, host, iptables, nftables, nft_rules

MODES = ("iptables", "nftables")
# What this process knows it has already removed: the other mode's rules
# (checked once per mode), and everything after the last service went.
_done = {"other_mode_cleared": None, "clean": False, "routes": False, "inputs": None, "served": set()}


def mode() -> str:
    value = os.environ.get("MINIPOD_PROXY_MODE", "iptables")
    if value not in MODES:
        raise InvalidArgument(f"MINIPOD_PROXY_MODE: {value!r} is not one of {', '.join(MODES)}")
    return value


def _pod_cidr() -> str:
    conf = network.load(network.default_name())
    return str(network.subnets_of(conf)[0])


def leftovers() -> list:
    """What either mode has on the host: ["nat/KUBE-SERVICES", ..., "nft ip kube-proxy"]."""
    found = [f"{t}/{c}" for t in ("nat", "filter") for c in iptables.existing_chains(t)]
    if nftables.exists():
        found.append(f"nft ip {nft_rules.table()}")
    return found


def sync(log=None, force=False, keep_routes=False) -> bool:
    """Make the rules match the objects; returns True when it wrote.
    ``keep_routes``: the service device stays (cluster DNS still uses it)."""
    services = store.list_objects(kinds.SERVICE, shared=True)  # read only
    current = mode()
    if not services:
        if force or not _done["clean"] or (not keep_routes and host.has_device()):
            found = leftovers() or (not keep_routes and host.has_device())
            cleanup(routes=not keep_routes)
            return bool(found)
        return False
    _done["clean"] = False
    endpoint_objs = store.list_objects(kinds.ENDPOINTS, shared=True)
    pod_cidr = _pod_cidr()
    inputs = (current, pod_cidr, services + endpoint_objs)
    last = _done["inputs"]
    if not force and last and last[:2] == inputs[:2] and len(last[2]) == len(inputs[2]) \
            and all(a is b for a, b in zip(last[2], inputs[2])):
        return False  # the very same objects as last time (list_objects(shared=True)): nothing to render
    endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in endpoint_objs}
    if _done["other_mode_cleared"] != current:  # a switched mode leaves nothing behind
        (iptables.cleanup if current == "nftables" else nftables.cleanup)()
        _done["other_mode_cleared"] = current
    if not _done["routes"]:  # before any rule: an unmatched virtual IP is dropped here
        host.ensure_routes([svcmod.service_cidr(), svcmod.lb_pool()])
        host.enable_bridge_netfilter()
        _done["routes"] = True
    if current == "nftables":
        did = nftables.sync(services, endpoints, pod_cidr, str(svcmod.service_cidr()), force=force)
    else:
        did = iptables.sync(services, endpoints, pod_cidr, force=force)
    _done["inputs"] = inputs  # holding them keeps their ids from being reused
    if did and log:
        log(f"proxy ({current}): {did} for {len(services)} services")
    served = conntrack.served(services, endpoints)
    new, _done["served"] = served - _done["served"], served
    cleared = conntrack.clear_unnated(new, [svcmod.service_cidr(), svcmod.lb_pool()])
    if cleared and log:
        log(f"proxy: {cleared} conntrack entries without NAT removed (connections tried before the rules)")
    return bool(did)


def cleanup(routes: bool = True) -> None:
    """No services left: every chain, table and jump of the proxy goes, and
    with ``routes`` the service device and its routes."""
    _done["inputs"], _done["served"] = None, set()
    iptables.cleanup()
    nftables.cleanup()
    if routes:
        host.remove_routes()
        _done["routes"] = False
    _done["clean"] = True
