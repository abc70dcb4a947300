"""The service proxy (kube-proxy's role, iptables mode): keeps the host's
nat and filter rules in step with Services and Endpoints, each change one
atomic `iptables-restore --noflush` transaction that touches only its own
chains (KUBE-*: the CNI plugins' chains and the user's rules stay as they
are). The agent calls sync() on every pass; it writes only on a change.
"""

from minipod import network
from minipod.objects import kinds, services as svcmod, store
from minipod.proxy import host, rules

_last = {"text": None}


def _pod_cidr() -> str:
    conf = network.load(network.default_name())
    return str(network.subnets_of(conf)[0])


def existing_chains(table: str) -> list:
    out = host.run(["iptables-save", "-t", table], check=False).stdout
    mine = rules.localize("KUBE-")
    return [line[1:].split()[0] for line in out.splitlines() if line.startswith(":" + mine)]


def _ensure_jumps() -> None:
    for table, items in rules.jumps().items():
        for chain, spec in reversed(items):  # inserted at the top, so the first ends up first
            if host.run(["iptables", "-w", "5", "-t", table, "-C", chain] + spec, check=False).returncode != 0:
                host.run(["iptables", "-w", "5", "-t", table, "-I", chain, "1"] + spec)


def _remove_jumps() -> None:
    for table, items in rules.jumps().items():
        for chain, spec in items:
            while host.run(["iptables", "-w", "5", "-t", table, "-D", chain] + spec, check=False).returncode == 0:
                pass


def sync(log=None, force=False, keep_routes=False) -> bool:
    """Make the rules match the objects; returns True when it wrote.
    ``keep_routes``: the service device stays (cluster DNS still uses it)."""
    services = store.list_objects(kinds.SERVICE)
    if not services:
        if force or _last["text"] != "" or existing_chains("nat") or (host.has_device() and not keep_routes):
            cleanup(routes=not keep_routes)
            _last["text"] = ""
            return True
        return False
    endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in store.list_objects(kinds.ENDPOINTS)}
    wanted = rules.render(services, endpoints, _pod_cidr())
    text = "\n".join(wanted["nat"] + wanted["filter"])
    if text == _last["text"] and not force:
        return False
    host.ensure_routes([svcmod.service_cidr(), svcmod.lb_pool()])
    host.enable_bridge_netfilter()
    data = ""
    for table in ("nat", "filter"):
        want = wanted["chains"][table]
        stale = [c for c in existing_chains(table) if c not in want]
        data += rules.restore_input(table, want, wanted[table], stale)
    host.run(["iptables-restore", "--noflush", "-w", "5"], input=data)
    _ensure_jumps()
    _last["text"] = text
    if log:
        log(f"proxy: {len(wanted['nat'])} nat and {len(wanted['filter'])} filter rules for {len(services)} services")
    return True


def cleanup(routes: bool = True) -> None:
    """No services left: every chain and jump of the proxy goes, and with
    ``routes`` the service device and its routes."""
    _remove_jumps()
    data = ""
    for table in ("nat", "filter"):
        chains = existing_chains(table)
        if chains:
            data += rules.restore_input(table, [], [], chains)
    if data:
        host.run(["iptables-restore", "--noflush", "-w", "5"], input=data)
    if routes:
        host.remove_routes()
