"""The iptables form of a traced rule. iptables-nft writes its rules as
nftables rules, but what nftables cannot say natively (`-m comment`, `-m
statistic`, ...) it keeps as xtables matches, which the trace prints as
nothing: "default/web cluster IP" and "--probability 0.5" would be lost.
So each traced rule of an iptables table is looked up in `iptables -S` of
its chain: the rule with the same verdict (its jump target, its DNAT
destination) and the same addresses."""

import re
import subprocess

_cache = {}


def rules_of(table: str, chain: str) -> list:
    """`iptables -t TABLE -S CHAIN`, the -A lines (read once per trace report)."""
    key = (table, chain)
    if key not in _cache:
        out = subprocess.run(["iptables", "-t", table, "-S", chain], capture_output=True, text=True).stdout
        _cache[key] = [line for line in out.splitlines() if line.startswith("-A ")]
    return _cache[key]


def forget() -> None:
    _cache.clear()


def _target(rule: str):
    m = re.search(r" -[jg] (\S+)", rule)  # a jump or a goto
    return m.group(1) if m else None


# What a traced verdict may be, by the iptables target that gave it: a
# target that does not end the chain (MARK) lets the packet go on, and
# REJECT drops the packet (after sending its ICMP error).
VERDICTS = {"continue": ("MARK",), "drop": ("DROP", "REJECT")}


def _features_nft(text: str) -> set:
    """What tells apart rules of one chain with the same target, as
    iptables-nft writes them natively: a mark set or matched, ports, a
    conntrack state."""
    out = set()
    if "meta mark set" in text:
        out.add("set-mark " + text.split("meta mark set", 1)[1].split()[2])  # and 0xfffeffff | or 0x10000
        text = text.split("meta mark set", 1)[0]
    if re.search(r"\bmark (?:& \S+ )?==", text):
        out.add("match-mark")
    out |= {f"dport {p}" for p in re.findall(r"dport (\S+)", text)}
    if "ct state" in text:
        out.add("ctstate")
    return out


def _features_ipt(rule: str) -> set:
    out = set()
    mark = re.search(r"-j MARK --set-xmark (\S+)/", rule)
    if mark:
        out.add("set-mark " + ("0xfffeffff" if int(mark.group(1), 16) == 0 else mark.group(1)))
    if "-m mark --mark" in rule:
        out.add("match-mark")
    out |= {f"dport {p.replace(':', '-')}" for p in re.findall(r"--dport (\S+)", rule)}
    if "--ctstate" in rule:
        out.add("ctstate")
    return out


def find(table: str, chain: str, text: str, verdict: str):
    """The iptables rule a traced nft rule (``text``, ``verdict``) is, or None."""
    wanted = None
    if verdict.startswith(("jump ", "goto ")):
        wanted = verdict.split()[1]
    dnat = re.search(r"dnat to (\S+)", text)
    addrs = re.findall(r"\d+\.\d+\.\d+\.\d+(?:/\d+)?", text)
    word = verdict.split()[0] if verdict else ""
    features = _features_nft(text)
    for rule in rules_of(table, chain):
        target = _target(rule)
        if wanted and target != wanted:
            continue
        if dnat and f"--to-destination {dnat.group(1)}" not in rule:
            continue
        if not wanted and not dnat and target and target.upper() != word.upper() \
                and target not in VERDICTS.get(word, ()):
            continue
        if all(a.split("/")[0] in rule for a in addrs) and _features_ipt(rule) == features:
            return rule
    return None


def describe(rule: str) -> str:
    """What a learner reads of an iptables rule: its comment and statistic."""
    parts = []
    comment = re.search(r'--comment (?:"((?:[^"\\]|\\.)*)"|(\S+))', rule)
    if comment:
        text = (comment.group(1) or comment.group(2)).replace('\\"', '"')
        parts.append(f'"{text}"')
    prob = re.search(r"--probability (\S+)", rule)
    if prob:
        parts.append(f"statistic --probability {float(prob.group(1)):g} matched")
    return " ".join(parts)
