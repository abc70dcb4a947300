"""What pods reserve on the host that another pod may want: host ports
(port_clash), and what pods being removed still hold until their teardown
ends (removal.py keeps their records in the removals' store): their host
ports, the addresses of their network."""

import time

from minipod import paths, state
from minipod.errors import InUse
from minipod.spec import PortMapping


def port_clash(ports, theirs):
    """The first of ``ports`` that ``theirs`` (a record's "ports") reserves too, or None."""
    for p in theirs:
        other = PortMapping(**p)
        for mine in ports:
            same_ip = not mine.host_ip or not other.host_ip or mine.host_ip == other.host_ip
            if same_ip and (mine.host_port, mine.protocol) == (other.host_port, other.protocol):
                return mine
    return None


PORT_WAIT = 30.0  # seconds a new pod waits for a removal that holds a port it wants


def removals() -> state.Store:
    """The records of pods being removed (removal.py)."""
    return state.Store(paths.removals_dir(), "pod")


def wait_for_ports(ports) -> None:
    """Wait until no pod being removed holds one of ``ports`` (its portmap
    rules would still catch the traffic); InUse after PORT_WAIT."""
    if ports:
        _wait_for(lambda r: port_clash(ports, r.get("ports", [])), "host port still held")


def wait_for_network(name: str) -> None:
    """Wait until no pod being removed is still attached to network ``name``
    (its DEL needs the bridge and the IP files); InUse after PORT_WAIT."""
    _wait_for(lambda r: r.get("network") == name, f"network {name} still used")


def _wait_for(holds, what: str) -> None:
    deadline = time.monotonic() + PORT_WAIT
    while True:
        holders = [r for r in removals().all() if holds(r)]
        if not holders:
            return
        if time.monotonic() > deadline:
            raise InUse(f"{what} by pod {holders[0]['name']!r}, being removed")
        time.sleep(0.01)
