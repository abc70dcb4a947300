"""NetworkPolicies resolved against the pods and namespaces of this node:
which pods each policy isolates, and for each of its rules the peers (pod
addresses, CIDR blocks) and ports (named ports turned into numbers) that
it allows. What the rule builders (iptables_rules, nft_rules) render.

Pure: objects in, a Plan out. The semantics are networking/v1's:
- a policy selects pods of its own namespace (podSelector; empty: all);
- a pod selected by some policy with "Ingress" (or "Egress") in its
  policyTypes is isolated for that direction: only what some rule of some
  such policy allows passes (policies add up; none subtracts);
- a rule allows its peers (any of them) on its ports (any of them); no
  peers: from/to anywhere; no ports: every port;
- a peer is a podSelector (pods of the policy's namespace), a
  namespaceSelector (every pod of the namespaces it selects), both (the
  pods the podSelector selects in those namespaces), or an ipBlock;
- a named port means, on the destination pod, the number its container
  declares under that name for that protocol (ingress: the pod the policy
  isolates; egress: the peer it goes to).
"""

from dataclasses import dataclass, field

from minipod.objects import policies

DIRECTIONS = (("Ingress", "ingress", "from"), ("Egress", "egress", "to"))
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # every namespace has it (Kubernetes ≥ 1.21)


@dataclass(frozen=True)
class Pod:
    """A pod as policies see it: where it is, what it is called, its labels
    and the ports its containers name ({(name, protocol): number})."""
    namespace: str
    name: str
    ip: str
    labels: tuple = ()  # ((key, value), ...)
    named_ports: tuple = ()  # (((name, protocol), number), ...)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Block:
    """An ipBlock: its CIDR less its exceptions."""
    cidr: str
    excepts: tuple = ()


@dataclass(frozen=True)
class Port:
    """protocol, a port or range (first..last; None: every port), and for
    a named port the pods on which the name means that number (only those
    may be the destination)."""
    protocol: str
    first: int = None
    last: int = None
    only: tuple = None  # (Pod, ...) or None: any destination
    name: str = None  # the port's name, when it was named


@dataclass(frozen=True)
class Rule:
    """One rule of a policy, resolved. ``anyone``: no peers listed (from/to
    anywhere); else ``pods`` (the pods its selector peers select, possibly
    none, when ``selectors``) and ``blocks``; ``ports`` (those listed, a
    named one as the numbers it means)."""
    index: int
    anyone: bool
    selectors: bool = False  # it has podSelector/namespaceSelector peers
    every_port: bool = True  # no ports listed (listed ones that mean nothing here: allows nothing)
    pods: tuple = ()  # (Pod, ...)
    blocks: tuple = ()  # (Block, ...)
    ports: tuple = ()  # (Port, ...)
    selectors_text: str = ""  # its selector peers, for comments


@dataclass(frozen=True)
class Policy:
    """One direction of one NetworkPolicy: the pods it isolates and its rules."""
    namespace: str
    name: str
    direction: str  # "ingress" | "egress"
    targets: tuple  # (Pod, ...)
    rules: tuple  # (Rule, ...)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class Plan:
    """Everything the rules say: per direction, the policies (in namespace,
    name order) and for each isolated pod the policies that select it."""
    policies: list = field(default_factory=list)  # [Policy]
    isolated: dict = field(default_factory=dict)  # (direction, Pod) -> [Policy], pods in ip order

    def pods(self, direction: str) -> list:
        return [(pod, pols) for (d, pod), pols in self.isolated.items() if d == direction]


def pod_of(obj: dict, ip: str) -> Pod:
    """A Pod object (and its address) as the plan takes it."""
    meta = obj["metadata"]
    named = {}
    for ctr in (obj.get("spec") or {}).get("containers") or []:
        for p in ctr.get("ports") or []:
            if p.get("name"):
                named.setdefault((p["name"], p.get("protocol", "TCP")), p["containerPort"])
    return Pod(meta["namespace"], meta["name"], ip, tuple(sorted((meta.get("labels") or {}).items())),
               tuple(sorted(named.items())))


def namespace_labels(name: str, stored: dict) -> dict:
    """A namespace's labels: its own and kubernetes.io/metadata.name, which
    the API server sets on every namespace (so a policy can name one)."""
    return {**(stored or {}), NAMESPACE_NAME_LABEL: name}


