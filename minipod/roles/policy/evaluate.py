"""What the rules of a Plan decide for one connection's first packet,
without sending it: the same walk the kernel makes through the chains
(the source's egress, then the destination's ingress), with the reason.
For `minipod ui`'s reachability matrix. Pure."""

import ipaddress

from minipod.roles.policy.resolve import Plan, Pod


def _peer_holds(rule, other: Pod) -> bool:
    if rule.anyone or any(p.ip == other.ip for p in rule.pods):
        return True
    ip = ipaddress.ip_address(other.ip)
    return any(ip in ipaddress.ip_network(b.cidr) and not any(ip in ipaddress.ip_network(c) for c in b.excepts)
               for b in rule.blocks)


def _port_holds(rule, dst: Pod, port: int, protocol: str) -> bool:
    if rule.every_port:
        return True
    return any(p.protocol == protocol and (p.first is None or p.first <= port <= p.last)
               and (p.only is None or any(q.ip == dst.ip for q in p.only)) for p in rule.ports)


def _side(plan: Plan, direction: str, pod: Pod, other: Pod, dst: Pod, port: int, protocol: str):
    """(allowed, why) for one direction of one pod."""
    pols = plan.isolated.get((direction, pod))
    if pols is None:
        return True, f"no policy isolates {pod.key} for {direction}"
    for pol in pols:
        for rule in pol.rules:
            if _peer_holds(rule, other) and _port_holds(rule, dst, port, protocol):
                return True, f"{pol.key} {direction} rule {rule.index + 1}"
    return False, f"default deny of {direction} of {pod.key} (policies selecting it: " \
                  f"{', '.join(p.key for p in pols)})"


def allowed(plan: Plan, src: Pod, dst: Pod, port: int, protocol: str = "TCP"):
    """(whether a new connection src → dst:port passes, why)."""
    if src.ip == dst.ip:
        return True, "a pod to itself (its own network namespace)"
    ok, why_out = _side(plan, "egress", src, dst, dst, port, protocol)
    if not ok:
        return False, why_out
    ok, why_in = _side(plan, "ingress", dst, src, dst, port, protocol)
    return ok, why_in if not ok else f"{why_out}; {why_in}"
