"""An independent model of NetworkPolicy semantics (networking/v1, as the
Kubernetes documentation states them), written apart from minipod's rule
builder so the two cannot share a misreading: it answers, for one packet's
first packet, whether the policies let it through. The truth-table tests
compare it with real probes cell by cell.

A pod here: {"ns", "name", "ip", "labels", "ports": {(name, protocol): number}}.
"""

import ipaddress

from hypothesis import strategies as st

NAMESPACES = ("x", "y", "z")  # the upstream suite's model: pods a, b, c in each


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


# Random policy sets over the upstream model (x, y, z; pods a, b, c; labels
# ns=<namespace>, pod=<name>; ports 80 and 81, TCP and UDP, named
# serve-<port>-<tcp|udp>). An ipBlock peer is {"ipBlock": "pod network"}
# until the caller makes it concrete (the pods' addresses are not known here).

def _selector(draw_labels):
    return {"matchLabels": draw_labels} if draw_labels else {}


LABELS = st.sampled_from([None, {"pod": "a"}, {"pod": "b"}, {"pod": "c"}])
NS_LABELS = st.sampled_from([None, {"ns": "x"}, {"ns": "y"}, {"ns": "z"}])


@st.composite
def peers(draw):
    kind = draw(st.sampled_from(["pods", "namespaces", "both", "block"]))
    if kind == "block":
        return {"ipBlock": "pod network"}  # made concrete once the pods' addresses are known
    peer = {}
    if kind in ("pods", "both"):
        peer["podSelector"] = _selector(draw(LABELS))
    if kind in ("namespaces", "both"):
        peer["namespaceSelector"] = _selector(draw(NS_LABELS))
    return peer


PORTS = st.sampled_from([{"port": 80}, {"port": 81}, {"port": "serve-81-tcp"},
                         {"port": "serve-80-udp", "protocol": "UDP"}, {"port": 80, "endPort": 81}, {"protocol": "UDP"}])
RULES = st.fixed_dictionaries({}, optional={"peers": st.lists(peers(), min_size=1, max_size=2),
                                            "ports": st.lists(PORTS, min_size=1, max_size=2)})


@st.composite
def policy_sets(draw):
    out = []
    for i in range(draw(st.integers(1, 3))):
        spec = {"podSelector": _selector(draw(LABELS)),
                "policyTypes": draw(st.sampled_from([["Ingress"], ["Egress"], ["Ingress", "Egress"]]))}
        for direction, key in (("Ingress", "from"), ("Egress", "to")):
            if direction in spec["policyTypes"]:
                rules = draw(st.lists(RULES, max_size=2))
                spec[direction.lower()] = [{**({key: r["peers"]} if "peers" in r else {}),
                                            **({"ports": r["ports"]} if "ports" in r else {})} for r in rules]
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"name": f"p{i}", "namespace": draw(st.sampled_from(NAMESPACES))}, "spec": spec})
    return out


def with_block(policies: list, block: dict) -> list:
    """The policies with each placeholder ipBlock peer made ``block`` (in place)."""
    for pol in policies:
        for direction, key in (("ingress", "from"), ("egress", "to")):
            for rule in pol["spec"].get(direction) or []:
                if key in rule:
                    rule[key] = [block if p.get("ipBlock") else p for p in rule[key]]
    return policies
