"""Pure parsing and validation of user input: ports, env, user, signals, CIDRs.

Nothing here touches the system; all of it is unit-tested without root.
"""

import ipaddress
import re
import signal
from dataclasses import asdict, dataclass

from minipod.errors import InvalidArgument

_PORT_RE = re.compile(
    r"^(?:(?P<ip>\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(?P<host>\d+):(?P<ctr>\d+)(?:/(?P<proto>[a-z]+))?$")
_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class PortMapping:
    """One published port, in CNI ``portMappings`` capability shape."""

    host_port: int
    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""

    def to_cni(self) -> dict:
        entry = {"hostPort": self.host_port, "containerPort": self.container_port,
                 "protocol": self.protocol}
        if self.host_ip:
            entry["hostIP"] = self.host_ip
        return entry

    def __str__(self):
        host = f"{self.host_ip}:" if self.host_ip else "0.0.0.0:"
        return f"{host}{self.host_port}->{self.container_port}/{self.protocol}"

    def as_dict(self) -> dict:
        return asdict(self)


def _port_number(text: str, what: str, spec: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise InvalidArgument(f"invalid port mapping {spec!r}: {what} {value} is not in 1-65535")
    return value


def parse_port(spec: str) -> PortMapping:
    """Parse ``[HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]`` as docker does."""
    match = _PORT_RE.match(spec.strip())
    if not match:
        raise InvalidArgument(
            f"invalid port mapping {spec!r}: expected [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]")
    proto = match.group("proto") or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid port mapping {spec!r}: protocol must be tcp, udp or sctp")
    host_ip = (match.group("ip") or "").strip("[]")
    if host_ip:
        try:
            host_ip = str(ipaddress.ip_address(host_ip))
        except ValueError:
            raise InvalidArgument(f"invalid port mapping {spec!r}: {host_ip!r} is not an IP address") from None
    return PortMapping(_port_number(match.group("host"), "host port", spec),
                       _port_number(match.group("ctr"), "container port", spec), proto, host_ip)


def parse_ports(specs) -> list:
    """Parse several -p values; the same host port twice is an error."""
    ports = [parse_port(s) for s in specs]
    seen = set()
    for p in ports:
        key = (p.host_ip, p.host_port, p.protocol)
        if key in seen:
            raise InvalidArgument(f"host port {p.host_port}/{p.protocol} is published twice")
        seen.add(key)
    return ports


def parse_env(items) -> dict:
    """Parse ``-e KEY=VALUE`` items (``-e KEY`` alone is refused: we have no
    caller environment to copy from in a detached container)."""
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not _ENV_KEY_RE.match(key):
            raise InvalidArgument(f"invalid environment variable {item!r}: expected KEY=VALUE")
        env[key] = value
    return env


def parse_user(spec):
    """Parse ``--user UID[:GID]`` (numeric only) into (uid, gid)."""
    if spec is None:
        return 0, 0
    uid, sep, gid = spec.partition(":")
    if not uid.isdigit() or (sep and not gid.isdigit()):
        raise InvalidArgument(f"invalid user {spec!r}: expected numeric UID[:GID]")
    return int(uid), int(gid) if gid else int(uid)


def parse_signal(spec) -> int:
    """Parse ``-s`` as a number, ``TERM`` or ``SIGTERM``."""
    text = str(spec).strip().upper()
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        if hasattr(signal.Signals, name):
            return int(signal.Signals[name])
    raise InvalidArgument(f"invalid signal {spec!r}")


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    """Parse an IPv4 CIDR with host bits zero and room for pods."""
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise InvalidArgument(f"invalid subnet {text!r}: {e}") from None
    if net.version != 4:
        raise InvalidArgument(f"invalid subnet {text!r}: only IPv4 subnets are supported")
    if net.prefixlen > 30:
        raise InvalidArgument(f"invalid subnet {text!r}: a /{net.prefixlen} has no room for pods")
    return net


def parse_gateway(text, subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """The gateway: given, or the subnet's first address; must lie inside it."""
    if text is None:
        return next(subnet.hosts())
    try:
        gw = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid gateway {text!r}") from None
    if gw not in subnet or gw in (subnet.network_address, subnet.broadcast_address):
        raise InvalidArgument(f"gateway {gw} is not a host address of {subnet}")
    return gw
