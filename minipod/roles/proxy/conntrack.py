"""Stale conntrack entries of virtual IPs.

A connection tried before a service's rules existed got a conntrack entry
without NAT (its SYN went to the service device and was dropped there).
Every retransmission of that SYN follows the entry, not the nat rules, so
the connection keeps failing after the rules are live, until the entry
times out (two minutes in SYN_SENT). When a service port starts to be
served, the proxy deletes such entries towards it, and only those: an
entry is stale when its reply comes from the virtual IP itself, i.e. no
DNAT happened. kube-proxy does the same for UDP services.
"""

import shutil

from minipod.objects import services as svcmod
from minipod.roles.proxy import host, rules


def served(services: list, endpoints: dict) -> set:
    """{(virtual IP, protocol, port)} of every service port with endpoints:
    its ClusterIP and its LoadBalancer IP."""
    out = set()
    for svc in services:
        ip = svc["spec"].get("clusterIP")
        if not ip or ip == "None":
            continue
        key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
        lb = svcmod.lb_ip(svc)
        for port in svc["spec"].get("ports", []):
            if rules.endpoints_for(port, endpoints.get(key)):
                proto = port.get("protocol", "TCP").lower()
                out |= {(vip, proto, str(port["port"])) for vip in (ip, lb) if vip}
    return out


def fields(line: str):
    """(protocol, the key=value fields in order of appearance, state) of one
    `conntrack -L` line (the original tuple's values first, the reply's
    second), or None for what is not TCP or UDP (minipod.trace reads it too)."""
    words = line.split()
    if len(words) < 4 or words[0] not in ("tcp", "udp"):
        return None
    values = {}
    for word in words:
        key, sep, value = word.partition("=")
        if sep and value:
            values.setdefault(key, []).append(value)
    state = words[3] if words[0] == "tcp" and "=" not in words[3] else ""
    return words[0], values, state


def parse(line: str):
    """(protocol, src, dst, sport, dport, reply src) of one `conntrack -L`
    line, or None for what is not TCP or UDP."""
    found = fields(line)
    if found is None:
        return None
    proto, values, _state = found
    try:
        return (proto, values["src"][0], values["dst"][0], values["sport"][0], values["dport"][0],
                values["src"][1])
    except (KeyError, IndexError):
        return None


def clear_unnated(targets: set, ranges) -> int:
    """Delete the entries towards ``targets`` ({(ip, proto, port)}) that
    were never NATed; ``ranges`` bound the listing. Returns how many."""
    if not targets or not shutil.which("conntrack"):
        return 0
    deleted = 0
    for net in ranges:
        out = host.run(["conntrack", "-L", "-d", str(net.network_address), "--mask-dst", str(net.netmask)],
                       check=False).stdout
        for line in out.splitlines():
            entry = parse(line)
            if entry is None:
                continue
            proto, src, dst, sport, dport, reply_src = entry
            if (dst, proto, dport) in targets and reply_src == dst:
                host.run(["conntrack", "-D", "-p", proto, "-s", src, "-d", dst, "--sport", sport,
                          "--dport", dport], check=False)
                deleted += 1
    return deleted
