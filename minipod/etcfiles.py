"""The /etc/hosts, /etc/hostname and /etc/resolv.conf a pod's containers see."""

import ipaddress
import re

_LOOPBACK_NS = re.compile(r"^\s*nameserver\s+(\S+)")


def hosts(hostname: str, ip) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    if ip:
        lines.append(f"{ip.split('/')[0]}\t{hostname}")
    else:
        lines.append(f"127.0.1.1\t{hostname}")
    return "\n".join(lines) + "\n"


def resolv_conf(host_text: str) -> str:
    """The host's resolv.conf minus loopback nameservers (a stub resolver
    such as systemd-resolved's 127.0.0.53 is unreachable from a pod's
    netns); if none remain, fall back to no nameserver rather than a guess."""
    out = []
    for line in host_text.splitlines():
        m = _LOOPBACK_NS.match(line)
        if m:
            try:
                if ipaddress.ip_address(m.group(1).split("%")[0]).is_loopback:
                    continue
            except ValueError:
                continue
        out.append(line)
    return "\n".join(out).strip() + "\n" if any(l.strip() for l in out) else ""


def write_all(directory, hostname: str, ip, resolv=None) -> dict:
    """Write the three files into ``directory``; return {container path: file}.
    ``resolv``: the pod's own resolv.conf (cluster DNS), else the host's."""
    if resolv is None:
        try:
            with open("/etc/resolv.conf") as f:
                resolv = resolv_conf(f.read())
        except OSError:
            resolv = ""
    files = {"/etc/hosts": hosts(hostname, ip), "/etc/hostname": hostname + "\n",
             "/etc/resolv.conf": resolv}
    out = {}
    for target, text in files.items():
        path = directory / target.rsplit("/", 1)[1]
        path.write_text(text)
        out[target] = str(path)
    return out
