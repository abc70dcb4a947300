"""Named networks: CNI .conflist files in minipod's config dir.

`minipod network create` writes a docker0-like conflist (bridge + host-local
+ portmap + firewall); any other conformant conflist dropped into the dir
works the same way. The default network is written on first use, on
10.244.0.0/16: the pod network of flannel and of most Kubernetes material,
and not podman's 10.88.0.0/16, so the two runtimes can live on one host.
A new network's subnet may overlap neither another conflist's nor a route
the host already has.
"""

import ipaddress
import json
import os
import re
from pathlib import Path

from minipod import hostnet, names, paths, state
from minipod.cni import config
from minipod.errors import AlreadyExists, CNIError, InUse, InvalidArgument, NotFound
from minipod.spec import parse_gateway, parse_subnet

SPECIAL = ("none", "host")
DEFAULT_SUBNET = "10.244.0.0/16"
_IFNAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,15}")


def default_name() -> str:
    return os.environ.get("MINIPOD_DEFAULT_NETWORK", "minipod")


def default_params():
    """The default network's bridge and subnet (MINIPOD_DEFAULT_BRIDGE, MINIPOD_DEFAULT_SUBNET)."""
    return (os.environ.get("MINIPOD_DEFAULT_BRIDGE", "minipod0"),
            os.environ.get("MINIPOD_DEFAULT_SUBNET", DEFAULT_SUBNET))


def _conf_files():
    for d in [paths.cni_conf_dir()] + paths.cni_extra_conf_dirs():
        try:
            yield from sorted(p for p in Path(d).iterdir() if p.suffix == ".conflist")
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue


def _read(path: Path) -> dict:
    conf = config.parse_conflist(path.read_bytes(), str(path))
    conf["_path"] = str(path)
    return conf


def find(name: str):
    """The conflist named ``name`` (with "_path") or None. A broken file
    whose name matches is reported, not skipped."""
    for path in _conf_files():
        if path.stem == name:
            return _read(path)
    for path in _conf_files():
        try:
            conf = _read(path)
        except CNIError:
            continue
        if conf["name"] == name:
            return conf
    return None


def load(name: str) -> dict:
    """The conflist for ``name``; the default network is created if absent."""
    conf = find(name)
    if conf is not None:
        return conf
    if name == default_name():
        bridge, subnet = default_params()
        args = _validate(name, subnet, None, bridge)
        with state.global_lock():
            return find(name) or _create_locked(*args)
    if name in SPECIAL:
        raise NotFound(f"{name!r} is not a CNI network: it means "
                       + ("no network but loopback" if name == "none" else "the host's own network"))
    raise NotFound(f"no such network: {name} (create it with `minipod network create {name} --subnet CIDR`)")


def strip_private(conf: dict) -> dict:
    return {k: v for k, v in conf.items() if not k.startswith("_")}


def _plugins(conf) -> list:
    """The plugin objects of a conflist of any shape (users' files and other
    runtimes' are read too: a wrong shape means "nothing here", not a crash)."""
    plugins = conf.get("plugins") if isinstance(conf, dict) else None
    return [p for p in plugins if isinstance(p, dict)] if isinstance(plugins, list) else []


def _ipam_ranges(plugin: dict) -> list:
    """host-local's ranges of a plugin as a flat list of dicts: ``ranges``
    (a list of range sets) or the older single ``subnet``."""
    ipam = plugin.get("ipam")
    if not isinstance(ipam, dict):
        return []
    if "subnet" in ipam and "ranges" not in ipam:
        return [{"subnet": ipam["subnet"], "gateway": ipam.get("gateway")}]
    ranges = ipam.get("ranges")
    if not isinstance(ranges, list):
        return []
    return [r for rangeset in ranges if isinstance(rangeset, list) for r in rangeset if isinstance(r, dict)]


def subnets_of(conf: dict) -> list:
    """The IPv4 subnets a conflist's IPAM hands out (host-local shape)."""
    out = []
    for plugin in _plugins(conf):
        for r in _ipam_ranges(plugin):
            try:
                out.append(ipaddress.ip_network(r.get("subnet"), strict=False))
            except (TypeError, ValueError):
                pass
    return out


def gateway_of(conf: dict):
    for plugin in _plugins(conf):
        for r in _ipam_ranges(plugin):
            if isinstance(r.get("gateway"), str):
                return r["gateway"]
    return None


def bridge_of(conf: dict):
    for plugin in _plugins(conf):
        if plugin.get("type") == "bridge":
            bridge = plugin.get("bridge", "cni0")
            return bridge if isinstance(bridge, str) else None
    return None


def list_networks() -> list:
    seen, out = set(), []
    for path in _conf_files():
        try:
            conf = _read(path)
        except CNIError:
            continue
        if conf["name"] not in seen:
            seen.add(conf["name"])
            out.append(conf)
    return out


def create(name: str, subnet: str, gateway, bridge) -> dict:
    """Write a docker0-like conflist for a new network."""
    args = _validate(name, subnet, gateway, bridge)  # bad input fails before any lock or file
    with state.global_lock():
        return _create_locked(*args)


