"""The policy rules in the nftables view: the same shape as iptables_rules
(a chain per isolated pod and direction, a chain per policy and direction,
the allowed mark, the default deny) in a table of its own, `ip kube-netpol`,
beside kube-proxy's. Pure (unit-tested line by line).

    chain forward  (hook forward)   ip saddr vmap @egress-pods
                                    ip daddr vmap @ingress-pods
    chain input    (hook input)     ip saddr vmap @egress-pods
    chain pod-<hash>-<ns>/<pod>/ingress      policies selecting it, then
                                             allowed or rejected
    chain policy-<hash>-<ns>/<policy>/ingress  a rule per peer × port
    set peers-<hash>-<ns>/<policy>/ingress/<rule>   the peer pods' addresses

A verdict map finds a packet's pod chain in one lookup, whatever the number
of isolated pods; an ipBlock is written in the rule (`ip saddr 10.0.0.0/8
ip saddr != { 10.0.1.0/24 }`). Every rule counts (`counter`) and names its
pod or `namespace/policy`.
"""

from minipod.roles.policy.resolve import Plan, Policy, Port, Rule
from minipod.roles.policy import ruleset
from minipod.roles.policy.ruleset import ALLOWED_MARK, AddressSet, Ruleset, digest
from minipod.roles.proxy import rules as proxyrules

HOOKS = {"forward": "type filter hook forward priority filter - 5",
         "input": "type filter hook input priority filter - 5"}
MAPS = {"ingress-pods": "pods a policy isolates for ingress: their chains",
        "egress-pods": "pods a policy isolates for egress: their chains"}
COMMENT_MAX = 128  # bytes nftables keeps of a comment
NAME_ROOM = 200  # nftables names are at most 256 bytes: the readable part is cut to this


def table() -> str:
    """"kube-netpol"; follows MINIPOD_CHAIN_PREFIX ("mptk-netpol" in the suite)."""
    p = proxyrules.prefix()
    return "kube-netpol" if p == "KUBE" else f"{p.lower()}-netpol"


def _name(kind: str, text: str) -> str:
    return f"{kind}-{digest(text, 8)}-{text[:NAME_ROOM]}"


def pod_chain(pod, direction: str) -> str:
    return _name("pod", f"{pod.key}/{direction}")


def policy_chain(pol: Policy) -> str:
    return _name("policy", f"{pol.key}/{pol.direction}")


def _c(text: str) -> str:
    return f'comment "{ruleset.fit(text, COMMENT_MAX)}"'


def _port_match(port: Port) -> str:
    proto = port.protocol.lower()
    if port.first is None:
        return f"meta l4proto {proto}"
    dports = str(port.first) if port.last == port.first else f"{port.first}-{port.last}"
    return f"{proto} dport {dports}"


def _rule_lines(pol: Policy, rule: Rule, sets: dict) -> list:
    side = "saddr" if pol.direction == "ingress" else "daddr"
    peers = [("", "anywhere")] if rule.anyone else []
    if rule.selectors:  # its set, even while empty: a pod that comes changes the set only
        name = _name("peers", f"{pol.key}/{pol.direction}/{rule.index + 1}")
        sets[name] = ruleset.peer_pods_set(pol, rule)
        peers.append((f"ip {side} @{name} ", rule.selectors_text))
    for block in rule.blocks:
        cut = f"ip {side} != {{ {', '.join(block.excepts)} }} " if block.excepts else ""
        peers.append((f"ip {side} {block.cidr} {cut}", ruleset.block_text(block)))
    ports = [(None, "")] if rule.every_port else [(p, _port_match(p) + " ") for p in rule.ports]
    lines = []
    for port, match in ports:
        only = ""
        if port is not None and port.only is not None:
            name = _name("named-port", f"{pol.key}/{pol.direction}/{rule.index + 1}/{port.name}/{port.protocol}"
                                       f"/{port.first}")
            sets[name] = ruleset.named_port_set(port)
            only = f"ip daddr @{name} "
        # the port first: a cheap compare that spares most packets the set lookup
        lines += [f"{match}{peer}{only}counter meta mark set meta mark or {ALLOWED_MARK:#x} "
                  f"{_c(ruleset.rule_comment(pol, rule, text, port))}" for peer, text in peers]
    return lines


