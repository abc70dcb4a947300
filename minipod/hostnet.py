"""What the host's own networking uses, so that minipod never takes it.

Two kinds of use: ranges the host routes (its uplink's subnet, a VPN, a
bridge of another tool), and destinations it reaches through its default
route — its resolvers, its proxy, the package mirror it installs from,
any peer it talks to right now. A range that minipod routes somewhere of
its own (the service range and LoadBalancer pool to a device that drops,
a test's "outside host" on a veth) must contain none of them: otherwise
the host's own traffic to them is cut off while minipod holds the range.

Everything is read from files (/proc/net/route, /proc/net/tcp,
/etc/resolv.conf, /etc/hosts, the proxy variables): no name is looked up.
"""

import ipaddress
import os
from urllib.parse import urlsplit

PROXY_VARIABLES = ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy",
                   "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY")
TCP_ESTABLISHED = "01"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _address(text: str):
    try:
        return ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None


def resolvers(text: str = None) -> list:
    """The nameservers of /etc/resolv.conf."""
    text = _read("/etc/resolv.conf") if text is None else text
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            ip = _address(fields[1])
            if ip is not None:
                out.append(ip)
    return out


def hosts_entries(text: str = None) -> list:
    """[(address, names)] of /etc/hosts (a package mirror is often pinned there)."""
    text = _read("/etc/hosts") if text is None else text
    out = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            ip = _address(fields[0])
            if ip is not None:
                out.append((ip, " ".join(fields[1:])))
    return out


def proxies(environ=os.environ) -> list:
    """[(address, variable)] of the proxy variables that name an address."""
    out = []
    for var in PROXY_VARIABLES:
        value = environ.get(var)
        if value:
            host = urlsplit(value if "://" in value else f"http://{value}").hostname or ""
            ip = _address(host)
            if ip is not None:
                out.append((ip, var))
    return out


def tcp_peers(text: str = None) -> list:
    """The remote addresses of this namespace's established IPv4 TCP
    connections (/proc/net/tcp: a download from the mirror, a proxy's)."""
    text = _read("/proc/net/tcp") if text is None else text
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != TCP_ESTABLISHED:
            continue
        try:
            raw = bytes.fromhex(fields[2].split(":")[0])
        except ValueError:
            continue
        out.append(ipaddress.IPv4Address(raw[::-1]))
    return out


def used_destinations() -> list:
    """[(address, why)] the host reaches, loopback and link-local left out."""
    found = [(ip, "a resolver in /etc/resolv.conf") for ip in resolvers()]
    found += [(ip, f"{names} in /etc/hosts") for ip, names in hosts_entries()]
    found += [(ip, f"the proxy of ${var}") for ip, var in proxies()]
    found += [(ip, "a peer of an open TCP connection") for ip in tcp_peers()]
    return [(ip, why) for ip, why in found if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified)]


def parse_route_table(text: str) -> list:
    """[(IPv4Network, device)] of /proc/net/route's text, default routes left
    out (every subnet "overlaps" 0.0.0.0/0, and pods are meant to sit behind it)."""
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest = int(fields[1], 16).to_bytes(4, "little")
            mask = int(fields[7], 16).to_bytes(4, "little")
            net = ipaddress.IPv4Network(f"{ipaddress.IPv4Address(dest)}/{ipaddress.IPv4Address(mask)}",
                                        strict=False)
        except (ValueError, OverflowError):
            continue
        if net.prefixlen:
            out.append((net, fields[0]))
    return out


def host_routes() -> list:
    """The host's IPv4 routes of the main table (see parse_route_table)."""
    try:
        with open("/proc/net/route") as f:
            return parse_route_table(f.read())
    except OSError:
        return []


def conflicts(cidr, own_devices=()) -> list:
    """Why the host's own networking needs ``cidr`` (one line each; empty:
    the range is free). Routes through ``own_devices`` are minipod's own."""
    net = ipaddress.ip_network(cidr, strict=False)
    routes = host_routes()
    out = [f"the host routes {route} through {dev}" for route, dev in routes
           if dev not in own_devices and route.version == net.version and route.overlaps(net)]
    # What the caller routes to its own device already is its own: a connection to a ClusterIP (DNATed to a
    # pod), the cluster DNS as the host's resolver. Only what leaves through the host's routes counts.
    own = [route for route, dev in routes if dev in own_devices]
    seen = set()
    for ip, why in used_destinations():
        if any(ip.version == route.version and ip in route for route in own):
            continue
        if ip.version == net.version and ip in net and ip not in seen:
            seen.add(ip)
            out.append(f"the host uses {ip} ({why})")
    return out
