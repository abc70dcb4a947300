"""v1 Service and v1 Endpoints: schemas, semantic checks, and what the API
server allocates (the ClusterIP from the service range, node ports from
30000-32767, a LoadBalancer IP from the pool) — the way kubeadm's defaults
make them, configurable by environment:

    MINIPOD_SERVICE_CIDR   10.96.0.0/12   (the DNS service is its tenth address)
    MINIPOD_LB_POOL        198.51.100.0/24 (TEST-NET-2, a documentation range; 192.0.2.0/24
                          was the first choice, but some hosts, this project's own
                          development machine among them, use it as their uplink)
"""

import ipaddress
import os

from minipod.errors import InvalidArgument
from minipod.objects.schema import Field, dns_label, fail, in_range, labels, one_of, port_number_or_name

NODE_PORTS = range(30000, 32768)


def service_cidr() -> ipaddress.IPv4Network:
    return ipaddress.ip_network(os.environ.get("MINIPOD_SERVICE_CIDR", "10.96.0.0/12"))


def lb_pool() -> ipaddress.IPv4Network:
    return ipaddress.ip_network(os.environ.get("MINIPOD_LB_POOL", "198.51.100.0/24"))


def dns_ip() -> str:
    return str(service_cidr().network_address + 10)


def _ip(value):
    if value in ("None", ""):
        return None
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return "must be an IPv4 address or None"
    return None


SERVICE_PORT = {
    "name": Field("str", False, dns_label), "port": Field("int", True, in_range(1, 65535)),
    "targetPort": Field("any", False, port_number_or_name), "protocol": Field("str", False, one_of("TCP", "UDP")),
    "nodePort": Field("int", False, in_range(NODE_PORTS.start, NODE_PORTS.stop - 1)),
    "appProtocol": Field("str"),
}
SERVICE_SPEC = {
    "selector": Field("map", False, labels), "ports": Field([SERVICE_PORT]),
    "type": Field("str", False, one_of("ClusterIP", "NodePort", "LoadBalancer")),
    "clusterIP": Field("str", False, _ip), "clusterIPs": Field(["str"]),
    "sessionAffinity": Field("str", False, one_of("None", "ClientIP")),
    "sessionAffinityConfig": Field({"clientIP": Field({"timeoutSeconds": Field("int", False, in_range(1, 86400))})}),
    # What `kubectl get -o yaml` prints and minipod does anyway.
    "ipFamilies": Field(["str"], False, lambda v: None if v == ["IPv4"] else "minipod serves IPv4 only"),
    "ipFamilyPolicy": Field("str", False, one_of("SingleStack")),
    "internalTrafficPolicy": Field("str", False, one_of("Cluster")),
    "externalTrafficPolicy": Field("str", False, one_of("Cluster")),
    "allocateLoadBalancerNodePorts": Field("bool"),
    "publishNotReadyAddresses": Field("bool", False, lambda v: None if v is False else "minipod cannot honour true"),
}
ENDPOINT_ADDRESS = {"ip": Field("str", True, _ip), "hostname": Field("str"), "nodeName": Field("str"),
                    "targetRef": Field("any")}
ENDPOINTS_FIELDS = {"subsets": Field([{
    "addresses": Field([ENDPOINT_ADDRESS]), "notReadyAddresses": Field([ENDPOINT_ADDRESS]),
    "ports": Field([{"name": Field("str"), "port": Field("int", True, in_range(1, 65535)),
                     "protocol": Field("str", False, one_of("TCP", "UDP")), "appProtocol": Field("str")}]),
}])}
SERVICE_FIELDS = {"spec": Field(SERVICE_SPEC, True)}


