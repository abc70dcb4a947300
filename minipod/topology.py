"""What a network looks like: `network inspect` (docker's shape) and
`network show` (a text or Graphviz picture of host, bridge, veths, pods).

Built from pod records and cached CNI results, the runtime's own view of
what each plugin did; nothing here runs a plugin or talks netlink.
"""

from minipod import network, pod
from minipod.cni import runtime as cni


def _members(conf: dict) -> list:
    """(pod record, cached attachment) for each running pod on ``conf``."""
    out = []
    for p in pod.list_pods():
        if p["status"] != "running":
            continue
        for key in p.get("attachments", []):
            att = cni.load_cached(key)
            if att is not None and att.network == conf["name"] and att.result:
                out.append((p, att))
    return out


def _host_veth(result: dict):
    for iface in result.get("interfaces", []):
        if not iface.get("sandbox") and iface.get("name", "").startswith("veth"):
            return iface["name"]
    return None


def inspect(conf: dict) -> dict:
    """Shaped like `docker network inspect bridge`, plus the conflist path."""
    containers = {}
    for p, att in _members(conf):
        containers[p["id"]] = {"Name": p["name"], "EndpointID": att.key, "MacAddress": p.get("mac") or "",
                               "IPv4Address": p.get("ip") or "", "IPv6Address": "",
                               "HostVeth": _host_veth(att.result)}
    first = conf["plugins"][0]
    return {
        "Name": conf["name"], "Id": network.network_id(conf), "Driver": first["type"],
        "Scope": "local", "CNIVersion": conf.get("cniVersion"),
        "Plugins": [p["type"] for p in conf["plugins"]],
        "IPAM": {"Driver": (first.get("ipam") or {}).get("type", ""),
                 "Config": [{"Subnet": str(s), "Gateway": network.gateway_of(conf) or ""}
                            for s in network.subnets_of(conf)]},
        "Options": {"bridge": network.bridge_of(conf) or "", "ipMasq": first.get("ipMasq", False),
                    "hairpinMode": first.get("hairpinMode", False)},
        "Containers": containers, "ConfigFile": conf.get("_path"),
    }


def _ports(p):
    return ", ".join(f"{x.get('host_ip') or '0.0.0.0'}:{x['host_port']}->{x['container_port']}/{x['protocol']}"
                     for x in p.get("ports", []))


def text(conf: dict) -> str:
    """A terminal picture of the network."""
    bridge = network.bridge_of(conf) or conf["plugins"][0]["type"]
    subnets = ", ".join(str(s) for s in network.subnets_of(conf))
    gw = network.gateway_of(conf) or ""
    lines = [f"host ── {bridge} ({gw} on {subnets}) ── masquerade to the host's uplink"
             if conf["plugins"][0].get("ipMasq") else f"host ── {bridge} ({gw} on {subnets})"]
    members = _members(conf)
    if not members:
        lines.append("   (no running pods)")
    for i, (p, att) in enumerate(members):
        branch = "└──" if i == len(members) - 1 else "├──"
        veth = _host_veth(att.result) or "?"
        line = f"   {branch} {veth} ══ eth0 {(p.get('ip') or '?')}  pod {p['name']}  (netns {p.get('netns')})"
        if p.get("ports"):
            line += f"  ports {_ports(p)}"
        lines.append(line)
    return "\n".join(lines)


def dot(conf: dict) -> str:
    """The same picture as Graphviz DOT."""
    bridge = network.bridge_of(conf) or conf["plugins"][0]["type"]
    out = ["graph minipod {", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];',
           '  host [label="host\\n(uplink, NAT)"];',
           f'  bridge [label="{bridge}\\n{network.gateway_of(conf) or ""}"];', "  host -- bridge;"]
    for i, (p, att) in enumerate(_members(conf)):
        veth = _host_veth(att.result) or f"veth{i}"
        label = f"pod {p['name']}\\neth0 {p.get('ip') or ''}"
        if p.get("ports"):
            label += f"\\n{_ports(p)}"
        out.append(f'  pod{i} [label="{label}"];')
        out.append(f'  bridge -- pod{i} [label="{veth}"];')
    out.append("}")
    return "\n".join(out)
