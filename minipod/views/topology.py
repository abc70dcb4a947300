"""What a network looks like: `network inspect` (docker's shape) and
`network show` (a text or Graphviz picture of host, bridge, veths, pods).

Built from pod records and cached CNI results, the runtime's own view of
what each plugin did; nothing here runs a plugin or talks netlink.
"""

from minipod.cni import network
from minipod.core import pod
from minipod.cni import runtime as cni


def members(conf: dict) -> list:
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


def host_veth(result: dict):
    """The host side veth a CNI result names, or None."""
    for iface in result.get("interfaces", []):
        if not iface.get("sandbox") and iface.get("name", "").startswith("veth"):
            return iface["name"]
    return None


def inspect(conf: dict) -> dict:
    """Shaped like `docker network inspect bridge`, plus the conflist path."""
    containers = {}
    for p, att in members(conf):
        containers[p["id"]] = {"Name": p["name"], "EndpointID": att.key, "MacAddress": p.get("mac") or "",
                               "IPv4Address": p.get("ip") or "", "IPv6Address": "",
                               "HostVeth": host_veth(att.result)}
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
    on = members(conf)
    if not on:
        lines.append("   (no running pods)")
    for i, (p, att) in enumerate(on):
        branch = "└──" if i == len(on) - 1 else "├──"
        veth = host_veth(att.result) or "?"
        line = f"   {branch} {veth} ══ eth0 {(p.get('ip') or '?')}  pod {p['name']}  (netns {p.get('netns')})"
        if p.get("ports"):
            line += f"  ports {_ports(p)}"
        lines.append(line)
    services = _services(on)
    if services:
        lines.append("services (kube-proxy rules on the host):")
        for name, vips, targets in services:
            lines.append(f"   {name}  {', '.join(vips)}  ──▶  {', '.join(targets) or '(no ready endpoints)'}")
    others = other_nodes()
    if others:
        lines.append("other nodes' pods (routes of this node's network agent, `ip route show proto 77`):")
        lines += [f"   {route}" for route in others]
    return "\n".join(lines)


def other_nodes() -> list:
    """The routes a cluster node's network agent keeps to the other nodes'
    pod ranges (minipod.cluster.netagent), as `ip route` prints them."""
    import subprocess
    from minipod.cluster.netagent import PROTO
    out = subprocess.run(["ip", "-4", "route", "show", "proto", PROTO], capture_output=True, text=True).stdout
    return [" ".join(line.replace(f"proto {PROTO}", "").split()) for line in out.splitlines() if line.strip()]


def _services(members) -> list:
    """(ns/name, ["vip:port/proto" ...], ["pod ip:port" ...]) of every
    Service with an endpoint on this network (or with none at all)."""
    from minipod.objects import kinds, services as svcmod, store
    ips = {(p.get("ip") or "").split("/")[0] for p, _att in members}
    out = []
    for svc in store.list_objects(kinds.SERVICE):
        meta, spec = svc["metadata"], svc["spec"]
        ep = store.get(kinds.ENDPOINTS, meta["namespace"], meta["name"]) or {}
        targets = [f"{a['ip']}:{p['port']}" for s in ep.get("subsets", []) for a in s.get("addresses", [])
                   for p in s.get("ports", [])]
        if targets and not any(t.split(":")[0] in ips for t in targets):
            continue  # its pods are on another network
        vips = []
        for port in spec.get("ports", []):
            proto = port.get("protocol", "TCP").lower()
            if spec.get("clusterIP") not in (None, "None"):
                vips.append(f"{spec['clusterIP']}:{port['port']}/{proto}")
            if port.get("nodePort"):
                vips.append(f"node:{port['nodePort']}/{proto}")
            if svcmod.lb_ip(svc):
                vips.append(f"{svcmod.lb_ip(svc)}:{port['port']}/{proto} (LoadBalancer)")
        out.append((f"{meta['namespace']}/{meta['name']}", vips or ["headless"], targets))
    return out


def dot(conf: dict) -> str:
    """The same picture as Graphviz DOT."""
    bridge = network.bridge_of(conf) or conf["plugins"][0]["type"]
    out = ["graph minipod {", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];',
           '  host [label="host\\n(uplink, NAT)"];',
           f'  bridge [label="{bridge}\\n{network.gateway_of(conf) or ""}"];', "  host -- bridge;"]
    for i, (p, att) in enumerate(members(conf)):
        veth = host_veth(att.result) or f"veth{i}"
        label = f"pod {p['name']}\\neth0 {p.get('ip') or ''}"
        if p.get("ports"):
            label += f"\\n{_ports(p)}"
        out.append(f'  pod{i} [label="{label}"];')
        out.append(f'  bridge -- pod{i} [label="{veth}"];')
    on = members(conf)
    pod_node = {(p.get("ip") or "").split("/")[0]: f"pod{i}" for i, (p, _a) in enumerate(on)}
    for j, (name, vips, targets) in enumerate(_services(on)):
        out.append(f'  svc{j} [shape=ellipse, label="service {name}\\n' + "\\n".join(vips) + '"];')
        for t in targets:
            node = pod_node.get(t.split(":")[0])
            if node:
                out.append(f'  svc{j} -- {node} [style=dashed, label="{t.split(":")[1]}"];')
    out.append("}")
    return "\n".join(out)
