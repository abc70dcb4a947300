"""Pure CNI configuration logic: parsing conflists and building the stdin
config each plugin gets (libcni's buildOneConfig / injectRuntimeConfig).

Nothing here runs a plugin or touches the system.
"""

import json
import re

from minipod.errors import CNIError

# SPEC.md, "Configuration format": a network name starts with an alphanumeric.
_NETWORK_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

# Versions of the spec this runtime implements, oldest first.
SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")


def _version_key(v: str):
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return (0,)


def pick_version(conflist: dict) -> str:
    """The version to speak: the highest of ``cniVersions`` (spec 1.1) that we
    support, else ``cniVersion``."""
    versions = conflist.get("cniVersions")
    if isinstance(versions, list) and versions:
        usable = [v for v in versions if v in SUPPORTED_VERSIONS]
        if not usable:
            raise CNIError(f"network {conflist.get('name')!r}: none of cniVersions {versions} is supported")
        return max(usable, key=_version_key)
    version = conflist.get("cniVersion")
    if version not in SUPPORTED_VERSIONS:
        raise CNIError(f"network {conflist.get('name')!r}: unsupported cniVersion {version!r} "
                       f"(supported: {', '.join(SUPPORTED_VERSIONS)})")
    return version


def choose_version(conflist: dict, versions_of) -> str:
    """VERSION negotiation: the highest version that the config allows (its
    cniVersion, or the cniVersions list of spec 1.1), that this runtime
    implements, and that every plugin supports (``versions_of(type)``)."""
    asked = conflist.get("cniVersions") or [pick_version(conflist)]
    candidates = {v for v in asked if v in SUPPORTED_VERSIONS}
    for plugin in conflist["plugins"]:
        supported = set(versions_of(plugin["type"]))
        if not candidates & supported:
            raise CNIError(f"network {conflist['name']}: CNI plugin {plugin['type']} supports versions "
                           f"{', '.join(sorted(supported, key=_version_key))}, not {', '.join(asked)}")
        candidates &= supported
    return max(candidates, key=_version_key)


def at_least(version: str, minimum: str) -> bool:
    return _version_key(version) >= _version_key(minimum)


def parse_conflist(data: bytes, source: str = "<conflist>") -> dict:
    """Parse and validate a .conflist; raise CNIError naming ``source``."""
    try:
        conf = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise CNIError(f"broken network config {source}: {e}") from None
    if not isinstance(conf, dict):
        raise CNIError(f"broken network config {source}: not a JSON object")
    name = conf.get("name")
    if not isinstance(name, str) or not name:
        raise CNIError(f"broken network config {source}: missing \"name\"")
    if not _NETWORK_NAME_RE.fullmatch(name):
        # The spec's rule; the name also becomes part of cache file names.
        raise CNIError(f"broken network config {source}: invalid network name {name!r} "
                       "(alphanumerics, '_', '.' and '-', starting with an alphanumeric)")
    plugins = conf.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        raise CNIError(f"broken network config {source}: \"plugins\" must be a non-empty list")
    for i, plugin in enumerate(plugins):
        if not isinstance(plugin, dict) or not isinstance(plugin.get("type"), str) or not plugin["type"]:
            raise CNIError(f"broken network config {source}: plugin {i} has no \"type\"")
        if "/" in plugin["type"] or "\0" in plugin["type"] or plugin["type"] in (".", ".."):
            raise CNIError(f"broken network config {source}: invalid plugin type {plugin['type']!r}")
        if not isinstance(plugin.get("capabilities", {}), dict):
            raise CNIError(f"broken network config {source}: plugin {i} \"capabilities\" must be an object")
    pick_version(conf)
    return conf


def build_plugin_config(conflist: dict, plugin: dict, version: str,
                        capability_args: dict, prev_result=None) -> bytes:
    """The stdin config for one plugin of a list.

    Inserts name and cniVersion, replaces ``capabilities`` by a
    ``runtimeConfig`` holding only the capability args the plugin declares,
    adds ``prevResult`` when given; every other key passes through untouched.
    """
    conf = dict(plugin)
    conf["name"] = conflist["name"]
    conf["cniVersion"] = version
    declared = conf.pop("capabilities", None) or {}
    runtime_config = {key: value for key, value in capability_args.items()
                      if declared.get(key) and value is not None}
    if runtime_config:
        conf["runtimeConfig"] = runtime_config
    else:
        conf.pop("runtimeConfig", None)
    if prev_result is not None:
        conf["prevResult"] = prev_result
    return json.dumps(conf, sort_keys=True).encode()


def cni_args(pod_name: str, pod_id: str, namespace: str = "minipod") -> str:
    """CNI_ARGS with the pod's identity, as CRI runtimes pass it.

    IgnoreUnknown=1 first: host-local refuses args it does not know otherwise.
    """
    return ";".join(("IgnoreUnknown=1", f"K8S_POD_NAMESPACE={namespace}",
                     f"K8S_POD_NAME={pod_name}", f"K8S_POD_INFRA_CONTAINER_ID={pod_id}"))


def result_ip(result) -> tuple:
    """(ipv4 address/prefix, mac, gateway) of the container interface in a
    result (0.3.0+ shape), or (None, None, None). Plugins are other people's
    programs: a result of the wrong shape yields nothing rather than a crash."""
    if not isinstance(result, dict):
        return None, None, None
    interfaces = result.get("interfaces")
    interfaces = interfaces if isinstance(interfaces, list) else []
    ips = result.get("ips")
    for ip in ips if isinstance(ips, list) else []:
        address = ip.get("address") if isinstance(ip, dict) else None
        if not isinstance(address, str) or ":" in address:
            continue
        mac = None
        idx = ip.get("interface")
        if isinstance(idx, int) and 0 <= idx < len(interfaces) and isinstance(interfaces[idx], dict):
            mac = interfaces[idx].get("mac")
        return address, mac, ip.get("gateway")
    return None, None, None


def default_conflist(name: str, bridge: str, subnet: str, gateway: str, data_dir: str,
                     masquerade: bool = True) -> dict:
    """The docker0-like network: bridge with gateway, masquerade, hairpin;
    host-local IPAM; portmap with SNAT for 127.0.0.1:hostPort; firewall so
    pods get out even where FORWARD's policy is DROP (Docker installed).
    ``masquerade`` False: a cluster node's, whose pods reach other nodes'
    pods with their own addresses (the node masquerades only what leaves
    the cluster's pod range, as flannel does)."""
    return {
        "cniVersion": "1.0.0",
        "name": name,
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True, "isDefaultGateway": True,
             "ipMasq": masquerade, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet, "gateway": gateway}]],
                      "dataDir": data_dir}},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            {"type": "firewall", "backend": "iptables"},
        ],
    }


LOOPBACK_CONFLIST = {"cniVersion": "1.0.0", "name": "cni-loopback", "plugins": [{"type": "loopback"}]}