def _ip_order(pod: Pod):
    return tuple(int(x) for x in pod.ip.split(".")), pod.key


def _peer_pods(peer: dict, own_ns: str, pods: list, namespaces: dict) -> list:
    """The pods one podSelector/namespaceSelector peer selects."""
    pod_sel = peer.get("podSelector")
    if "namespaceSelector" in peer:
        in_ns = {ns for ns in {p.namespace for p in pods}
                 if policies.selects(peer["namespaceSelector"], namespace_labels(ns, namespaces.get(ns)))}
    else:
        in_ns = {own_ns}
    return [p for p in pods if p.namespace in in_ns and (pod_sel is None or policies.selects(pod_sel, dict(p.labels)))]


def _selector_peer_text(peer: dict) -> str:
    """"pods app=web", "every pod of namespaces team=a", for comments."""
    pods = f"pods {policies.selector_text(peer['podSelector'])}" if peer.get("podSelector") else "every pod"
    if "namespaceSelector" not in peer:
        return pods
    ns = peer["namespaceSelector"]
    return f"{pods} of " + (f"namespaces {policies.selector_text(ns)}" if ns else "every namespace")


def _ports(rule: dict, destinations: list) -> tuple:
    """The rule's ports, a named one resolved on ``destinations`` (one Port
    per number it means there; a name no destination has: no Port, so the
    entry allows nothing, as on a cluster)."""
    out = []
    for port in rule.get("ports") or []:
        proto, number = port.get("protocol", "TCP"), port.get("port")
        if number is None:
            out.append(Port(proto))
        elif isinstance(number, int):
            out.append(Port(proto, number, port.get("endPort") or number))
        else:
            by_number = {}
            for pod in destinations:
                n = dict(pod.named_ports).get((number, proto))
                if n is not None:
                    by_number.setdefault(n, []).append(pod)
            out += [Port(proto, n, n, tuple(sorted(ps, key=_ip_order)), number) for n, ps in sorted(by_number.items())]
    return tuple(out)


def _rule(index: int, rule: dict, peers_key: str, policy_ns: str, targets: list, direction: str,
          pods: list, namespaces: dict) -> Rule:
    peers = rule.get(peers_key) or []
    chosen, blocks = {}, []
    for peer in peers:
        if "ipBlock" in peer:
            blocks.append(Block(peer["ipBlock"]["cidr"], tuple(peer["ipBlock"].get("except") or ())))
        else:
            chosen.update((p.key, p) for p in _peer_pods(peer, policy_ns, pods, namespaces))
    peer_pods = sorted(chosen.values(), key=_ip_order)
    # A named port is looked up on the destination: the isolated pod for
    # ingress; for egress any pod the peers let through (a pod inside an
    # ipBlock too), so every pod where the name means a number.
    destinations = targets if direction == "ingress" else pods
    return Rule(index, not peers, any("ipBlock" not in p for p in peers), not rule.get("ports"),
                tuple(peer_pods), tuple(blocks), _ports(rule, destinations),
                "; ".join(_selector_peer_text(p) for p in peers if "ipBlock" not in p))


def plan(policy_objs: list, pods: list, namespaces: dict) -> Plan:
    """The Plan for these policies over these pods ({namespace: its stored
    labels} for namespaceSelectors)."""
    out = Plan()
    pods = sorted(pods, key=_ip_order)
    for obj in sorted(policy_objs, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"])):
        meta, spec = obj["metadata"], obj.get("spec") or {}
        ns = meta["namespace"]
        targets = [p for p in pods if p.namespace == ns and policies.selects(spec.get("podSelector") or {},
                                                                             dict(p.labels))]
        types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if spec.get("egress") else []))
        for type_name, direction, peers_key in DIRECTIONS:
            if type_name not in types:
                continue
            rules = tuple(_rule(i, r, peers_key, ns, targets, direction, pods, namespaces)
                          for i, r in enumerate(spec.get(direction) or []))
            pol = Policy(ns, meta["name"], direction, tuple(targets), rules)
            out.policies.append(pol)
            for pod in targets:
                out.isolated.setdefault((direction, pod), []).append(pol)
    out.isolated = dict(sorted(out.isolated.items(), key=lambda kv: (kv[0][0], _ip_order(kv[0][1]))))
    return out
