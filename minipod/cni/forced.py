"""Release an attachment whose DEL cannot run (`minipod gc --force`).

When a plugin binary is gone, refuses DEL or hangs, the attachment's cache
stays, and with it everything the plugins made. The runtime cannot undo a
plugin's work in general, but it can release what it knows by name: its
own cache entry, host-local's reservation files (they name the container
id), and the nat rules whose comment names the container id (bridge's
ipMasq chain, portmap's DNAT chain). What is left is said, plugin by
plugin, as far as the reference plugins' behaviour is known.
"""

import contextlib
import fcntl
import os
from pathlib import Path

from minipod.cni import leftovers

HOST_LOCAL_DATA_DIR = "/var/lib/cni/networks"  # host-local's default dataDir

# What a plugin of the reference set keeps outside the pod's network
# namespace once that namespace is gone (veth pairs and routes through
# them go with it). Plugins not named here: minipod does not know.
KEEPS_NOTHING = {"bridge", "ptp", "macvlan", "ipvlan", "vlan", "host-device", "loopback", "tuning",
                 "portmap", "host-local", "static", "sbr", "vrf"}
KEEPS = {
    "firewall": "its CNI-FORWARD rules for the pod's addresses",
    "bandwidth": "its ifb device on the host (named after the container id)",
    "dhcp": "the DHCP daemon's lease",
}


def plugin_types(att) -> list:
    """Every plugin type of the attachment's chain, its IPAM plugins too."""
    types = []
    for plugin in att.conflist.get("plugins", []):
        types.append(plugin.get("type", "?"))
        ipam = plugin.get("ipam") or {}
        if ipam.get("type"):
            types.append(ipam["type"])
    return types


def would_leave(att) -> list:
    """What a forced release leaves, plugin by plugin (empty: nothing known)."""
    left = []
    for t in plugin_types(att):
        if t in KEEPS:
            left.append(f"{t}: {KEEPS[t]}")
        elif t not in KEEPS_NOTHING:
            left.append(f"{t}: whatever it keeps of its own (unknown to minipod)")
    return left


def host_local_reservations(att) -> list:
    """host-local's reservation files naming this attachment (container id
    and interface), in each host-local IPAM of the chain."""
    found = []
    for plugin in att.conflist.get("plugins", []):
        ipam = plugin.get("ipam") or {}
        if ipam.get("type") != "host-local":
            continue
        netdir = Path(ipam.get("dataDir") or HOST_LOCAL_DATA_DIR) / att.network
        try:
            entries = list(netdir.iterdir())
        except OSError:
            continue
        for f in entries:
            if f.name == "lock" or f.name.startswith("last_reserved_ip"):
                continue
            try:
                owner = f.read_text().split()
            except OSError:
                continue
            if owner[:1] == [att.container_id] and (len(owner) < 2 or owner[1] == att.ifname):
                found.append(f)
    return found


def release(att, cache_file: Path) -> list:
    """Release what minipod knows of ``att``: its reservations, its nat
    rules, its cache file. Returns what was released, as short phrases."""
    released = []
    for f in host_local_reservations(att):
        with _host_local_lock(f.parent):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
                released.append(f"IP {f.name} (host-local)")
    rules = leftovers.remove(att.container_id, att.network)
    if rules:
        released.append(f"{len(rules)} nat rule(s) and chain(s) naming it")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(cache_file)
        released.append("minipod's cache entry")
    return released


@contextlib.contextmanager
def _host_local_lock(netdir: Path):
    """host-local's own lock on its network's directory (disk.Store: an
    flock on <dir>/lock), so a concurrent ADD never sees a half release."""
    try:
        fd = os.open(netdir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
