"""kube-proxy's nftables mode, rendered: the `ip kube-proxy` table a
Kubernetes node shows with `--proxy-mode=nftables` (chain names, hashes,
maps and rules as kube-proxy writes them), as a desired state that
`proxy.nftables` turns into one `nft -f` transaction.

Why this mode exists: in the iptables mode every new connection walks
KUBE-SERVICES rule by rule, so its cost grows with the number of services;
here one lookup in the `service-ips` verdict map finds the service, and a
change is a few map elements and chains, not a rewrite of every rule.

Pure: services and endpoints in, a State out (unit-tested line by line).
"""

import base64
import hashlib
import ipaddress
from dataclasses import dataclass, field

from minipod.objects import services as svcmod
from minipod.roles.proxy import rules as iptrules

MAPS = {  # name -> (declaration, comment), as kube-proxy declares them
    "cluster-ips": ("set", "type ipv4_addr", "Active ClusterIPs"),
    "no-endpoint-nodeports": ("map", "type inet_proto . inet_service : verdict",
                              "vmap to drop or reject packets to service nodeports with no endpoints"),
    "no-endpoint-services": ("map", "type ipv4_addr . inet_proto . inet_service : verdict",
                             "vmap to drop or reject packets to services with no endpoints"),
    "service-ips": ("map", "type ipv4_addr . inet_proto . inet_service : verdict",
                    "ClusterIP, ExternalIP and LoadBalancer IP traffic"),
    "service-nodeports": ("map", "type inet_proto . inet_service : verdict", "NodePort traffic"),
}
HOOKS = {  # base chains: name -> hook declaration
    "filter-forward": "type filter hook forward priority 0",
    "filter-input": "type filter hook input priority 0",
    "filter-output": "type filter hook output priority 0",
    "nat-output": "type nat hook output priority -100",
    "nat-postrouting": "type nat hook postrouting priority 100",
    "nat-prerouting": "type nat hook prerouting priority -100",
}
# Node ports on every local address but loopback: kube-proxy's form when
# --nodeport-addresses is unset (minipod's iptables view: addrtype LOCAL).
LOCAL = "fib daddr type local ip daddr != 127.0.0.0/8"


def table() -> str:
    """"kube-proxy", as on a node; follows MINIPOD_CHAIN_PREFIX (the suite's
    MPTK gives "mptk-proxy"), so a test never touches a user's table."""
    p = iptrules.prefix()
    return "kube-proxy" if p == "KUBE" else f"{p.lower()}-proxy"


def _hash(name: str) -> str:
    return base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()[:8]


def _base(svc: dict, port: dict, proto: str) -> str:
    """<ns>/<name>/<proto>/<port name>: characters nft allows in a chain
    name and that no Kubernetes name contains ("/"), hashed in front."""
    name = f"{svc['metadata']['namespace']}/{svc['metadata']['name']}/{proto}/{port.get('name', '')}"
    return f"{_hash(name)}-{name}"


def service_chain(svc, port, proto) -> str:
    return "service-" + _base(svc, port, proto)


def external_chain(svc, port, proto) -> str:
    return "external-" + _base(svc, port, proto)


def endpoint_chain(svc, port, proto, endpoint: str) -> str:
    """endpoint-<hash>-<ns>/<name>/<proto>/<port name>__<ip>/<port>."""
    ip, eport = endpoint.rsplit(":", 1)
    name = f"{svc['metadata']['namespace']}/{svc['metadata']['name']}/{proto}/{port.get('name', '')}__{ip}/{eport}"
    return f"endpoint-{_hash(name)}-{name}"


def affinity_set(endpoint_chain_name: str) -> str:
    return "affinity-" + endpoint_chain_name[len("endpoint-"):]


@dataclass
class State:
    """Everything in the table: chains with their rules, the dynamic
    affinity sets, and the elements of each set and map (key -> (comment,
    verdict); None for a set's elements)."""
    chains: dict = field(default_factory=dict)
    sets: dict = field(default_factory=dict)
    elements: dict = field(default_factory=lambda: {name: {} for name in MAPS})


