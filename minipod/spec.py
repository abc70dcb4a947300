"""Pure parsing and validation of user input: ports, env, user, signals, CIDRs,
and RunOptions, all that a new container is given.

Nothing here touches the system; all of it is unit-tested without root.
"""

import ipaddress
import os
import re
import signal
from dataclasses import asdict, dataclass, field

from minipod.errors import InvalidArgument

# [0-9], not \d: \d also matches other scripts' digits ("٨٠"), which int()
# then accepts.
_PORT_RE = re.compile(
    r"(?:(?P<ip>\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(?P<host>[0-9]{1,5}):(?P<ctr>[0-9]{1,5})(?:/(?P<proto>[a-z]+))?")
_ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UINT_RE = re.compile(r"[0-9]{1,10}")
_SECONDS_RE = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")
MAX_TIMEOUT = 365 * 86400  # a year: beyond it a wait is a mistake, and would overflow time_t maths
MAX_ID = 2**32 - 2  # uid/gid (uid_t)-1 means "unchanged" to setresuid


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
    match = _PORT_RE.fullmatch(spec.strip())
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
        if not sep or not _ENV_KEY_RE.fullmatch(key):
            raise InvalidArgument(f"invalid environment variable {item!r}: expected KEY=VALUE")
        env[key] = value
    return env


def parse_labels(items) -> dict:
    """``--label KEY=VALUE`` items, checked as Kubernetes label keys and
    values (the pods they mark are selected by Kubernetes selectors)."""
    from minipod import names
    labels = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not names.valid_label_key(key) or not names.valid_label_value(value):
            raise InvalidArgument(f"invalid label {item!r}: expected KEY=VALUE with a Kubernetes label key "
                                  "and a value of at most 63 letters, digits, '-', '_' or '.'")
        labels[key] = value
    return labels


def parse_user(spec):
    """Parse ``--user UID[:GID]`` (numeric only) into (uid, gid); none
    given (or empty, as docker takes it) is root."""
    if not spec:
        return 0, 0
    uid, sep, gid = spec.partition(":")
    if not _UINT_RE.fullmatch(uid) or (sep and not _UINT_RE.fullmatch(gid)):
        raise InvalidArgument(f"invalid user {spec!r}: expected numeric UID[:GID]")
    uid, gid = int(uid), int(gid) if gid else int(uid)
    if uid > MAX_ID or gid > MAX_ID:
        raise InvalidArgument(f"invalid user {spec!r}: ids go up to {MAX_ID}")
    return uid, gid


def parse_signal(spec) -> int:
    """Parse ``-s`` as a number, ``TERM`` or ``SIGTERM``."""
    text = str(spec).strip().upper()
    if _UINT_RE.fullmatch(text):
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        if name in signal.Signals.__members__:
            return int(signal.Signals[name])
    raise InvalidArgument(f"invalid signal {spec!r}")


def parse_timeout(text) -> float:
    """Parse a ``-t`` timeout: seconds as a plain decimal number, at most
    MAX_TIMEOUT (float() alone takes "nan", "inf", "1e400" and "٣")."""
    text = str(text).strip()
    if not _SECONDS_RE.fullmatch(text) or float(text) > MAX_TIMEOUT:
        raise InvalidArgument(f"invalid timeout {text!r}: expected seconds from 0 to {MAX_TIMEOUT}")
    return float(text)


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


def parse_security_opts(items):
    """docker's ``--security-opt``: ``seccomp=unconfined`` or
    ``seccomp=PROFILE.json`` (``seccomp:`` too, docker's older spelling);
    ``no-new-privileges`` is accepted and always in force. Returns None (the
    default profile), "unconfined" or the profile's absolute path."""
    seccomp = None
    for item in items:
        text = str(item).strip()
        if text in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"):
            continue
        key, sep, value = text.replace(":", "=", 1).partition("=")
        if key != "seccomp" or not sep or not value or "\0" in value:
            raise InvalidArgument(f"invalid --security-opt {item!r}: expected seccomp=unconfined "
                                  "or seccomp=PROFILE.json")
        seccomp = value if value == "unconfined" else os.path.abspath(value)
    return seccomp


# ------------------------------------------------------------ resource limits

_SIZE_RE = re.compile(r"([0-9]{1,19})([bkmgt]?)b?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_CPUS_RE = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,9})?")
MIN_MEMORY = 6 << 20  # docker's floor: below 6 MiB a container cannot even start
MAX_BYTES = 1 << 62
CPU_PERIOD_US = 100_000  # CFS period docker uses for --cpus
MAX_PIDS = 4_194_304  # the kernel's PID_MAX_LIMIT


def parse_size(text, what="--memory") -> int:
    """Parse docker's byte sizes: a number with an optional b/k/m/g/t unit
    (binary multiples, as docker's RAMInBytes), e.g. 32m, 1g, 512k."""
    match = _SIZE_RE.fullmatch(str(text).strip())
    value = int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()] if match else None
    if value is None or value > MAX_BYTES:
        raise InvalidArgument(f"invalid {what} {text!r}: expected a size such as 64m or 1g")
    return value


@dataclass(frozen=True)
class Limits:
    """docker's resource flags, resolved to what the kernel takes.

    memory, memory_swap: bytes (memory_swap is memory + swap; -1 unlimited);
    cpu_quota_us per CPU_PERIOD_US; cpu_shares (v1 weight, 2-262144);
    pids: the most tasks at once. None leaves the kernel's default.
    """

    memory: int = None
    memory_swap: int = None
    cpu_quota_us: int = None
    cpu_shares: int = None
    pids: int = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __bool__(self):
        return bool(self.as_dict())


