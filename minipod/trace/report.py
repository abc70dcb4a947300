"""A trace as a learner reads it (text) or a program does (JSON): for the
first flow in full, the request's first packet and the reply's first packet
with every rule they matched; then the conntrack entry with its DNAT and
SNAT, the routes, the endpoint; with several flows, which endpoint each
reached and the split."""

import collections
import re

from minipod.trace import iptables, nftrace, policy


FLAGS = {"0x12": "syn|ack", "0x10": "ack", "0x18": "psh|ack", "0x11": "fin|ack", "0x14": "rst|ack", "0x19": "fin|psh|ack"}


def _rule(step: nftrace.Step) -> str:
    """A rule as one short line: its comment if it has one, what it did (an
    iptables-nft rule's comment and statistic from its iptables form)."""
    comment = re.search(r'comment "([^"]*)"', step.text)
    did = re.search(r"(dnat to \S+|snat to \S+|masquerade.*|numgen .*|vmap .*)$", step.text)
    parts = []
    if comment:
        parts.append(f'"{comment.group(1)}"')
    elif step.family == "ip" and step.table in ("nat", "filter", "mangle"):
        rule = iptables.find(step.table, step.chain, step.text, step.verdict)
        if rule:
            parts.append(iptables.describe(rule))
    if did and not step.verdict.startswith(("jump", "goto")):
        parts.append(did.group(1))
    if step.verdict:
        parts.append(f"→ {step.verdict}")
    return " ".join(p for p in parts if p) or step.text


def _packet_lines(packet: nftrace.Packet, label: str) -> list:
    src = f"{packet.header('ip saddr')}:{packet.header('tcp sport') or packet.header('udp sport')}"
    dst = f"{packet.header('ip daddr')}:{packet.header('tcp dport') or packet.header('udp dport')}"
    where = " ".join(f"{k} {v}" for k, v in (("in", packet.header("iif")), ("out", packet.header("oif"))) if v)
    flags = re.search(r"tcp flags == (\S+)", packet.first)
    flags = FLAGS.get(flags.group(1), flags.group(1)) if flags else None
    lines = [f"  {label}: {src} → {dst}" + (f" tcp {flags}" if flags else "")
             + (f"  ({where})" if where else "")]
    for step in packet.steps:
        if step.kind == "rule":
            lines.append(f"      {step.table + ' ' + step.chain:<40} {_rule(step)}")
        elif step.kind == "policy" and step.verdict not in ("accept",):
            lines.append(f"      {step.table + ' ' + step.chain:<40} policy {step.verdict}")
    return lines


def _dport(packet: nftrace.Packet):
    """The port the packet reaches: a DNAT's, or the one it was sent to."""
    for step in packet.steps:
        m = re.search(r"dnat to \S+:(\d+)", step.text)
        if m:
            return m.group(1)
    return packet.header("tcp dport") or packet.header("udp dport")


def _first(packets, trial: dict, direction: str):
    """The first packet of the request (from the flow's port) or of the
    reply (to it, or to the port a SNAT gave it)."""
    entry = trial["conntrack"]
    if direction == "request":
        own = {str(trial["sport"])}
        key = "sport"
    else:
        own = {str(trial["sport"])} | ({entry.snat[1]} if entry and entry.snat else set())
        key = "dport"
    return next((p for p in packets if (p.header(f"tcp {key}") or p.header(f"udp {key}")) in own), None)


