"""kubectl's printers for minipod's Kubernetes objects: `get`'s columns
(the stored kinds', and the served-only Node, Event and EndpointSlice) and
`-o yaml`; describe's layouts are in describe.py. Pure: what a column or a describe
section shows beyond the object's own fields (the node's name, a pod's
events, a Service's endpoints, an Ingress's address and problems) comes in
``facts``, which minipod.api.printing gathers."""

import time

from minipod.printers import docker


def k8s_age(obj: dict) -> str:
    """kubectl's AGE: 45s, 3m, 2h, 4d."""
    import datetime
    ts = obj["metadata"].get("creationTimestamp")
    if not ts:
        return "<unknown>"
    created = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return docker.short_age((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds())


def display_status(obj: dict) -> str:
    """kubectl's STATUS column: a waiting or terminated reason, else the phase."""
    st = obj.get("status") or {}
    if obj["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for s in st.get("containerStatuses", []):
        waiting = s["state"].get("waiting")
        if waiting and waiting.get("reason") not in (None, "ContainerCreating"):
            return waiting["reason"]
    if st.get("phase") == "Pending":
        return "ContainerCreating" if st.get("containerStatuses") else "Pending"
    for s in st.get("containerStatuses", []):
        term = s["state"].get("terminated")
        if term and st.get("phase") in ("Succeeded", "Failed"):
            return term["reason"]
    return st.get("phase", "Unknown")


def _pod_row(o: dict, wide: bool, node: str) -> list:
    st = o.get("status") or {}
    ctrs = st.get("containerStatuses") or []
    ready = f"{sum(1 for c in ctrs if c.get('ready'))}/{len(o['spec'].get('containers') or ctrs)}"
    row = [o["metadata"]["name"], ready, display_status(o), sum(c.get("restartCount", 0) for c in ctrs),
           k8s_age(o)]
    if wide:
        row += [st.get("podIP") or "<none>", node if st.get("podIP") or ctrs else "<none>", "<none>",
                "<none>"]
    return row


def _deployment_row(o: dict, wide: bool = False) -> list:
    st = o.get("status") or {}
    want = o["spec"].get("replicas", 1)
    row = [o["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{want}", st.get("updatedReplicas", 0),
           st.get("availableReplicas", 0), k8s_age(o)]
    return row + (_template_columns(o) if wide else [])


def _template_columns(o: dict) -> list:
    """-o wide's CONTAINERS, IMAGES, SELECTOR of a Deployment or a ReplicaSet."""
    ctrs = o["spec"]["template"]["spec"]["containers"]
    match = o["spec"]["selector"].get("matchLabels") or {}
    return [",".join(c["name"] for c in ctrs), ",".join(c["image"] for c in ctrs),
            ",".join(f"{k}={v}" for k, v in match.items())]


def _replicaset_row(o: dict, wide: bool = False) -> list:
    st = o.get("status") or {}
    row = [o["metadata"]["name"], o["spec"].get("replicas", 1), st.get("replicas", 0), st.get("readyReplicas", 0),
           k8s_age(o)]
    return row + (_template_columns(o) if wide else [])


def object_rows(kind, objs, all_namespaces=False, wide=False, facts=None):
    """kubectl get's columns for ``kind`` (headers, rows); ``facts``: the
    node's name ("node", for pods) and each Ingress's address
    ("ingress_address", by (namespace, name))."""
    facts = facts or {}
    if kind.kind == "Namespace":
        headers = ["NAME", "STATUS", "AGE"]
        rows = [[o["metadata"]["name"], (o.get("status") or {}).get("phase", "Active"), k8s_age(o)] for o in objs]
    elif kind.kind == "Pod":
        headers = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] + \
            (["IP", "NODE", "NOMINATED NODE", "READINESS GATES"] if wide else [])
        rows = [_pod_row(o, wide, facts.get("node", "")) for o in objs]
    elif kind.kind == "Deployment":
        headers = ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"] + \
            (["CONTAINERS", "IMAGES", "SELECTOR"] if wide else [])
        rows = [_deployment_row(o, wide) for o in objs]
    elif kind.kind == "ReplicaSet":
        headers = ["NAME", "DESIRED", "CURRENT", "READY", "AGE"] + \
            (["CONTAINERS", "IMAGES", "SELECTOR"] if wide else [])
        rows = [_replicaset_row(o, wide) for o in objs]
    elif kind.kind == "Service":
        headers = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"] + (["SELECTOR"] if wide else [])
        rows = [_service_row(o, wide) for o in objs]
    elif kind.kind == "Ingress":
        headers = ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
        address = facts.get("ingress_address") or {}
        rows = [[o["metadata"]["name"], o["spec"].get("ingressClassName") or "<none>",
                 ",".join(r.get("host") or "*" for r in o["spec"].get("rules") or []) or "*",
                 address.get((o["metadata"].get("namespace"), o["metadata"]["name"]), ""),
                 "80, 443" if o["spec"].get("tls") else "80", k8s_age(o)] for o in objs]
    elif kind.kind == "Secret":
        headers = ["NAME", "TYPE", "DATA", "AGE"]
        rows = [[o["metadata"]["name"], o.get("type", "Opaque"),
                 len(set(o.get("data") or {}) | set(o.get("stringData") or {})), k8s_age(o)] for o in objs]
    elif kind.kind == "Endpoints":
        headers = ["NAME", "ENDPOINTS", "AGE"]
        rows = [[o["metadata"]["name"], endpoint_list(o), k8s_age(o)] for o in objs]
    elif kind.kind == "NetworkPolicy":
        from minipod.objects import policies
        headers = ["NAME", "POD-SELECTOR", "AGE"]
        rows = [[o["metadata"]["name"], policies.selector_text((o.get("spec") or {}).get("podSelector")), k8s_age(o)]
                for o in objs]
    elif kind.crd:
        from minipod.objects import crd
        from minipod.printers import crd_columns
        headers, rows = crd_columns.rows(crd.storage_version(kind.kind)["additionalPrinterColumns"], objs, wide,
                                         k8s_age)
    else:  # ConfigMap
        headers = ["NAME", "DATA", "AGE"]
        rows = [[o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                 k8s_age(o)] for o in objs]
    if all_namespaces and kind.namespaced:
        headers = ["NAMESPACE"] + headers
        rows = [[o["metadata"].get("namespace", "")] + r for o, r in zip(objs, rows)]
    return headers, rows


def object_yaml(objs) -> str:
    """-o yaml: one object as is, several as kubectl's `kind: List`."""
    import yaml

    class Dumper(yaml.SafeDumper):
        """Multi-line strings as literal blocks (|), as kubectl prints them."""

    def text(dumper, value):
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)
    Dumper.add_representer(str, text)
    data = objs[0] if len(objs) == 1 else {"apiVersion": "v1", "kind": "List", "items": objs,
                                            "metadata": {"resourceVersion": ""}}
    return yaml.dump(data, Dumper=Dumper, sort_keys=True, default_flow_style=False).rstrip("\n")


def _ports_text(spec: dict) -> str:
    return ",".join(f"{p['port']}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
                    else f"{p['port']}/{p.get('protocol', 'TCP')}" for p in spec.get("ports", [])) or "<none>"


def external_ip(o: dict) -> str:
    from minipod.objects import services
    if o["spec"].get("type") != "LoadBalancer":
        return "<none>"
    return services.lb_ip(o) or "<pending>"


def selector_text(spec: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"


def _service_row(o: dict, wide: bool) -> list:
    spec = o["spec"]
    row = [o["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"),
           external_ip(o), _ports_text(spec), k8s_age(o)]
    return row + ([selector_text(spec)] if wide else [])


def endpoint_list(ep, port_name=None, limit=3) -> str:
    """kubectl's ENDPOINTS column: ip:port, the first three, then "+ N more..."."""
    items = []
    for subset in (ep or {}).get("subsets", []):
        for p in subset.get("ports", []):
            if port_name is not None and p.get("name", "") != port_name:
                continue
            items += [f"{a['ip']}:{p['port']}" for a in subset.get("addresses", [])]
    if not items:
        return "<none>"
    shown = ",".join(items[:limit])
    return shown + (f" + {len(items) - limit} more..." if len(items) > limit else "")


def _since(ts: str) -> str:
    import calendar
    try:
        t = calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return "<unknown>"
    return docker.short_age(time.time() - t)


def node_rows(objs):
    """kubectl get nodes: (headers, rows); the first 5 columns show without -o wide."""
    headers = ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
               "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    rows = []
    for o in objs:
        st, info = o["status"], o["status"]["nodeInfo"]
        ready = next((c["status"] for c in st["conditions"] if c["type"] == "Ready"), "Unknown")
        roles = ",".join(sorted(k.split("/", 1)[1] for k in o["metadata"]["labels"]
                                if k.startswith("node-role.kubernetes.io/"))) or "<none>"
        ip = next((a["address"] for a in st["addresses"] if a["type"] == "InternalIP"), "<none>")
        rows.append([o["metadata"]["name"], "Ready" if ready == "True" else "NotReady", roles,
                     k8s_age(o), info["kubeletVersion"], ip, "<none>", info["osImage"],
                     info["kernelVersion"], info["containerRuntimeVersion"]])
    return headers, rows


def event_rows(objs):
    """kubectl get events: (headers, rows); the first 5 columns show without -o wide."""
    headers = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE", "SUBOBJECT", "SOURCE", "FIRST SEEN", "COUNT",
               "NAME"]
    rows = []
    for e in objs:
        inv = e["involvedObject"]
        rows.append([_since(e["lastTimestamp"]), e["type"], e["reason"], f"{inv['kind'].lower()}/{inv['name']}",
                     e["message"], inv.get("fieldPath", ""), e["source"]["component"],
                     _since(e["firstTimestamp"]), e["count"], e["metadata"]["name"]])
    return headers, rows


def endpointslice_rows(objs):
    """kubectl get endpointslices: (headers, rows)."""
    headers = ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    rows = []
    for o in objs:
        ports = ",".join(str(p["port"]) for p in o.get("ports") or []) or "<unset>"
        addrs = [a for e in o["endpoints"] for a in e["addresses"]]
        shown = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
        rows.append([o["metadata"]["name"], o["addressType"], ports, shown or "<unset>", k8s_age(o)])
    return headers, rows
