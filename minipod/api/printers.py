"""kubectl's printers for minipod's Kubernetes objects: `get`'s columns,
`-o yaml`, and `describe`'s layout."""

from minipod import output


def k8s_age(obj: dict) -> str:
    """kubectl's AGE: 45s, 3m, 2h, 4d."""
    import datetime
    ts = obj["metadata"].get("creationTimestamp")
    if not ts:
        return "<unknown>"
    created = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return output.short_age((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds())


def events_lines(events: list) -> list:
    """The Events block of describe from [(type, reason, when, from, message)],
    ``when`` (first, last, count) or None (a problem that stands now: "-")."""
    if not events:
        return ["Events:       <none>"]
    rows = [("Type", "Reason", "Age", "From", "Message"), ("----", "------", "----", "----", "-------")] + \
        [(kind, reason, "-" if when is None else output.event_age(*when), source, message)
         for kind, reason, when, source, message in events]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return ["Events:"] + ["  " + "  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]


def _pod_row(o: dict, wide: bool) -> list:
    from minipod.workloads import pods
    st = o.get("status") or {}
    ctrs = st.get("containerStatuses") or []
    ready = f"{sum(1 for c in ctrs if c.get('ready'))}/{len(o['spec'].get('containers') or ctrs)}"
    row = [o["metadata"]["name"], ready, pods.display_status(o), sum(c.get("restartCount", 0) for c in ctrs),
           k8s_age(o)]
    if wide:
        row += [st.get("podIP") or "<none>", pods.node_name() if st.get("podIP") or ctrs else "<none>", "<none>",
                "<none>"]
    return row


def _deployment_row(o: dict, wide: bool = False) -> list:
    st = o.get("status") or {}
    want = o["spec"].get("replicas", 1)
    row = [o["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{want}", st.get("updatedReplicas", 0),
           st.get("availableReplicas", 0), k8s_age(o)]
    if wide:
        ctrs = o["spec"]["template"]["spec"]["containers"]
        match = o["spec"]["selector"].get("matchLabels") or {}
        row += [",".join(c["name"] for c in ctrs), ",".join(c["image"] for c in ctrs),
                ",".join(f"{k}={v}" for k, v in match.items())]
    return row


def object_rows(kind, objs, all_namespaces=False, wide=False):
    """kubectl get's columns for ``kind`` (headers, rows)."""
    if kind.kind == "Namespace":
        headers = ["NAME", "STATUS", "AGE"]
        rows = [[o["metadata"]["name"], (o.get("status") or {}).get("phase", "Active"), k8s_age(o)] for o in objs]
    elif kind.kind == "Pod":
        headers = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] + \
            (["IP", "NODE", "NOMINATED NODE", "READINESS GATES"] if wide else [])
        rows = [_pod_row(o, wide) for o in objs]
    elif kind.kind == "Deployment":
        headers = ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"] + \
            (["CONTAINERS", "IMAGES", "SELECTOR"] if wide else [])
        rows = [_deployment_row(o, wide) for o in objs]
    elif kind.kind == "Service":
        headers = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"] + (["SELECTOR"] if wide else [])
        rows = [_service_row(o, wide) for o in objs]
    elif kind.kind == "Ingress":
        from minipod.ingress import controller, health
        headers = ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
        facts = controller.facts() if objs else None  # the same for every row
        rows = [[o["metadata"]["name"], o["spec"].get("ingressClassName") or "<none>",
                 ",".join(r.get("host") or "*" for r in o["spec"].get("rules") or []) or "*",
                 health.address(o, facts), "80, 443" if o["spec"].get("tls") else "80",
                 k8s_age(o)] for o in objs]
    elif kind.kind == "Secret":
        headers = ["NAME", "TYPE", "DATA", "AGE"]
        rows = [[o["metadata"]["name"], o.get("type", "Opaque"),
                 len(set(o.get("data") or {}) | set(o.get("stringData") or {})), k8s_age(o)] for o in objs]
    elif kind.kind == "Endpoints":
        headers = ["NAME", "ENDPOINTS", "AGE"]
        rows = [[o["metadata"]["name"], endpoint_list(o), k8s_age(o)] for o in objs]
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


def describe_object(kind, obj) -> str:
    """kubectl describe's layout for the kinds minipod knows."""
    meta = obj["metadata"]
    if kind.kind == "Service":
        return _describe_service(obj)
    if kind.kind == "Ingress":
        return _describe_ingress(obj)

    def mapping(title, values):
        if not values:
            return [f"{title}<none>"]
        pad = " " * len(title)
        items = [f"{k}={v}" for k, v in sorted(values.items())]
        return [title + items[0]] + [pad + i for i in items[1:]]
    lines = [f"Name:         {meta['name']}"]
    if kind.namespaced:
        lines.append(f"Namespace:    {meta.get('namespace', '')}")
    lines += mapping("Labels:       ", meta.get("labels")) + mapping("Annotations:  ", meta.get("annotations"))
    if kind.kind == "Namespace":
        lines += ["", "Status:  Active", "", "No resource quota.", "", "No LimitRange resource."]
    elif kind.kind == "Pod":
        lines += _describe_pod(obj)
    elif kind.kind == "Deployment":
        lines += _describe_deployment(obj)
    else:
        lines += ["", "Data", "===="]
        for key, value in sorted((obj.get("data") or {}).items()):
            lines += [f"{key}:", "----", value.rstrip("\n"), ""]
        lines += ["", "BinaryData", "===="] + [f"{k}: {len(v) * 3 // 4} bytes" for k, v in
                                               sorted((obj.get("binaryData") or {}).items())]
        lines += ["", "Events:  <none>"]
    return "\n".join(lines)


def _describe_pod(obj: dict) -> list:
    from minipod.workloads import pods
    st = obj.get("status") or {}
    lines = [f"Node:         {pods.node_name()}/{st.get('hostIP') or ''}",
             f"Start Time:   {st.get('startTime') or '<unknown>'}",
             f"Status:       {st.get('phase', 'Unknown')}", f"IP:           {st.get('podIP') or ''}"]
    owners = obj["metadata"].get("ownerReferences") or []
    lines.append("Controlled By:  " + (f"{owners[0]['kind']}/{owners[0]['name']}" if owners else "<none>"))
    lines.append("Containers:")
    statuses = {c["name"]: c for c in st.get("containerStatuses") or []}
    for c in obj["spec"].get("containers", []):
        cs = statuses.get(c["name"], {})
        state = cs.get("state") or {}
        name, detail = next(iter(state.items())) if state else ("Waiting", {})
        lines += [f"  {c['name']}:", f"    Image:          {c['image']}",
                  f"    State:          {name.capitalize()}"]
        for key, label in (("reason", "Reason"), ("exitCode", "Exit Code"), ("startedAt", "Started"),
                           ("finishedAt", "Finished")):
            if detail.get(key) is not None:
                lines.append(f"      {label + ':':<14}{detail[key]}")
        last = (cs.get("lastState") or {}).get("terminated")
        if last:
            lines += ["    Last State:     Terminated", f"      Reason:       {last.get('reason')}",
                      f"      Exit Code:    {last.get('exitCode')}"]
        lines += [f"    Ready:          {'True' if cs.get('ready') else 'False'}",
                  f"    Restart Count:  {cs.get('restartCount', 0)}"]
        for p in c.get("ports", []):
            lines.append(f"    Port:           {p['containerPort']}/{p.get('protocol', 'TCP')}")
        for m in c.get("volumeMounts", []):
            lines.append(f"    Mount:          {m['mountPath']} from {m['name']} ({'ro' if m.get('readOnly') else 'rw'})")
    conds = st.get("conditions") or []
    lines += ["Conditions:", "  Type    Status"] + [f"  {c['type']}   {c['status']}" for c in conds]
    vols = obj["spec"].get("volumes") or []
    lines.append("Volumes:" + ("" if vols else "  <none>"))
    for v in vols:
        kind = next(k for k in ("emptyDir", "hostPath", "configMap") if k in v)
        lines.append(f"  {v['name']}:  {kind} {v[kind].get('path') or v[kind].get('name') or ''}".rstrip())
    lines.append(f"QoS Class:      {st.get('qosClass') or ''}")
    lines.append(f"Restart Policy: {obj['spec'].get('restartPolicy', 'Always')}")
    lines += events_lines(pods.events_of(obj, pods.realised().get(obj["metadata"].get("uid"))))
    return lines


def _describe_deployment(obj: dict) -> list:
    st = obj.get("status") or {}
    spec = obj["spec"]
    sel = ",".join(f"{k}={v}" for k, v in sorted((spec["selector"].get("matchLabels") or {}).items()))
    want = spec.get("replicas", 1)
    lines = [f"Selector:               {sel}",
             f"Replicas:               {want} desired | {st.get('updatedReplicas', 0)} updated | "
             f"{st.get('replicas', 0)} total | {st.get('availableReplicas', 0)} available | "
             f"{st.get('replicas', 0) - st.get('availableReplicas', 0)} unavailable",
             "StrategyType:           RollingUpdate",
             "RollingUpdateStrategy:  0 max unavailable, 1 max surge",
             "Pod Template:"]
    tpl = spec["template"]
    labels = (tpl.get("metadata") or {}).get("labels") or {}
    lines.append("  Labels:  " + (",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"))
    lines.append("  Containers:")
    for c in tpl["spec"]["containers"]:
        lines += [f"   {c['name']}:", f"    Image:      {c['image']}"]
        if c.get("command"):
            lines.append(f"    Command:    {' '.join(c['command'])}")
        if c.get("args"):
            lines.append(f"    Args:       {' '.join(c['args'])}")
    lines += ["Events:          <none>"]
    return lines


def _ports_text(spec: dict) -> str:
    return ",".join(f"{p['port']}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
                    else f"{p['port']}/{p.get('protocol', 'TCP')}" for p in spec.get("ports", [])) or "<none>"


def _external_ip(o: dict) -> str:
    from minipod.objects import services
    if o["spec"].get("type") != "LoadBalancer":
        return "<none>"
    return services.lb_ip(o) or "<pending>"


def _selector(spec: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"


def _service_row(o: dict, wide: bool) -> list:
    spec = o["spec"]
    row = [o["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"),
           _external_ip(o), _ports_text(spec), k8s_age(o)]
    return row + ([_selector(spec)] if wide else [])


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


def _describe_service(obj: dict) -> str:
    from minipod.objects import kinds, store
    meta, spec = obj["metadata"], obj["spec"]
    ep = store.get(kinds.ENDPOINTS, meta["namespace"], meta["name"])

    def field(name, value):
        return f"{name + ':':<19}{value}"

    def mapping(name, values):
        items = [f"{k}={v}" for k, v in sorted((values or {}).items())] or ["<none>"]
        return [field(name, items[0])] + [" " * 19 + i for i in items[1:]]
    lines = [field("Name", meta["name"]), field("Namespace", meta["namespace"])]
    lines += mapping("Labels", meta.get("labels")) + mapping("Annotations", meta.get("annotations"))
    lines += [field("Selector", _selector(spec)), field("Type", spec.get("type", "ClusterIP")),
              field("IP Family Policy", "SingleStack"), field("IP Families", "IPv4"),
              field("IP", spec.get("clusterIP")), field("IPs", ",".join(spec.get("clusterIPs") or []))]
    if spec.get("type") == "LoadBalancer":
        lines.append(field("LoadBalancer Ingress", _external_ip(obj)))
    for p in spec.get("ports", []):
        name = p.get("name") or "<unset>"
        proto = p.get("protocol", "TCP")
        target = p.get("targetPort", p["port"])
        lines.append(field("Port", f"{name}  {p['port']}/{proto}"))
        lines.append(field("TargetPort", f"{target}/{proto}"))
        if p.get("nodePort"):
            lines.append(field("NodePort", f"{name}  {p['nodePort']}/{proto}"))
        lines.append(field("Endpoints", endpoint_list(ep, p.get("name", ""), limit=10**6)))
    lines.append(field("Session Affinity", spec.get("sessionAffinity", "None")))
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        lines.append(field("External Traffic Policy", "Cluster"))
    lines.append(field("Events", "<none>"))
    return "\n".join(lines)


def _describe_ingress(obj: dict) -> str:
    """kubectl describe ingress: the rules table with each backend's endpoints."""
    from minipod.ingress import controller, health
    from minipod.objects import kinds, store
    facts = controller.facts()
    meta, spec = obj["metadata"], obj["spec"]
    ns = meta["namespace"]

    def backend_text(b):
        ref = b["service"]
        port = ref["port"].get("number") or ref["port"].get("name")
        ep = store.get(kinds.ENDPOINTS, ns, ref["name"])
        return f"{ref['name']}:{port} ({endpoint_list(ep, None, 10**6)})"
    lines = [f"Name:             {meta['name']}",
             "Labels:           " + (",".join(f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items()))
                                     or "<none>"),
             f"Namespace:        {ns}", f"Address:          {health.address(obj, facts)}",
             f"Ingress Class:    {spec.get('ingressClassName') or '<none>'}",
             "Default backend:  " + (backend_text(spec["defaultBackend"]) if spec.get("defaultBackend")
                                     else "<default>")]
    if spec.get("tls"):
        lines.append("TLS:")
        lines += [f"  {t['secretName']} terminates {','.join(t.get('hosts') or [])}" for t in spec["tls"]]
    lines += ["Rules:", "  Host        Path  Backends", "  ----        ----  --------"]
    for rule in spec.get("rules") or []:
        lines.append(f"  {rule.get('host') or '*'}")
        for p in (rule.get("http") or {}).get("paths") or []:
            lines.append(f"              {p.get('path', '/')}   {backend_text(p['backend'])}")
    notes = meta.get("annotations") or {}
    lines.append("Annotations:      " + ("\n                  ".join(f"{k}: {v}" for k, v in sorted(notes.items()))
                                      or "<none>"))
    lines += events_lines(health.events(obj, facts))
    return "\n".join(lines)
