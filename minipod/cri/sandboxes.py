"""A CRI pod sandbox is a minipod pod: pause holding the namespaces, the
node's CNI network, the kubelet's port mappings, DNS and hostname. This
module translates between the two (pure, over plain dicts and the
protobuf messages of either CRI version, whose fields are the same for
everything used here)."""

import os

from minipod.errors import InvalidArgument
from minipod.spec import PortMapping

# The label minipod's own listings show a sandbox by (and the kubelet's
# labels, io.kubernetes.pod.*, are kept as they come).
POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
PROTOCOLS = {0: "tcp", 1: "udp", 2: "sctp"}  # the CRI's Protocol enum
NODE = 2  # NamespaceMode NODE: the host's namespace


def local_name(metadata) -> str:
    """minipod's name for a sandbox: <namespace>_<name>_<uid's first 8>_<attempt>
    (unique per sandbox, at most 63 characters, readable in `pod ls`)."""
    if not metadata.name or not metadata.namespace or not metadata.uid:
        raise InvalidArgument("sandbox metadata needs name, namespace and uid")
    tail = f"_{metadata.uid[:8]}_{metadata.attempt}"
    return f"{metadata.namespace}_{metadata.name}"[:63 - len(tail)] + tail


def resolv_conf(dns) -> str:
    """The pod's resolv.conf from the kubelet's DNSConfig (None: the host's)."""
    if not (dns.servers or dns.searches or dns.options):
        return None
    lines = []
    if dns.searches:
        lines.append("search " + " ".join(dns.searches))
    lines += [f"nameserver {s}" for s in dns.servers]
    if dns.options:
        lines.append("options " + " ".join(dns.options))
    return "\n".join(lines) + "\n"


def port_mappings(config) -> list:
    """The kubelet's hostPort mappings (those with a host port). A pod on
    the host's network gets its ports as mappings too (host port = container
    port), which need no rule: its processes bind the host's ports
    themselves, so they are dropped, as containerd's CRI does."""
    if host_network(config):
        return []
    out = []
    for m in config.port_mappings:
        if not m.host_port:
            continue
        if m.protocol not in PROTOCOLS or PROTOCOLS[m.protocol] == "sctp":
            raise InvalidArgument(f"port mapping {m.host_port}: protocol {m.protocol} is not supported")
        out.append(PortMapping(host_ip=m.host_ip, host_port=m.host_port, container_port=m.container_port,
                               protocol=PROTOCOLS[m.protocol]))
    return out


def host_network(config) -> bool:
    return config.linux.security_context.namespace_options.network == NODE


def host_namespaces(config) -> list:
    """The namespaces besides the network the sandbox shares with the host (hostIPC, hostPID)."""
    options = config.linux.security_context.namespace_options
    return [kind for kind, mode in (("ipc", options.ipc), ("pid", options.pid)) if mode == NODE]


def cgroup_parent(config):
    """The kubelet's pod-level cgroup (cgroupfs: /kubepods/burstable/pod<uid>),
    or None: minipod's own parent. A systemd slice name means a systemd
    cgroup driver, which minipod does not have (its driver is cgroupfs)."""
    parent = config.linux.cgroup_parent
    return parent if parent.startswith("/") and parent.strip("/") else None


def create_args(config) -> dict:
    """pod.create's arguments for a RunPodSandbox request's config."""
    meta = config.metadata
    labels = dict(config.labels)
    labels.setdefault(POD_NAME_LABEL, meta.name)
    labels.setdefault(POD_NAMESPACE_LABEL, meta.namespace)
    return {"name": local_name(meta), "hostname": config.hostname or None,
            "ports": port_mappings(config), "network_name": "host" if host_network(config) else None,
            "labels": labels, "resolv_conf": resolv_conf(config.dns_config),
            "host_namespaces": host_namespaces(config), "sysctls": dict(config.linux.sysctls),
            "cgroup_parent": cgroup_parent(config),
            "cri": {"metadata": {"name": meta.name, "namespace": meta.namespace, "uid": meta.uid,
                                 "attempt": meta.attempt},
                    "labels": dict(config.labels), "annotations": dict(config.annotations),
                    "log_directory": config.log_directory, "host_network": host_network(config)}}


def node_network():
    """On a cluster node (`minipod cluster join` starts the CRI server so):
    the bridge of the node's pod network, which UpdateRuntimeConfig writes
    on the node's pod range; else None (the default network as it is)."""
    return os.environ.get("MINIPOD_NODE_BRIDGE") or None


def is_sandbox(rec: dict) -> bool:
    return rec.get("cri") is not None


def ready(rec: dict) -> bool:
    """SANDBOX_READY: pause alive, and the pod started whole (its network too)."""
    from minipod.core import pod
    return rec.get("desired") != "stopped" and pod.is_whole(rec)


def matches(rec: dict, flt) -> bool:
    """A ListPodSandbox filter (id prefix, state, label selector: all ANDed)."""
    if flt is None:
        return True
    if flt.id and not rec["id"].startswith(flt.id):
        return False
    if flt.HasField("state") and (flt.state.state == 0) != ready(rec):
        return False
    labels = rec["cri"].get("labels") or {}
    return all(labels.get(k) == v for k, v in flt.label_selector.items())