def base_chains(service_cidr: str, dns_ip: str) -> dict:
    """The fixed part of the table. ``dns_ip``: cluster DNS listens there on
    the service device (kube-dns is a Service in Kubernetes; here it is a
    local address), so the drop of unallocated ClusterIPs spares it."""
    return {
        "cluster-ips-check": [
            f'ip daddr {dns_ip} return comment "cluster DNS (dnsmasq on the service device)"',
            'ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
            f'ip daddr {{ {service_cidr} }} drop comment "Drop traffic to unallocated ClusterIPs"'],
        "filter-forward": ["ct state new jump service-endpoints-check", "ct state new jump cluster-ips-check"],
        "filter-input": ["ct state new jump nodeport-endpoints-check", "ct state new jump service-endpoints-check"],
        "filter-output": ["ct state new jump service-endpoints-check", "ct state new jump cluster-ips-check"],
        "mark-for-masquerade": [f"mark set mark or {iptrules.MASQ_MARK}"],
        "masquerading": [f"mark and {iptrules.MASQ_MARK} == 0 return", f"mark set mark xor {iptrules.MASQ_MARK}",
                         "masquerade fully-random"],
        "nat-output": ["jump services"],
        "nat-postrouting": ["jump masquerading"],
        "nat-prerouting": ["jump services"],
        "nodeport-endpoints-check": [f"{LOCAL} meta l4proto . th dport vmap @no-endpoint-nodeports"],
        "reject-chain": ["reject"],
        "services": ["ip daddr . meta l4proto . th dport vmap @service-ips",
                     f"{LOCAL} meta l4proto . th dport vmap @service-nodeports"],
        "service-endpoints-check": ["ip daddr . meta l4proto . th dport vmap @no-endpoint-services"],
    }