def parse_limits(memory=None, memory_swap=None, cpus=None, cpu_shares=None, pids_limit=None) -> Limits:
    """Validate docker's flags (--memory, --memory-swap, --cpus,
    --cpu-shares, --pids-limit) as docker does, into a Limits."""
    mem = parse_size(memory, "--memory") if memory is not None else None
    if mem is not None and mem < MIN_MEMORY:
        raise InvalidArgument(f"invalid --memory {memory!r}: the minimum is 6m")
    swap = None
    if memory_swap is not None:
        if mem is None:
            raise InvalidArgument("--memory-swap needs --memory as well")
        swap = -1 if str(memory_swap).strip() == "-1" else parse_size(memory_swap, "--memory-swap")
        if swap != -1 and swap < mem:
            raise InvalidArgument(f"invalid --memory-swap {memory_swap!r}: it is memory plus swap, "
                                  "so it must be at least --memory (or -1 for unlimited swap)")
    quota = None
    if cpus is not None:
        text = str(cpus).strip()
        if not _CPUS_RE.fullmatch(text) or float(text) <= 0:
            raise InvalidArgument(f"invalid --cpus {cpus!r}: expected a positive number such as 0.5 or 2")
        quota = round(float(text) * CPU_PERIOD_US)
        if quota < 1000:  # the kernel refuses a CFS quota under 1 ms
            raise InvalidArgument(f"invalid --cpus {cpus!r}: the minimum is 0.01")
    shares = None
    if cpu_shares is not None:
        text = str(cpu_shares).strip()
        if not _UINT_RE.fullmatch(text) or not 2 <= int(text) <= 262144:
            raise InvalidArgument(f"invalid --cpu-shares {cpu_shares!r}: expected 2 to 262144")
        shares = int(text)
    pids = None
    if pids_limit is not None:
        text = str(pids_limit).strip()
        if text in ("-1", "0"):
            pids = None  # docker: 0 or -1 means unlimited
        elif not _UINT_RE.fullmatch(text) or int(text) > MAX_PIDS:
            raise InvalidArgument(f"invalid --pids-limit {pids_limit!r}: expected 1 to {MAX_PIDS}, or -1")
        else:
            pids = int(text)
    return Limits(mem, swap, quota, shares, pids)


RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")


def parse_restart(text) -> dict:
    """docker's ``--restart no|on-failure[:N]|always|unless-stopped``:
    {"name": ..., "max": N} (max 0: no limit; only on-failure takes one)."""
    name, sep, count = str(text).partition(":")
    if name not in RESTART_POLICIES or (sep and name != "on-failure"):
        raise InvalidArgument(f"invalid --restart {text!r}: expected no, on-failure[:N], always or unless-stopped")
    if sep and not (count.isascii() and count.isdigit() and 0 < int(count) <= 1_000_000):
        raise InvalidArgument(f"invalid --restart {text!r}: the retry count must be a positive number")
    return {"name": name, "max": int(count) if sep else 0}


def parse_device(text: str) -> dict:
    """docker's --device HOST[:CONTAINER[:PERMISSIONS]] (CONTAINER defaults to HOST, PERMISSIONS to rwm)."""
    parts = text.split(":")
    if len(parts) > 3 or not parts[0].startswith("/"):
        raise InvalidArgument(f"--device {text!r}: expected HOST[:CONTAINER[:PERMISSIONS]] with absolute paths")
    if len(parts) == 2 and not parts[1].startswith("/"):  # HOST:PERMISSIONS, as docker reads it
        parts = [parts[0], parts[0], parts[1]]
    host = parts[0]
    target = parts[1] if len(parts) > 1 and parts[1] else host
    return {"host_path": host, "container_path": target, "permissions": parts[2] if len(parts) > 2 else "rwm"}


@dataclass
class RunOptions:
    """Everything `minipod run` can say about a new container."""

    image: str
    command: list = field(default_factory=list)
    name: str = None
    pod: str = None
    env: dict = field(default_factory=dict)
    workdir: str = None
    hostname: str = None
    user: tuple = None  # (uid, gid); None: the image's User, else root
    entrypoint: str = None  # --entrypoint: replaces the image's, "" clears it
    labels: dict = field(default_factory=dict)
    tty: bool = False
    interactive: bool = False
    detach: bool = False
    auto_remove: bool = False
    ports: list = field(default_factory=list)
    network: str = None
    cap_add: tuple = ()
    cap_drop: tuple = ()
    privileged: bool = False
    limits: Limits = field(default_factory=Limits)
    seccomp: str = None  # None: the default profile; "unconfined"; or a profile's path
    mounts: list = field(default_factory=list)  # parsed by mounts.parse_all
    restart: dict = None  # {"name": no|on-failure|always|unless-stopped, "max": N}: the agent's job
    cri: dict = None  # a CRI container's metadata and log path (minipod.cri): kept in its record
    # "cri": its log in the kubelet's format, a time per line (a Pod object's: `kubectl logs
    # --timestamps`, `--since`); else its output as written (docker's verbs)
    log_format: str = None
    # What the CRI's security context adds (kept in the record as "security"): groups (supplemental
    # gids), no_new_privs (default True), pid_mode ("pod", the default: pause is PID 1 of the pod;
    # "container": a PID namespace of its own in the pod's; "host"), readonly_rootfs, masked_paths
    # and readonly_paths (lists replacing the OCI defaults).
    security: dict = None
    # Host devices given to the container (docker's --device, the CRI's devices):
    # [{"host_path", "container_path", "permissions": subset of "rwm"}]
    devices: list = field(default_factory=list)
    # The OOM killer's adjustment of the container's processes: docker's 0 whatever the
    # caller had, 1000 for a BestEffort Pod object's containers (the kubelet's QoS), the
    # kubelet's own value through the CRI.
    oom_score_adj: int = 0
