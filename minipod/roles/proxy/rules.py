"""kube-proxy's iptables mode, rendered: the nat and filter rules a
Kubernetes node shows, with kube-proxy's chain names, hashes, comments and
structure, as one `iptables-restore --noflush` input per table.

Pure: services and endpoints in, text out (unit-tested line by line).
"""

import base64
import hashlib
import os

from minipod.objects import services as svcmod


def prefix() -> str:
    """"KUBE", as on a Kubernetes node; MINIPOD_CHAIN_PREFIX moves every chain
    (the test suite uses its own, so it never touches a user's services)."""
    return os.environ.get("MINIPOD_CHAIN_PREFIX", "KUBE")


def localize(text: str) -> str:
    """Rules are written with kube-proxy's names; this applies the prefix."""
    return text if prefix() == "KUBE" else text.replace("KUBE-", prefix() + "-")


def jumps() -> dict:
    return {table: [(chain, [localize(a) for a in spec]) for chain, spec in items] for table, items in JUMPS.items()}

MASQ_MARK = "0x4000"
# KUBE- chains that are not kube-proxy's: the NetworkPolicy rules' (roles/policy,
# kube-router's names). The proxy never lists, flushes or deletes them.
POLICY_CHAIN_PREFIXES = ("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")
JUMPS = {  # (table, built-in chain, rule spec) that lead into minipod's chains, as kube-proxy adds them
    "nat": [("PREROUTING", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
            ("OUTPUT", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
            ("POSTROUTING", ["-m", "comment", "--comment", "kubernetes postrouting rules",
                             "-j", "KUBE-POSTROUTING"])],
    "filter": [("INPUT", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                          "kubernetes externally-visible service portals", "-j", "KUBE-EXTERNAL-SERVICES"]),
               ("FORWARD", ["-m", "comment", "--comment", "kubernetes forwarding rules", "-j", "KUBE-FORWARD"]),
               ("FORWARD", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                            "kubernetes service portals", "-j", "KUBE-SERVICES"]),
               ("FORWARD", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                            "kubernetes externally-visible service portals", "-j", "KUBE-EXTERNAL-SERVICES"]),
               ("OUTPUT", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                           "kubernetes service portals", "-j", "KUBE-SERVICES"])],
}
BASE_CHAINS = {"nat": ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"],
               "filter": ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD"]}


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def svc_chain(port_name: str, protocol: str) -> str:
    """KUBE-SVC-<16 chars of base32(sha256(servicePortName + protocol))>."""
    return "KUBE-SVC-" + _hash(port_name + protocol.lower())


def ext_chain(port_name: str, protocol: str) -> str:
    return "KUBE-EXT-" + _hash(port_name + protocol.lower())


def sep_chain(port_name: str, protocol: str, endpoint: str) -> str:
    """KUBE-SEP-<hash over servicePortName + protocol + "ip:port">."""
    return "KUBE-SEP-" + _hash(port_name + protocol.lower() + endpoint)


def probability(i: int, n: int) -> str:
    """1/(n-i) printed as iptables prints it (11 decimals)."""
    return f"{1.0 / (n - i):.11f}"


def endpoints_for(port: dict, endpoints) -> list:
    """["ip:port", ...] of the ready addresses serving a service port (by name)."""
    out = []
    for subset in (endpoints or {}).get("subsets", []):
        for p in subset.get("ports", []):
            if p.get("name", "") == port.get("name", "") and p.get("protocol", "TCP") == port.get("protocol", "TCP"):
                out += [f"{a['ip']}:{p['port']}" for a in subset.get("addresses", [])]
    return sorted(set(out), key=lambda e: (tuple(int(x) for x in e.split(":")[0].split(".")), int(e.split(":")[1])))


def _c(text: str) -> list:
    return ["-m", "comment", "--comment", f'"{text}"']


def render(services: list, endpoints: dict, pod_cidr: str) -> dict:
    """{"nat": [rule lines], "filter": [rule lines], "chains": {table: [chains]}}
    for every service; ``endpoints`` maps (namespace, name) to Endpoints."""
    nat, filt = [], []
    chains = {"nat": list(BASE_CHAINS["nat"]), "filter": list(BASE_CHAINS["filter"])}
    nat += ["-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
            "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
            '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
            "-j MASQUERADE --random-fully",
            "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"]
    filt += ['-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
             '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
             '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
             "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"]
    services_rules, nodeports = [], []
    for svc in sorted(services, key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"])):
        spec = svc["spec"]
        ip = spec.get("clusterIP")
        if not ip or ip == "None":
            continue  # headless: DNS only, no virtual IP
        key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
        lb = svcmod.lb_ip(svc)
        for port in spec.get("ports", []):
            spn = svcmod.service_port_name(svc, port)
            proto = port.get("protocol", "TCP").lower()
            svc_c, ext_c = svc_chain(spn, proto), ext_chain(spn, proto)
            eps = endpoints_for(port, endpoints.get(key))
            external = spec.get("type", "ClusterIP") != "ClusterIP"
            if not eps:  # kube-proxy rejects rather than black-holes
                filt.append(f'-A KUBE-SERVICES -d {ip}/32 -p {proto} -m comment --comment "{spn} has no endpoints" '
                            f"-m {proto} --dport {port['port']} -j REJECT --reject-with icmp-port-unreachable")
                if port.get("nodePort"):
                    filt.append(f'-A KUBE-EXTERNAL-SERVICES -p {proto} -m comment --comment "{spn} has no endpoints" '
                                f"-m addrtype --dst-type LOCAL -m {proto} --dport {port['nodePort']} "
                                "-j REJECT --reject-with icmp-port-unreachable")
                if lb:
                    filt.append(f'-A KUBE-EXTERNAL-SERVICES -d {lb}/32 -p {proto} -m comment --comment '
                                f'"{spn} has no endpoints" -m {proto} --dport {port["port"]} '
                                "-j REJECT --reject-with icmp-port-unreachable")
                continue
            chains["nat"].append(svc_c)
            services_rules.append(f'-A KUBE-SERVICES -d {ip}/32 -p {proto} -m comment --comment "{spn} cluster IP" '
                                  f"-m {proto} --dport {port['port']} -j {svc_c}")
            if external:
                chains["nat"].append(ext_c)
                if lb:
                    services_rules.append(f'-A KUBE-SERVICES -d {lb}/32 -p {proto} -m comment --comment '
                                          f'"{spn} loadbalancer IP" -m {proto} --dport {port["port"]} -j {ext_c}')
                if port.get("nodePort"):
                    nodeports.append(f'-A KUBE-NODEPORTS -p {proto} -m comment --comment "{spn}" '
                                     f"-m {proto} --dport {port['nodePort']} -j {ext_c}")
                nat += [f'-A {ext_c} -m comment --comment "masquerade traffic for {spn} external destinations" '
                        "-j KUBE-MARK-MASQ", f"-A {ext_c} -j {svc_c}"]
            nat.append(f'-A {svc_c} ! -s {pod_cidr} -d {ip}/32 -p {proto} -m comment --comment "{spn} cluster IP" '
                       f"-m {proto} --dport {port['port']} -j KUBE-MARK-MASQ")
            affinity = spec.get("sessionAffinity") == "ClientIP"
            timeout = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds", 10800)
            seps = [(ep, sep_chain(spn, proto, ep)) for ep in eps]
            if affinity:
                for ep, sep in seps:
                    nat.append(f'-A {svc_c} -m comment --comment "{spn} -> {ep}" -m recent --name {sep} '
                               f"--rcheck --seconds {timeout} --reap -j {sep}")
            for i, (ep, sep) in enumerate(seps):
                stat = "" if i == len(seps) - 1 else \
                    f" -m statistic --mode random --probability {probability(i, len(seps))}"
                nat.append(f'-A {svc_c} -m comment --comment "{spn} -> {ep}"{stat} -j {sep}')
            for ep, sep in seps:
                chains["nat"].append(sep)
                ep_ip = ep.split(":")[0]
                nat.append(f'-A {sep} -s {ep_ip}/32 -m comment --comment "{spn}" -j KUBE-MARK-MASQ')
                recent = f" -m recent --set --name {sep} --mask 255.255.255.255 --rsource" if affinity else ""
                nat.append(f'-A {sep} -p {proto} -m comment --comment "{spn}"{recent} -m {proto} '
                           f"-j DNAT --to-destination {ep}")
    nat = services_rules + ['-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must '
                            'be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS'] \
        + nodeports + nat
    return {"nat": [localize(r) for r in nat], "filter": [localize(r) for r in filt],
            "chains": {t: [localize(c) for c in cs] for t, cs in chains.items()}}


def restore_input(table: str, chains: list, rules: list, stale: list) -> str:
    """One transaction: declaring a chain under --noflush flushes it; stale
    chains (ours, no longer wanted) are flushed and deleted."""
    lines = [f"*{table}"] + [f":{c} - [0:0]" for c in chains + stale] + rules + [f"-X {c}" for c in stale]
    return "\n".join(lines + ["COMMIT", ""])
