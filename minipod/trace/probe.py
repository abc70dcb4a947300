"""The traced flow itself: a TCP connection (and, through the ingress, one
HTTP request) or a UDP datagram, from a chosen source port, made from the
host, from inside a pod's network namespace (a thread joins it to make the
socket, as the kubelet's port-forward dials), or from a client outside the
node: a network namespace of its own made for the trace, joined to the host
by a veth on a small range of its own (MINIPOD_TRACE_OUTSIDE_NET,
198.18.254.0/30 by default), removed when the trace ends."""

import contextlib
import ipaddress
import os
import random
import socket
import subprocess
import threading

from minipod import paths
from minipod.errors import InvalidArgument
from minipod.runtime import syscalls

TIMEOUT = 5.0


def free_ports(n: int) -> list:
    """``n`` source ports for the flows: high, random, none in use on the host."""
    used = set()
    with contextlib.suppress(OSError):
        for table in ("/proc/net/tcp", "/proc/net/udp"):
            with open(table) as f:
                used |= {int(line.split()[1].split(":")[1], 16) for line in f.readlines()[1:]}
    ports = set()
    while len(ports) < n:
        p = random.randint(40000, 59999)
        if p not in used:
            ports.add(p)
    return sorted(ports)


def _socket_in(netns, proto: str, sport: int) -> socket.socket:
    """A socket bound to ``sport``, made in ``netns`` (a path; None: here)."""
    result = {}

    def make():
        try:
            if netns:
                syscalls.setns_path(netns, syscalls.NS_FLAGS["net"])
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", sport))
            result["sock"] = s
        except OSError as e:
            result["error"] = e
    t = threading.Thread(target=make, daemon=True)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["sock"]


def send(netns, proto: str, sport: int, ip: str, port: int, http: dict = None) -> dict:
    """Make the flow; {"ok", "answer" (the first bytes back), "error"}."""
    s = _socket_in(netns, proto, sport)
    s.settimeout(TIMEOUT)
    out = {"ok": False, "answer": b"", "error": None}
    try:
        if proto == "udp":
            s.sendto(b"minipod trace\n", (ip, port))
            out["answer"], _ = s.recvfrom(4096)
        else:
            s.connect((ip, port))
            if http:
                s.sendall(f"GET {http['path']} HTTP/1.1\r\nHost: {http['host']}\r\nUser-Agent: minipod-trace\r\n"
                          "Connection: close\r\n\r\n".encode())
                chunks = []
                while sum(map(len, chunks)) < 65536:
                    data = s.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
                out["answer"] = b"".join(chunks)
        out["ok"] = True
    except OSError as e:
        out["error"] = e.strerror or str(e)
    finally:
        s.close()
    return out


def outside_net() -> ipaddress.IPv4Network:
    return ipaddress.ip_network(os.environ.get("MINIPOD_TRACE_OUTSIDE_NET", "198.18.254.0/30"))


def outside_names():
    """(the outside client's netns name, the host side veth's)."""
    prefix = paths.netns_prefix()
    return f"{prefix}trace-outside", f"{prefix[:7]}trout"


@contextlib.contextmanager
def outside():
    """A client outside the node: (its netns path, its address, the host's address facing it)."""
    from minipod import hostnet
    net = outside_net()
    host_ip, client_ip = str(net.network_address + 1), str(net.network_address + 2)
    why = hostnet.conflicts(net)  # its routes, and what it reaches through the default route
    if why:
        raise InvalidArgument(f"the outside client's range {net} is the host's own: {why[0]}: "
                              "choose another (MINIPOD_TRACE_OUTSIDE_NET)")
    ns, veth = outside_names()

    def run(*args):
        subprocess.run(list(args), check=True, capture_output=True)
    try:
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        run("ip", "addr", "add", f"{host_ip}/{net.prefixlen}", "dev", veth)
        run("ip", "link", "set", veth, "up")
        for cmd in (["ip", "addr", "add", f"{client_ip}/{net.prefixlen}", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                    ["ip", "link", "set", "lo", "up"], ["ip", "route", "add", "default", "via", host_ip]):
            run("ip", "netns", "exec", ns, *cmd)
        yield str(paths.netns_dir() / ns), client_ip, host_ip
    finally:
        remove_outside()


def remove_outside() -> None:
    ns, veth = outside_names()
    subprocess.run(["ip", "link", "del", veth], capture_output=True)
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