def _validate(name: str, subnet: str, gateway, bridge):
    names.validate_name(name, "network name")
    if name in SPECIAL:
        raise InvalidArgument(f"network name {name!r} is reserved")
    net = parse_subnet(subnet)
    gw = parse_gateway(gateway, net)
    bridge = bridge or f"mp-{name}"[:15]
    if not _IFNAME_RE.fullmatch(bridge) or bridge in (".", ".."):
        raise InvalidArgument(f"invalid bridge name {bridge!r}: at most 15 of [A-Za-z0-9_.-]")
    return name, net, gw, bridge


def _create_locked(name, net, gw, bridge) -> dict:
    """create() with the global lock held: name, bridge and subnet must be
    unique among all networks."""
    for other in list_networks():
        if other["name"] == name:
            raise AlreadyExists(f"network {name!r} already exists")
        if bridge_of(other) == bridge:
            raise InUse(f"bridge {bridge!r} is already used by network {other['name']!r}")
        for s in subnets_of(other):
            if s.overlaps(net):
                raise InUse(f"subnet {net} overlaps {s} of network {other['name']!r}"
                            + _default_hint(name))
    for route, dev in hostnet.host_routes():
        if route.overlaps(net) and dev != bridge:
            raise InUse(f"subnet {net} overlaps the host's route to {route} via {dev}" + _default_hint(name))
    conf = config.default_conflist(name, bridge, str(net), str(gw), str(paths.cni_ipam_dir()))
    path = paths.cni_conf_dir() / f"{name}.conflist"
    path.parent.mkdir(parents=True, exist_ok=True)
    state.write_json(path, conf)
    conf["_path"] = str(path)
    return conf


def write_node_network(name: str, bridge: str, subnet: str) -> dict:
    """A cluster node's pod network on the pod range its Node object was
    given (the kubelet passes it in UpdateRuntimeConfig, as kubenet takes
    it): written anew when the range is new, unless pods still use the old
    one. No masquerade in the bridge: the node's network agent masquerades
    only what leaves the cluster (minipod.cluster.netagent)."""
    _, net, gw, bridge = _validate(name, subnet, None, bridge)
    with state.global_lock():
        current = find(name)
        if current is not None:
            if subnets_of(current) == [net]:
                return current
            pods = [r for r in state.Store(paths.pods_dir(), "pod").all() if r.get("network") == name]
            if pods:
                raise InUse(f"network {name!r} keeps {subnets_of(current)[0]}: pod {pods[0]['name']!r} uses it")
            Path(current["_path"]).unlink()
        conf = config.default_conflist(name, bridge, str(net), str(gw), str(paths.cni_ipam_dir()), masquerade=False)
        path = paths.cni_conf_dir() / f"{name}.conflist"
        path.parent.mkdir(parents=True, exist_ok=True)
        state.write_json(path, conf)
        conf["_path"] = str(path)
        return conf


def _default_hint(name: str) -> str:
    if name != default_name():
        return ""
    return ("; the default network's subnet is MINIPOD_DEFAULT_SUBNET (or create a network with "
            "`minipod network create NAME --subnet CIDR` and use --network)")


def _delete_link(ifname: str) -> None:
    from pyroute2 import IPRoute  # netlink only here, never on the hot path
    from pyroute2.netlink.exceptions import NetlinkError
    with IPRoute() as ipr:
        try:
            idx = ipr.link_lookup(ifname=ifname)
            if idx:
                ipr.link("del", index=idx[0])
        except NetlinkError as e:
            raise CNIError(f"cannot delete bridge {ifname}: {e}") from None


def remove(name: str, users: list) -> None:
    """Delete a network's conflist, bridge and IPAM state; refused while
    pods use it. Only files in minipod's own config dir are removed."""
    conf = find(name)
    if conf is None:
        raise NotFound(f"no such network: {name}")
    if users:
        raise InUse(f"network {name!r} is used by pod {users[0]['name']!r}")
    path = Path(conf["_path"])
    if path.parent != paths.cni_conf_dir():
        raise InvalidArgument(f"network {name!r} is defined in {path}, which minipod does not manage")
    with state.global_lock():
        path.unlink()
        bridge = bridge_of(conf)
        if bridge:
            _delete_link(bridge)
        ipam_dir = paths.cni_ipam_dir() / name
        if ipam_dir.is_dir():
            for f in ipam_dir.iterdir():
                f.unlink()
            ipam_dir.rmdir()


def summary(conf: dict) -> dict:
    """What `network ls` shows of a conflist."""
    return {"id": network_id(conf), "name": conf["name"], "plugins": [p["type"] for p in conf["plugins"]],
            "subnets": subnets_of(conf), "bridge": bridge_of(conf), "path": conf["_path"]}


def network_id(conf: dict) -> str:
    import hashlib
    return hashlib.sha256(json.dumps(strip_private(conf), sort_keys=True).encode()).hexdigest()