def text(result: dict) -> str:
    iptables.forget()
    src, t = result["source"], result["target"]
    trials = result["trials"]
    first = trials[0]
    lines = [f"trace: {src.label}{' (' + src.ip + ')' if src.ip else ''} → {t.label}"]
    if not first["ok"]:
        lines.append(f"  the flow failed: {first['error']}")
    if src.kind == "pod":
        lines.append(f"  route in the source pod: {result['routes']['from the source']}")
    elif src.kind == "outside":
        lines.append(f"  route of the outside client: {result['routes']['from the source']}")
    for label, direction in (("request", "request"), ("reply", "reply")):
        p = _first(first["packets"], first, direction)
        if p is not None:
            lines += _packet_lines(p, label)
            if direction == "request":
                lines += policy.verdicts(p, _rule, src.ip or p.header("ip saddr"), _dport(p))
    more = len(first["packets"]) - 2
    if more > 0:
        lines.append(f"  ({more} more packets of this flow: ACKs and data, through the same chains without the "
                     "nat table: conntrack knows them)")
    entry = first["conntrack"]
    if entry is not None:
        lines.append(f"  conntrack: original {entry.orig[0]}:{entry.orig[1]} → {entry.orig[2]}:{entry.orig[3]}, "
                     f"reply {entry.reply[0]}:{entry.reply[1]} → {entry.reply[2]}:{entry.reply[3]} {entry.state}")
        if entry.dnat:
            lines.append(f"      DNAT: sent to {entry.dnat[0]}:{entry.dnat[1]} instead of {entry.orig[2]}:{entry.orig[3]}")
        if entry.snat:
            lines.append(f"      SNAT: left as {entry.snat[0]}:{entry.snat[1]} instead of {entry.orig[0]}:{entry.orig[1]}")
    if t.kind == "gateway":
        from minipod.trace import gateway
        lines += gateway.describe(t.gateway)
    if first.get("upstream_packets"):
        up = first["upstream_packets"][0]
        lines.append("  the Gateway's nginx, to the backend:" if t.kind == "gateway" else
                     "  the ingress controller's nginx, to the backend:")
        lines += _packet_lines(up, "upstream")
        lines += policy.verdicts(up, _rule, up.header("ip saddr"), _dport(up))
    lines.append(f"  route on the node: {result['routes']['on the node']}")
    if any(line.startswith("  policy: dropped") for line in lines):
        lines.append("  refused by: the policy rule above (REJECT: an ICMP port unreachable from the node)")
    elif first["endpoint_ip"]:
        lines.append(f"  answered by: {('pod ' + first['endpoint']) if first['endpoint'] else 'this host'} "
                     f"({first['endpoint_ip']})")
    if len(trials) > 1:
        split = collections.Counter(tr["endpoint"] or tr["endpoint_ip"] or "no answer" for tr in trials)
        lines.append(f"  {len(trials)} flows: " + ", ".join(f"{n} to {who}" for who, n in sorted(split.items())))
    return "\n".join(lines)


def as_json(result: dict) -> dict:
    def packet(p):
        return {"id": p.id, "header": p.first,
                "steps": [{"family": s.family, "table": s.table, "chain": s.chain, "kind": s.kind, "rule": s.text,
                           "verdict": s.verdict} for s in p.steps]}

    def entry(e):
        return None if e is None else {"proto": e.proto, "state": e.state, "original": list(e.orig),
                                       "reply": list(e.reply), "dnat": e.dnat, "snat": e.snat}
    src, t = result["source"], result["target"]
    return {"source": {"kind": src.kind, "label": src.label, "ip": src.ip},
            "policy": policy_events(result),
            "target": {"ip": t.ip, "port": t.port, "protocol": t.proto, "kind": t.kind, "label": t.label},
            "routes": result["routes"],
            "trials": [{"sport": tr["sport"], "ok": tr["ok"], "error": tr["error"], "endpoint": tr["endpoint"],
                        "endpointIP": tr["endpoint_ip"], "conntrack": entry(tr["conntrack"]),
                        "packets": [packet(p) for p in tr["packets"]],
                        "upstreamPackets": [packet(p) for p in tr.get("upstream_packets", [])]}
                       for tr in result["trials"]]}


def policy_events(result: dict) -> list:
    """The policy verdicts of the first flow (trace/policy.events): its
    request's first packet, then the ingress controller's leg to the backend."""
    first = result["trials"][0]
    packets = [_first(first["packets"], first, "request")] + first.get("upstream_packets", [])[:1]
    return [e for p in packets if p is not None for e in policy.events(p, _rule)]