def render(services: list, endpoints: dict, pod_cidr: str, service_cidr: str, part=None) -> State:
    """The table for these services; ``endpoints`` maps (namespace, name)
    to Endpoints (the same inputs as the iptables view). ``part`` renders
    one service (default: service_part); the proxy passes a memoized one,
    so a change costs the changed services, not all of them."""
    dns_ip = str(ipaddress.ip_network(service_cidr).network_address + 10)  # as services.dns_ip()
    st = State(chains=base_chains(service_cidr, dns_ip))
    part = part or service_part
    for svc in sorted(services, key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"])):
        one = part(svc, endpoints.get((svc["metadata"]["namespace"], svc["metadata"]["name"])), pod_cidr)
        st.chains.update(one.chains)
        st.sets.update(one.sets)
        for name, items in one.elements.items():
            st.elements[name].update(items)
    return st


def service_part(svc: dict, endpoints, pod_cidr: str) -> State:
    """The chains, affinity sets and map elements of one service."""
    st = State()
    el = st.elements
    spec = svc["spec"]
    ip = spec.get("clusterIP")
    if not ip or ip == "None":
        return st  # headless: DNS only
    el["cluster-ips"][ip] = None
    lb = svcmod.lb_ip(svc)
    external = spec.get("type", "ClusterIP") != "ClusterIP"
    affinity = spec.get("sessionAffinity") == "ClientIP"
    timeout = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds", 10800)
    for port in spec.get("ports", []):
        proto = port.get("protocol", "TCP").lower()
        spn = svcmod.service_port_name(svc, port)
        eps = iptrules.endpoints_for(port, endpoints)
        node_port = port.get("nodePort")
        if not eps:  # kube-proxy rejects rather than black-holes
            reject = (spn, "goto reject-chain")
            el["no-endpoint-services"][f"{ip} . {proto} . {port['port']}"] = reject
            if lb:
                el["no-endpoint-services"][f"{lb} . {proto} . {port['port']}"] = reject
            if node_port:
                el["no-endpoint-nodeports"][f"{proto} . {node_port}"] = reject
            continue
        svc_c = service_chain(svc, port, proto)
        rules = [f"ip daddr {ip} ip saddr != {pod_cidr} jump mark-for-masquerade"]
        ep_chains = [(ep, endpoint_chain(svc, port, proto, ep)) for ep in eps]
        for ep, chain in ep_chains:
            ep_ip = ep.rsplit(":", 1)[0]
            ep_rules = [f"ip saddr {ep_ip} jump mark-for-masquerade"]
            if affinity:
                aff = affinity_set(chain)
                st.sets[aff] = f"type ipv4_addr ; flags dynamic,timeout ; timeout {timeout}s"
                rules.append(f"ip saddr @{aff} goto {chain}")
                ep_rules.append(f"update @{aff} {{ ip saddr }}")
            st.chains[chain] = ep_rules + [f"meta l4proto {proto} dnat to {ep}"]
        vmap = " , ".join(f"{i} : goto {c}" for i, (_e, c) in enumerate(ep_chains))
        rules.append(f"numgen random mod {len(ep_chains)} vmap {{ {vmap} }}")
        st.chains[svc_c] = rules
        el["service-ips"][f"{ip} . {proto} . {port['port']}"] = (None, f"goto {svc_c}")
        if external:
            ext_c = external_chain(svc, port, proto)
            st.chains[ext_c] = ["jump mark-for-masquerade", f"goto {svc_c}"]
            if lb:
                el["service-ips"][f"{lb} . {proto} . {port['port']}"] = (None, f"goto {ext_c}")
            if node_port:
                el["service-nodeports"][f"{proto} . {node_port}"] = (None, f"goto {ext_c}")
    return st


def _element(name: str, key: str, value) -> str:
    if value is None:
        return f"{name} {{ {key} }}"
    comment, verdict = value
    text = f' comment "{comment}"' if comment else ""
    return f"{name} {{ {key}{text} : {verdict} }}"


def full(st: State) -> str:
    """The whole table, replacing whatever is there, as one transaction
    (`add table` first, so `delete table` cannot fail on a fresh host)."""
    t = f"ip {table()}"
    out = [f'add table {t} {{ comment "rules for kube-proxy" ; }}', f"delete table {t}",
           f'add table {t} {{ comment "rules for kube-proxy" ; }}']
    for name, (kind, decl, comment) in MAPS.items():
        out.append(f'add {kind} {t} {name} {{ {decl} ; comment "{comment}" ; }}')
    out += [f"add set {t} {name} {{ {decl} ; }}" for name, decl in sorted(st.sets.items())]
    out += [_add_chain(t, name) for name in st.chains]
    out += [f"add rule {t} {name} {rule}" for name, rules in st.chains.items() for rule in rules]
    out += [f"add element {t} {_element(m, k, v)}" for m, items in st.elements.items() for k, v in items.items()]
    return "\n".join(out) + "\n"


def _add_chain(t: str, name: str) -> str:
    return f"add chain {t} {name} {{ {HOOKS[name]} ; }}" if name in HOOKS else f"add chain {t} {name}"


def delta(old: State, new: State) -> str:
    """The transaction from ``old`` to ``new``: only what changed, ordered
    so nothing is deleted while something still refers to it (elements
    first, changed chains flushed and refilled, then the removed chains and
    sets). Empty when nothing changed."""
    t = f"ip {table()}"
    out = []
    for m in MAPS:
        was, now = old.elements[m], new.elements[m]
        out += [f"delete element {t} {m} {{ {k} }}" for k, v in was.items() if k not in now or now[k] != v]
    out += [f"add set {t} {name} {{ {decl} ; }}" for name, decl in new.sets.items() if name not in old.sets]
    out += [_add_chain(t, name) for name in new.chains if name not in old.chains]
    for name, rules in new.chains.items():
        if old.chains.get(name) == rules:
            continue
        if name in old.chains:
            out.append(f"flush chain {t} {name}")
        out += [f"add rule {t} {name} {rule}" for rule in rules]
    for m in MAPS:
        was, now = old.elements[m], new.elements[m]
        out += [f"add element {t} {_element(m, k, v)}" for k, v in now.items() if k not in was or was[k] != v]
    gone = [name for name in old.chains if name not in new.chains]
    out += [f"flush chain {t} {name}" for name in gone] + [f"delete chain {t} {name}" for name in gone]
    out += [f"delete set {t} {name}" for name in old.sets if name not in new.sets]
    return "\n".join(out) + "\n" if out else ""
