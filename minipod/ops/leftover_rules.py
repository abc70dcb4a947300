"""The host's packet rules that outlived their objects: the service
proxy's chains and routes while no Service exists, the NetworkPolicy rules
while no policy does (an agent killed before it could clean up)."""

from minipod.errors import MinipodError
from minipod.ops.findings import Finding, _one_line, _Report


def proxy_leftovers(dry_run: bool) -> list:
    """The service proxy's chains and routes while no Service exists (an
    agent killed before it could clean up after the last one)."""
    from minipod.roles import proxy
    from minipod.objects import kinds, store
    from minipod.roles.proxy import host
    from minipod.roles import clusterdns
    report = _Report(dry_run)
    if not clusterdns.needed() and (clusterdns.running_pid() or clusterdns.conf_path().exists()):
        report.add("cluster-dns", f"dnsmasq {clusterdns.running_pid() or '(config only)'}", clusterdns.stop,
                   gone=lambda: not clusterdns.running_pid())
    if store.any_objects(kinds.SERVICE):
        return report.found
    rules = proxy.leftovers()
    routes = host.has_device() and not clusterdns.needed()
    if (rules or routes) and not dry_run:
        try:
            proxy.cleanup(routes=not clusterdns.needed())
        except (OSError, MinipodError) as e:
            report.found += [Finding("proxy-rules", what, "failed", _one_line(e)) for what in rules]
            return report.found
        rules_left = set(proxy.leftovers())
        report.found += [Finding("proxy-rules", what, "failed" if what in rules_left else "removed",
                                 "still there after its removal" if what in rules_left else "")
                         for what in rules]
        if routes:
            left = host.has_device()
            report.found.append(Finding("service-routes", host.device(), "failed" if left else "removed",
                                        "still there after its removal" if left else ""))
        return report.found
    report.found += [Finding("proxy-rules", what) for what in rules]
    if routes:
        report.found.append(Finding("service-routes", host.device()))
    return report.found


def policy_leftovers(dry_run: bool) -> list:
    """The policy rules while no NetworkPolicy exists; none on a cluster
    node, whose policy controller keeps the cluster's policies' rules."""
    from minipod.cluster import settings
    from minipod.objects import kinds, store
    from minipod.roles import policy
    if store.any_objects(kinds.NETWORK_POLICY) or "node" in settings().get("roles", []):
        return []
    report = _Report(dry_run)
    for what in policy.leftovers():
        report.add("policy-rules", what, policy.cleanup, gone=lambda what=what: what not in policy.leftovers())
    return report.found
