"""What the service proxy changes on the host, besides its rules:

- a dummy device (MINIPOD_SERVICE_DEVICE, default minipod-svc0; a bridge
  without ports where the kernel has no dummy driver) with routes
  for the service range and the LoadBalancer pool: a packet to a virtual IP
  that no rule catches goes to the dummy and is dropped there, never to the
  host's gateway (kube-proxy's IPVS mode uses kube-ipvs0 the same way);
- br_netfilter and net.bridge.bridge-nf-call-iptables=1, which a node needs
  so that a pod reaching a service backed by a pod on the same bridge gets
  its replies un-NATed (kubernetes#38802).
"""

import os
import socket

from minipod import hostcmd
from minipod.errors import MinipodError


def device() -> str:
    return os.environ.get("MINIPOD_SERVICE_DEVICE", "minipod-svc0")


def run(args, check=True, input=None):
    """Run a host command (ip, iptables, nft, conntrack …); one that hangs
    is killed after hostcmd.command_timeout() and raises MinipodError, so
    the agent's pass logs it and tries again instead of waiting forever."""
    try:
        proc = hostcmd.run(args, input=input.encode() if input is not None else None,
                           timeout=hostcmd.command_timeout(), text=True)
    except hostcmd.Timeout as e:
        raise MinipodError(str(e)) from None
    except FileNotFoundError:
        raise MinipodError(f"{args[0]} is not installed (scripts/setup installs it)") from None
    if check and proc.returncode != 0:
        raise MinipodError(f"{' '.join(args[:4])}: {' '.join(proc.stderr.split())}")
    return proc


def ensure_routes(cidrs, dev: str = None) -> None:
    """Route ``cidrs`` to the service device (``dev``: another of that kind,
    as a cluster node's for its cluster's Service range), after checking,
    every time the proxy sets up and not only when the device is made,
    that the host's own networking uses nothing in them."""
    dev = dev or device()
    try:
        _refuse_overlaps(cidrs, dev)
    except MinipodError:
        for cidr in cidrs:  # what an earlier set-up routed here must not cut the host off either
            run(["ip", "route", "del", str(cidr), "dev", dev], check=False)
        raise
    if run(["ip", "link", "show", dev], check=False).returncode != 0:
        if run(["ip", "link", "add", dev, "type", "dummy"], check=False).returncode != 0:
            # Kernels without the dummy driver: a bridge with no ports drops
            # what is routed to it just the same.
            run(["ip", "link", "add", dev, "type", "bridge"])
    run(["ip", "link", "set", dev, "up"])
    for cidr in cidrs:
        run(["ip", "route", "replace", str(cidr), "dev", dev])


def _refuse_overlaps(cidrs, dev: str) -> None:
    """Never take over a range the host routes (its uplink, say) or a
    destination it reaches through its default route (its resolvers, its
    proxy, its package mirror): the service range and the pool must be the
    proxy's alone, and a packet to them is dropped on ``dev``."""
    from minipod import hostnet
    for cidr in cidrs:
        why = hostnet.conflicts(cidr, own_devices=(dev,))
        if why:
            raise MinipodError(f"{cidr} is the host's own: {why[0]}; choose another range "
                               "(MINIPOD_SERVICE_CIDR, MINIPOD_LB_POOL)")


def remove_routes(dev: str = None) -> None:
    """Deleting the device takes its routes with it."""
    run(["ip", "link", "del", dev or device()], check=False)


def has_device() -> bool:
    """Whether the service device exists in this network namespace (asked
    of the kernel directly: the agent asks on every pass)."""
    try:
        socket.if_nametoindex(device())
    except OSError:
        return False
    return True


def route_device(ip: str):
    """The device the host routes ``ip`` through (tests check it before sending)."""
    out = run(["ip", "-o", "route", "get", ip], check=False).stdout.split()
    return out[out.index("dev") + 1] if "dev" in out else None


def enable_bridge_netfilter() -> None:
    path = "/proc/sys/net/bridge/bridge-nf-call-iptables"
    if not os.path.exists(path):
        run(["modprobe", "br_netfilter"], check=False)
    try:
        with open(path, "w") as f:
            f.write("1")
    except OSError as e:
        raise MinipodError(f"cannot enable bridge-nf-call-iptables ({e.strerror}): "
                           "pod-to-service traffic on one bridge needs br_netfilter") from None
