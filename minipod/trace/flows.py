"""What the kernel keeps of a traced flow besides the trace: its conntrack
entry (the original and the reply tuple: a DNAT shows as a reply from
another address than the one asked, a SNAT as a reply to another address
than the one that asked), the routes each hop looked up, and which pod
answered."""

import subprocess
from dataclasses import dataclass


@dataclass
class Entry:
    """A conntrack entry: protocol, state, original and reply tuples."""
    proto: str
    state: str
    orig: tuple  # (src, sport, dst, dport)
    reply: tuple

    @property
    def dnat(self):
        """(address, port) the flow was sent to instead of what it asked, or None."""
        src, sport = self.reply[0], self.reply[1]
        return (src, sport) if (src, sport) != (self.orig[2], self.orig[3]) else None

    @property
    def snat(self):
        """(address, port) the flow left with instead of its own, or None."""
        dst, dport = self.reply[2], self.reply[3]
        return (dst, dport) if (dst, dport) != (self.orig[0], self.orig[1]) else None


def parse(line: str):
    """An Entry of one `conntrack -L` line (TCP or UDP), or None."""
    from minipod.roles.proxy import conntrack
    found = conntrack.fields(line)
    if found is None:
        return None
    proto, values, state = found
    try:
        orig = (values["src"][0], values["sport"][0], values["dst"][0], values["dport"][0])
        reply = (values["src"][1], values["sport"][1], values["dst"][1], values["dport"][1])
    except (KeyError, IndexError):
        return None
    return Entry(proto, state, orig, reply)


def entry(proto: str, sport: int, dst: str, dport: int, src: str = None, netns: str = None):
    """The conntrack entry of the flow from source port ``sport`` (and
    address ``src``, when known) to ``dst``:``dport`` (in ``netns``'s
    table), or None. Only that flow's: an older entry of another flow from
    the same source port (another pod's, another test's) is not it."""
    argv = ["conntrack", "-L", "-p", proto, "--orig-port-src", str(sport), "--orig-dst", dst,
            "--orig-port-dst", str(dport)]
    if netns:
        argv = ["nsenter", f"--net={netns}"] + argv
    out = subprocess.run(argv, capture_output=True, text=True).stdout
    found = [e for e in map(parse, out.splitlines()) if e is not None and e.orig[2] == dst
             and e.orig[3] == str(dport) and (src is None or e.orig[0] == src)]
    return found[0] if found else None


def route(dst: str, netns: str = None, src: str = None) -> str:
    """`ip route get` of ``dst`` (from ``src``) in ``netns`` (None: the host), one line."""
    argv = ["ip", "-o", "route", "get", dst] + (["from", src] if src else [])
    if netns:
        argv = ["nsenter", f"--net={netns}"] + argv
    out = subprocess.run(argv, capture_output=True, text=True)
    text = (out.stdout or out.stderr).split("\\")[0].strip()
    return " ".join(w for w in text.split() if w not in ("cache",))


def pod_of(ip: str):
    """The name of this node's pod with address ``ip`` (its Pod object's
    namespace/name when it has one), or None."""
    from minipod.core import pod
    for rec in pod.store().all():
        if (rec.get("ip") or "").split("/")[0] == ip:
            k8s = rec.get("k8s") or {}
            return f"{k8s['namespace']}/{k8s['name']}" if k8s else rec["name"]
    return None


def veth_of(ip: str):
    """The host side veth of this node's pod with address ``ip``, or None."""
    from minipod.core import pod
    from minipod.views import topology
    from minipod.cni import runtime as cni
    for rec in pod.store().all():
        if (rec.get("ip") or "").split("/")[0] != ip:
            continue
        for key in rec.get("attachments", []):
            att = cni.load_cached(key)
            if att is not None and att.ifname == "eth0" and att.result:
                return topology.host_veth(att.result)
    return None