def _pod_lines(pod, direction: str, pols: list) -> list:
    lines = [f"meta mark set meta mark and {0xffffffff ^ ALLOWED_MARK:#x} "
             f"{_c('a verdict of its own: forget an earlier chain')}"]
    if direction == "ingress":  # as on a cluster: probes and the node's own traffic always pass
        lines.append(f"fib saddr type local return {_c(f'the node may always reach {pod.key}')}")
    lines += [f"jump {policy_chain(pol)} {_c(f'{direction} of {pod.key}: policy {pol.key}')}" for pol in pols]
    lines.append(f"meta mark and {ALLOWED_MARK:#x} == {ALLOWED_MARK:#x} return {_c('allowed by a policy above')}")
    names = ", ".join(p.key for p in pols)
    lines.append(f"counter reject {_c(f'default deny of {direction} of {pod.key} (policies selecting it: {names})')}")
    return lines


def render(plan: Plan) -> Ruleset:
    """The table's chains, sets and verdict maps for ``plan``."""
    out = Ruleset()
    established = "ct state established,related accept " + \
        _c("replies and established connections: decided at their first packet")
    out.chains["forward"] = [established, "ip saddr vmap @egress-pods", "ip daddr vmap @ingress-pods"]
    out.chains["input"] = [established, "ip saddr vmap @egress-pods"]
    out.maps = {name: [] for name in MAPS}
    for direction in ("egress", "ingress"):
        for pod, pols in plan.pods(direction):
            chain = pod_chain(pod, direction)
            out.maps[f"{direction}-pods"].append(f"{pod.ip} : jump {chain}")
            out.chains[chain] = _pod_lines(pod, direction, pols)
    for pol in plan.policies:
        chain = policy_chain(pol)
        lines = [line for rule in pol.rules for line in _rule_lines(pol, rule, out.sets)]
        out.chains[chain] = lines or [f"return {_c(ruleset.allows_nothing(pol))}"]
    return out


def _chain_decl(t: str, name: str) -> str:
    return f"add chain {t} {name} {{ {HOOKS[name]} ; }}" if name in HOOKS else f"add chain {t} {name}"


def _set_decl(t: str, name: str, s: AddressSet) -> str:
    return f'add set {t} {name} {{ type ipv4_addr ; comment "{ruleset.fit(s.comment, COMMENT_MAX)}" ; }}'


def _elements(t: str, name: str, items: list) -> list:
    """One statement per set or map (a statement per element costs nft a
    parse each: 2.6 s against 0.54 s for 105,000, bench/networkpolicy.py)."""
    return [f"add element {t} {name} {{ {', '.join(items)} }}"] if items else []


def transaction(new: Ruleset, change: dict, first: bool) -> str:
    """One `nft -f` input going to ``new``: everything when ``first`` (the
    table replaced whole), else only ``change`` (ruleset.changes), ordered
    so nothing is deleted while something still refers to it."""
    t = f"ip {table()}"
    out = []
    if first:
        head = f'add table {t} {{ comment "NetworkPolicies, as minipod\'s policy controller writes them" ; }}'
        out += [head, f"delete table {t}", head]
        out += [f'add map {t} {m} {{ type ipv4_addr : verdict ; comment "{text}" ; }}' for m, text in MAPS.items()]
    out += [_set_decl(t, name, new.sets[name]) for name in change["sets"]]
    out += [_chain_decl(t, name) for name in change["chains"]]
    for name in change["sets"]:
        out.append(f"flush set {t} {name}")
        out += _elements(t, name, [f'{text} comment "{note}"' for text, note, _x in new.sets[name].members])
    for name in change["chains"]:
        out.append(f"flush chain {t} {name}")
        out += [f"add rule {t} {name} {line}" for line in new.chains[name]]
    for name in change["maps"]:
        out.append(f"flush map {t} {name}")
        out += _elements(t, name, new.maps[name])
    out += [f"flush chain {t} {name}" for name in change["stale_chains"]]
    out += [f"delete chain {t} {name}" for name in change["stale_chains"]]
    out += [f"delete set {t} {name}" for name in change["stale_sets"]]
    return "\n".join(out) + "\n" if out else ""
