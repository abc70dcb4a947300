"""What a trace's DEST and --from mean, and what is refused.

DEST is one of: a pod's address (IP[:PORT]); a ClusterIP or LoadBalancer IP
with its port; `svc/NAME[.NAMESPACE][:PORT]`; a node port (an address of
this host with a Service's nodePort); `http://HOST[:PORT]/PATH`, through
the ingress controller. Only what is on this node: a pod address of one of
its pods, a virtual IP the host routes to the service device (so a packet
that no rule catches is dropped there and never leaves), an address of the
host itself. --from is a pod (a Pod object's name, or a minipod pod's),
`host`, or `outside` (a client in a network namespace made for the trace,
as a machine next to the node)."""

import ipaddress
import re
import subprocess
from dataclasses import dataclass, field

from minipod.errors import InvalidArgument, NotFound


@dataclass
class Place:
    """Where the flow starts: ``kind`` pod, host or outside."""
    kind: str
    label: str
    netns: str = None  # the pod's pinned network namespace
    ip: str = None
    pod: dict = None


@dataclass
class Target:
    """Where the flow goes, and what minipod knows of it."""
    ip: str
    port: int
    proto: str
    label: str
    kind: str  # pod, service, nodeport, loadbalancer, ingress, gateway
    service: dict = None
    http: dict = field(default_factory=dict)  # {"host", "path"} through the ingress or a Gateway
    gateway: object = None  # trace/gateway.Pick: what a Gateway's nginx picks for the request


def place(text: str, namespace: str) -> Place:
    if text in ("host", "outside"):
        return Place(text, "the host" if text == "host" else "a client outside the node")
    rec = _pod(text, namespace)
    if rec.get("status") != "running" or not rec.get("netns") or not rec.get("ip"):
        raise InvalidArgument(f"pod {text} is not running with a network of its own: no trace from it")
    return Place("pod", f"pod {text}", netns=rec["netns"], ip=rec["ip"].split("/")[0], pod=rec)


def _pod(name: str, namespace: str) -> dict:
    from minipod.core import pod
    from minipod.api import targets
    try:
        return targets.pod_record(namespace, name)
    except NotFound:
        rec = pod.store().find(name)
        if rec is None:
            raise NotFound(f'pod "{name}" not found' + ("" if namespace == "default" else
                                                        f" in namespace {namespace}")) from None
        return pod.with_status(rec)


def _services() -> list:
    from minipod.objects import kinds, store
    return store.list_objects(kinds.SERVICE)


def _service_port(svc: dict, wanted, proto: str) -> dict:
    ports = [p for p in svc["spec"].get("ports", []) if p.get("protocol", "TCP").lower() == proto]
    for p in ports:
        if wanted is None or str(p["port"]) == str(wanted) or p.get("name") == str(wanted):
            return p
    name = f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"
    raise InvalidArgument(f"service {name} has no {proto.upper()} port {wanted}" if wanted is not None else
                          f"service {name} has no {proto.upper()} port")


def _split_port(text: str):
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return text, None


def target(text: str, namespace: str, udp: bool = False, through: str = "auto") -> Target:
    """``through``: for http:// URLs, "gateway", "ingress", or "auto" (a
    Gateway when one serves the host on the URL's port, else the ingress)."""
    proto = "udp" if udp else "tcp"
    if text.startswith("http://"):
        if through != "ingress":
            found = _gateway(text)
            if found is not None or through == "gateway":
                if found is None:
                    raise InvalidArgument(f"no Gateway serves {text}")
                return found
        return _ingress(text)
    if text.startswith("svc/"):
        ref, port = _split_port(text[4:])
        name, _, ns = ref.partition(".")
        ns = ns or namespace
        svc = next((s for s in _services() if s["metadata"]["name"] == name and s["metadata"]["namespace"] == ns),
                   None)
        if svc is None:
            raise NotFound(f'services "{name}" not found in namespace {ns}')
        ip = svc["spec"].get("clusterIP")
        if not ip or ip == "None":
            raise InvalidArgument(f"service {ns}/{name} is headless: trace one of its pods' addresses")
        sp = _service_port(svc, port, proto)
        return Target(ip, sp["port"], proto, f"service {ns}/{name} ({ip}:{sp['port']}/{proto})", "service",
                      service=svc)
    host, port = _split_port(text)
    try:
        ip = str(ipaddress.IPv4Address(host))
    except ValueError:
        raise InvalidArgument(f"{text!r}: expected IP[:PORT], svc/NAME[.NAMESPACE][:PORT] or http://HOST/PATH "
                              "(names outside the cluster are never looked up)") from None
    return _by_address(ip, port, proto)