def check_service(obj: dict) -> None:
    """What the schema cannot say, with the API server's field paths."""
    spec = obj["spec"]
    kind = spec.get("type", "ClusterIP")
    ports = spec.get("ports") or []
    headless = spec.get("clusterIP") == "None"
    if not ports and not headless:
        fail("spec.ports", "Required value")
    if len(ports) > 1:
        for i, p in enumerate(ports):
            if not p.get("name"):
                fail(f"spec.ports[{i}].name", "Required value (several ports must each have a name)")
    names = [p.get("name") for p in ports]
    keys = [(p["port"], p.get("protocol", "TCP")) for p in ports]
    for i, p in enumerate(ports):
        if p.get("name") and p["name"] in names[:i]:  # reported at the second, as the API server does
            fail(f"spec.ports[{i}].name", f"Duplicate value: {p['name']!r}")
        if keys[i] in keys[:i]:
            fail(f"spec.ports[{i}]", f"Duplicate value: port {p['port']}/{p.get('protocol', 'TCP')}")
        if "nodePort" in p and kind == "ClusterIP":
            fail(f"spec.ports[{i}].nodePort", "Forbidden: may not be used when `type` is 'ClusterIP'")
    if headless and kind != "ClusterIP":
        fail("spec.clusterIP", f"Invalid value: \"None\": may not be set to 'None' for {kind} services")
    ip = spec.get("clusterIP")
    if ip and ip != "None" and ipaddress.IPv4Address(ip) not in service_cidr():
        fail("spec.clusterIP", f"Invalid value: {ip!r}: provided IP is not in the valid range. "
                               f"The range of valid IPs is {service_cidr()}")
    if spec.get("clusterIPs") and spec["clusterIPs"] != [spec.get("clusterIP", spec["clusterIPs"][0])]:
        fail("spec.clusterIPs", "must hold the clusterIP, once")
    if spec.get("sessionAffinityConfig") and spec.get("sessionAffinity") != "ClientIP":
        fail("spec.sessionAffinityConfig", "Forbidden: only allowed with sessionAffinity ClientIP")


def allocate(obj: dict, old, taken) -> None:
    """Fill in what the API server assigns, keeping an existing service's
    assignments (a re-applied manifest rarely names them): clusterIP(s),
    nodePorts for NodePort/LoadBalancer, and a LoadBalancer's IP in
    status.loadBalancer.ingress. ``taken`` (allocations.Taken) holds what
    the other services use: ``ips``, ``ports`` and ``lbs``."""
    spec = obj["spec"]
    old_spec = (old or {}).get("spec", {})
    name = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
    used_ips = set(taken.ips) | {dns_ip()}  # cluster DNS has the tenth
    if "clusterIP" not in spec and old_spec.get("clusterIP"):
        spec["clusterIP"] = old_spec["clusterIP"]
    if old_spec.get("clusterIP") and spec["clusterIP"] != old_spec["clusterIP"]:
        fail("spec.clusterIP", "Invalid value: field is immutable")
    if spec.get("clusterIP") in used_ips and spec.get("clusterIP") not in (None, "None"):
        fail("spec.clusterIP", f"Invalid value: {spec['clusterIP']!r}: provided IP is already allocated")
    if not spec.get("clusterIP"):
        spec["clusterIP"] = _first_free(service_cidr(), used_ips, skip=10, what="service IPs")
    spec["clusterIPs"] = [spec["clusterIP"]]
    kind = spec.get("type", "ClusterIP")
    used_ports = set(taken.ports)
    old_ports = {(p["port"], p.get("protocol", "TCP")): p.get("nodePort") for p in old_spec.get("ports", [])}
    for i, p in enumerate(spec.get("ports", [])):
        if kind == "ClusterIP":
            continue
        if "nodePort" not in p:
            kept = old_ports.get((p["port"], p.get("protocol", "TCP")))
            p["nodePort"] = kept or next((n for n in NODE_PORTS if n not in used_ports), None)
            if p["nodePort"] is None:
                raise InvalidArgument(f"{name}: no free node port in {NODE_PORTS.start}-{NODE_PORTS.stop - 1}")
        elif p["nodePort"] in used_ports:
            fail(f"spec.ports[{i}].nodePort", f"Invalid value: {p['nodePort']}: provided port is already allocated")
        used_ports.add(p["nodePort"])
    obj.pop("status", None)
    if kind == "LoadBalancer":
        old_ip = (((old or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress", [{}])[0].get("ip")
        used = set(taken.lbs)
        ip = old_ip if old_ip and old_ip not in used else _first_free(lb_pool(), used, skip=0,
                                                                        what="LoadBalancer IPs")
        obj["status"] = {"loadBalancer": {"ingress": [{"ip": ip}]}}


def _lb_ip(obj):
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [{}]
    return ingress[0].get("ip")


def _first_free(net, used, skip: int, what: str) -> str:
    """The lowest address of ``net`` after the first ``skip`` that is not
    in ``used`` (strings). Counted as integers: at thousands of services,
    making an IPv4Address of each would be most of an apply's time."""
    base, last = int(net.network_address), int(net.broadcast_address)
    for n in range(base + 1 + skip, last):
        addr = f"{n >> 24}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        if addr not in used:
            return addr
    raise InvalidArgument(f"no free {what} left in {net}")


def service_port_name(svc: dict, port: dict) -> str:
    """kube-proxy's ServicePortName: "<ns>/<name>" plus ":<port name>" if named."""
    base = f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"
    return f"{base}:{port['name']}" if port.get("name") else base


def lb_ip(svc: dict):
    return _lb_ip(svc)
