"""An independent model of NetworkPolicy semantics (networking/v1, as the
Kubernetes documentation states them), written apart from minipod's rule
builder so the two cannot share a misreading: it answers, for one packet's
first packet, whether the policies let it through. The truth-table tests
compare it with real probes cell by cell.

A pod here: {"ns", "name", "ip", "labels", "ports": {(name, protocol): number}}.
"""

import ipaddress


def _expression_holds(expr, labels) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    return key not in labels  # DoesNotExist


def selects(selector, labels) -> bool:
    """A LabelSelector: every matchLabels pair and every expression hold."""
    selector = selector or {}
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()) and \
        all(_expression_holds(e, labels) for e in selector.get("matchExpressions") or [])


def _types(policy) -> list:
    spec = policy["spec"]
    return spec.get("policyTypes") or (["Ingress"] + (["Egress"] if spec.get("egress") else []))


def _applies(policy, pod, direction) -> bool:
    return policy["metadata"].get("namespace", "default") == pod["ns"] and \
        selects(policy["spec"].get("podSelector"), pod["labels"]) and direction in _types(policy)


def _peer_holds(peer, policy_ns, other, namespaces) -> bool:
    if "ipBlock" in peer:
        ip = ipaddress.ip_address(other["ip"])
        return ip in ipaddress.ip_network(peer["ipBlock"]["cidr"]) and \
            not any(ip in ipaddress.ip_network(c) for c in peer["ipBlock"].get("except") or [])
    if other.get("ns") is None:
        return False  # not a pod: only an ipBlock can name it
    if "namespaceSelector" in peer:
        ns_labels = {**namespaces.get(other["ns"], {}), "kubernetes.io/metadata.name": other["ns"]}
        if not selects(peer["namespaceSelector"], ns_labels):
            return False
    elif other["ns"] != policy_ns:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], other["labels"])


def _port_holds(entry, port, protocol, destination) -> bool:
    if entry.get("protocol", "TCP") != protocol:
        return False
    want = entry.get("port")
    if want is None:
        return True
    if isinstance(want, str):
        return destination.get("ports", {}).get((want, protocol)) == port
    return want <= port <= (entry.get("endPort") or want)


def _rule_holds(rule, peers_key, policy_ns, other, destination, port, protocol, namespaces) -> bool:
    peers = rule.get(peers_key) or []
    ports = rule.get("ports") or []
    return (not peers or any(_peer_holds(p, policy_ns, other, namespaces) for p in peers)) and \
        (not ports or any(_port_holds(e, port, protocol, destination) for e in ports))


def _side_allows(policies, pod, other, destination, port, protocol, namespaces, direction) -> bool:
    mine = [p for p in policies if _applies(p, pod, direction)]
    if not mine:
        return True  # not isolated in this direction
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    return any(_rule_holds(rule, peers_key, p["metadata"].get("namespace", "default"), other, destination, port,
                           protocol, namespaces)
               for p in mine for rule in p["spec"].get(key) or [])


def allowed(policies, src, dst, port, protocol, namespaces=None) -> bool:
    """Whether a new connection src → dst:port/protocol gets through: the
    source's egress allows it and the destination's ingress allows it."""
    if src.get("ip") == dst.get("ip"):
        return True  # a pod to itself never leaves its network namespace (the upstream suite's AllowLoopback)
    namespaces = namespaces or {}
    egress = src.get("ns") is None or _side_allows(policies, src, dst, dst, port, protocol, namespaces, "Egress")
    ingress = dst.get("ns") is None or _side_allows(policies, dst, src, dst, port, protocol, namespaces, "Ingress")
    return egress and ingress