def _by_address(ip: str, port, proto: str) -> Target:
    from minipod.core import pod
    from minipod.objects import services as svcmod
    for svc in _services():
        spec = svc["spec"]
        for kind, vip in (("service", spec.get("clusterIP")), ("loadbalancer", svcmod.lb_ip(svc))):
            if vip == ip:
                sp = _service_port(svc, port, proto)
                name = f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"
                return Target(ip, sp["port"], proto, f"service {name} ({ip}:{sp['port']}/{proto}"
                              f"{', LoadBalancer' if kind == 'loadbalancer' else ''})", kind, service=svc)
    for rec in pod.list_pods():
        if (rec.get("ip") or "").split("/")[0] == ip and rec.get("status") == "running":
            if port is None:
                raise InvalidArgument(f"{ip} is pod {rec['name']}'s address: say which port (IP:PORT)")
            return Target(ip, port, proto, f"pod {rec['name']} ({ip}:{port}/{proto})", "pod")
    if _is_local(ip):
        for svc in _services():
            for sp in svc["spec"].get("ports", []):
                if sp.get("nodePort") and (port is None or sp["nodePort"] == port) and \
                        sp.get("protocol", "TCP").lower() == proto:
                    name = f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"
                    return Target(ip, sp["nodePort"], proto, f"node port {ip}:{sp['nodePort']} of service {name}",
                                  "nodeport", service=svc)
        if port is None:
            raise InvalidArgument(f"{ip} is an address of this host: say which port (IP:PORT)")
        return Target(ip, port, proto, f"this host's {ip}:{port}/{proto}", "host")
    raise InvalidArgument(f"{ip} is not on this node (no pod, virtual IP or address of it): minipod traces only "
                          "what stays on the node")


def _is_local(ip: str) -> bool:
    out = subprocess.run(["ip", "-o", "route", "get", ip], capture_output=True, text=True).stdout
    return out.startswith("local ")


def _http_url(url: str):
    """http://HOST[:PORT]/PATH as a match: host, port or None, path or None."""
    m = re.fullmatch(r"http://([A-Za-z0-9.-]+)(?::(\d+))?(/[^\s]*)?", url)
    if not m:
        raise InvalidArgument(f"{url!r}: expected http://HOST[:PORT]/PATH")
    return m


def _ingress(url: str) -> Target:
    from minipod.roles.ingress import controller
    m = _http_url(url)
    http_port = controller.ports()[0]
    port = int(m.group(2) or http_port)
    if port != http_port:
        raise InvalidArgument(f"the ingress listens on port {http_port} of this node, not {port}")
    return Target("127.0.0.1", port, "tcp", f"the ingress, http://{m.group(1)}{m.group(3) or '/'}", "ingress",
                  http={"host": m.group(1), "path": m.group(3) or "/"})


def _gateway(url: str):
    """A Target through the Gateway that serves ``url``'s host, or None."""
    from minipod.trace import gateway
    m = _http_url(url)
    port = int(m.group(2) or 80)
    pick = gateway.find(url, port)
    if pick is None:
        return None
    meta = pick.gateway["metadata"]
    return Target(pick.address, port, "tcp", f"Gateway {meta['namespace']}/{meta['name']} ({pick.address}:{port}), "
                  f"http://{m.group(1)}{m.group(3) or '/'}", "gateway", http={"host": m.group(1),
                                                                              "path": m.group(3) or "/"},
                  gateway=pick)


SYNC_WAIT = 10.0  # seconds a trace waits for the service proxy to route a Service's address


def check_safe(t: Target) -> None:
    """A virtual IP is a target only when the host routes it to the service
    device, where a packet no rule catches is dropped (it never leaves)."""
    if t.kind not in ("service", "loadbalancer", "gateway"):
        return
    import time

    from minipod.roles.proxy import host
    deadline = time.monotonic() + SYNC_WAIT
    dev = host.route_device(t.ip)
    while dev != host.device() and time.monotonic() < deadline:  # a Service just applied: the agent's pass to come
        time.sleep(0.1)
        dev = host.route_device(t.ip)
    if dev != host.device():
        raise InvalidArgument(f"{t.ip} is routed to {dev or 'nowhere'}, not to the service device {host.device()}: "
                              "the service proxy is not ready on this node")
