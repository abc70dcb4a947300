"""The kinds no one writes: the Node (this machine, as the kubelet reports
it: addresses, capacity, conditions, podCIDR, versions), EndpointSlices
(each Service's Endpoints, in the shape kubectl describe reads) and Events (what
the agent recorded going wrong: a container that cannot be made, an image
that cannot be pulled and its back-off, an Ingress that cannot be served),
built when asked from the records, as `describe` prints them; with them,
the Events recorded as they happened (objects/events.py)."""

import hashlib
import os
import platform
import socket
import time

from minipod import __version__

KUBELET_VERSION = "v1.32.0"


def _iso(t) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _node_address() -> str:
    """The address of the interface of the default route (no packet is
    sent: a UDP connect only picks a source), else 127.0.0.1."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route lookup matters
        return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


def _os_image() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _memory_kib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 0


def node() -> dict:
    """This machine as a v1 Node."""
    from minipod.cni import network
    from minipod.roles.kubelet import pods
    name = pods.node_name()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    capacity = {"cpu": str(os.cpu_count() or 1), "memory": f"{_memory_kib()}Ki", "pods": "110",
                "ephemeral-storage": "0"}
    subnet = network.default_params()[1]
    from minipod import procfs
    boot = procfs.boot_time() or time.time()
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": str(_uid(name)), "creationTimestamp": _iso(boot),
                     "resourceVersion": "1",
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": arch, "node-role.kubernetes.io/control-plane": ""}},
        "spec": {"podCIDR": subnet, "podCIDRs": [subnet]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": _node_address()}, {"type": "Hostname", "address": name}],
            "capacity": capacity, "allocatable": capacity,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "minipod is posting ready status", "lastHeartbeatTime": _iso(boot),
                            "lastTransitionTime": _iso(boot)}],
            "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                         "osImage": _os_image(), "kernelVersion": platform.release(), "operatingSystem": "linux",
                         "architecture": arch, "containerRuntimeVersion": f"minipod://{__version__}",
                         "machineID": _machine_id(), "systemUUID": _machine_id(), "bootID": procfs.boot_id()},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        },
    }


def _uid(text: str) -> str:
    h = hashlib.sha256(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _machine_id() -> str:
    try:
        with open("/etc/machine-id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _event(ns: str, involved: dict, reason: str, message: str, source: str, first, last, count: int,
           kind="Warning") -> dict:
    name = f"{involved['name']}.{hashlib.sha256((reason + message).encode()).hexdigest()[:16]}"
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns, "uid": _uid(name + involved.get("uid", "")),
                         "creationTimestamp": _iso(first or last or time.time()), "resourceVersion": "1"},
            "involvedObject": involved, "reason": reason, "message": message, "type": kind,
            "source": {"component": source}, "reportingComponent": source, "count": count,
            "firstTimestamp": _iso(first or last or time.time()), "lastTimestamp": _iso(last or time.time())}


def events(namespace=None) -> list:
    """Every Event (in ``namespace``, or all), oldest last seen first."""
    from minipod.roles.ingress import controller, health
    from minipod.objects import kinds, store
    from minipod.roles.kubelet import pods
    out = []
    live = pods.realised()
    for obj in store.list_objects(kinds.POD, namespace):
        rec = live.get(obj["metadata"]["uid"])
        if rec is None:
            continue
        meta = obj["metadata"]
        involved = {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"],
                    "apiVersion": "v1"}
        for c in obj["spec"]["containers"]:
            err = pods.error_of(rec, c["name"])
            if not err:
                continue
            sub = {**involved, "fieldPath": f"spec.containers{{{c['name']}}}"}
            out.append(_event(meta["namespace"], sub, "Failed", err["message"], "kubelet", err.get("first"),
                              err.get("last"), err.get("count", 1)))
            if err["reason"] == pods.IMAGE_PULL and err.get("count", 1) > 1:
                out.append(_event(meta["namespace"], sub, "BackOff", f'Back-off pulling image "{c["image"]}"',
                                  "kubelet", err.get("first"), err.get("last"), err.get("count", 1) - 1))
    ingresses = store.list_objects(kinds.INGRESS, namespace)
    facts = controller.facts() if ingresses else None
    for obj in ingresses:
        meta = obj["metadata"]
        involved = {"kind": "Ingress", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"],
                    "apiVersion": "networking.k8s.io/v1"}
        for reason, message in health.problems(obj, facts):
            out.append(_event(meta["namespace"], involved, reason, message, "ingress-nginx", None, None, 1))
    if namespace in (None, "default"):  # a kubelet's and kube-proxy's own Events go with the Node, in default
        from minipod.roles.agent import problems
        node_name = pods.node_name()
        involved = {"kind": "Node", "name": node_name, "uid": str(_uid(node_name)), "apiVersion": "v1"}
        for p in problems.read().values():
            out.append(_event("default", involved, p["reason"], p["message"], "minipod-agent", p["first"],
                              p["last"], p["count"]))
    from minipod.objects import events as stored
    out = sorted(out, key=lambda e: (e["lastTimestamp"], e["metadata"]["name"]))
    out += stored.list_events(namespace)  # the kubelet's, scheduler's and controllers' recorded ones, in order
    return sorted(out, key=lambda e: e["lastTimestamp"])  # (stable: the same second keeps that order)


def endpoint_slices(namespace=None) -> list:
    """One EndpointSlice per Endpoints object (the endpoint controller's),
    named and labelled as the EndpointSlice controller names them."""
    from minipod.objects import kinds, store
    out = []
    for ep in store.list_objects(kinds.ENDPOINTS, namespace):
        meta = ep["metadata"]
        endpoints, ports = [], []
        for subset in ep.get("subsets") or []:
            for ready, addrs in ((True, subset.get("addresses") or []), (False, subset.get("notReadyAddresses") or [])):
                for a in addrs:
                    e = {"addresses": [a["ip"]], "conditions": {"ready": ready, "serving": ready, "terminating": False}}
                    if a.get("targetRef"):
                        e["targetRef"] = a["targetRef"]
                    if a.get("nodeName"):
                        e["nodeName"] = a["nodeName"]
                    endpoints.append(e)
            for p in subset.get("ports") or []:
                port = {"port": p["port"], "protocol": p.get("protocol", "TCP"), "name": p.get("name", "")}
                if port not in ports:
                    ports.append(port)
        name = f"{meta['name']}-{hashlib.sha256(meta['uid'].encode()).hexdigest()[:5]}"
        out.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                    "metadata": {"name": name, "namespace": meta["namespace"], "uid": _uid(name + meta["uid"]),
                                 "resourceVersion": meta["resourceVersion"],
                                 "creationTimestamp": meta.get("creationTimestamp"),
                                 "labels": {"kubernetes.io/service-name": meta["name"],
                                            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": meta["name"],
                                                      "uid": meta["uid"], "controller": True}]},
                    "endpoints": endpoints, "ports": ports or None})
    return out
