"""What either rule builder produces and either writer loads: chains (name
→ rule lines, in order) and sets of addresses (name → AddressSet), so a
sync writes only the chains and sets that changed (and counters of the
others keep counting). Pure."""

import base64
import hashlib
from dataclasses import dataclass, field

ALLOWED_MARK = 0x10000  # set by a policy rule that allows the packet (kube-router's bit)


def digest(text: str, length: int = 16) -> str:
    """The hash in a chain's or set's name (base32 of sha256, as kube-router
    and kube-proxy name theirs)."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:length]


@dataclass(frozen=True)
class AddressSet:
    """Pod addresses (``nets``: False) or CIDRs with exceptions (True):
    members are (address or CIDR, comment, excluded)."""
    nets: bool
    comment: str
    members: tuple = ()  # ((text, comment, excluded), ...)


def peer_pods_set(pol, rule) -> AddressSet:
    """The addresses of a rule's selector peers (a member's comment: its pod)."""
    return AddressSet(False, f"{pol.key} {pol.direction} rule {rule.index + 1}: its peer pods",
                      tuple((p.ip, p.key, False) for p in rule.pods))


def named_port_set(port) -> AddressSet:
    """The pods on which a named port means ``port.first``."""
    return AddressSet(False, f"pods where {port.name}/{port.protocol} is {port.first}",
                      tuple((p.ip, p.key, False) for p in port.only))


@dataclass
class Ruleset:
    chains: dict = field(default_factory=dict)  # name -> [rule lines]
    sets: dict = field(default_factory=dict)  # name -> AddressSet
    maps: dict = field(default_factory=dict)  # name -> [element lines] (nftables' verdict maps)


def port_text(port) -> str:
    """"TCP/80", "UDP/80-81", "TCP/http=8080", "SCTP/any"."""
    if port.first is None:
        return f"{port.protocol}/any"
    number = str(port.first) if port.last == port.first else f"{port.first}-{port.last}"
    return f"{port.protocol}/{port.name}={number}" if port.name else f"{port.protocol}/{number}"


def block_text(block) -> str:
    return f"ipBlock {block.cidr}" + (f" except {','.join(block.excepts)}" if block.excepts else "")


def rule_comment(pol, rule, peer_text: str, port) -> str:
    """What one rule line allows: the policy, the rule, this line's peer and port."""
    where = "from" if pol.direction == "ingress" else "to"
    return f"{pol.key} {pol.direction} rule {rule.index + 1}: {where} {peer_text}, " + \
        (f"port {port_text(port)}" if port else "any port")


def fit(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` bytes (a comment: nftables keeps 128,
    iptables 255), cut with "..." where it is longer."""
    data = text.encode()
    return text if len(data) <= limit else data[:limit - 3].decode(errors="ignore") + "..."


def allows_nothing(pol) -> str:
    """The comment of a policy chain with no rule line: why it has none."""
    why = "no rule" if not pol.rules else "its named ports name no port of these pods"
    return f"{pol.key} {pol.direction}: allows nothing ({why})"


def changes(old, new: Ruleset) -> dict:
    """What a writer must do to go from ``old`` (None: unknown, write all)
    to ``new``: {"chains": changed or new, "stale_chains", "sets", "stale_sets", "maps"}."""
    if old is None:
        return {"chains": list(new.chains), "stale_chains": [], "sets": list(new.sets), "stale_sets": [],
                "maps": list(new.maps)}
    return {"chains": [c for c, lines in new.chains.items() if old.chains.get(c) != lines],
            "stale_chains": [c for c in old.chains if c not in new.chains],
            "sets": [s for s, value in new.sets.items() if old.sets.get(s) != value],
            "stale_sets": [s for s in old.sets if s not in new.sets],
            "maps": [m for m, lines in new.maps.items() if old.maps.get(m) != lines]}


def nothing(change: dict) -> bool:
    return not any(change.values())
