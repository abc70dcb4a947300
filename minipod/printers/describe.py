"""kubectl describe's layouts for minipod's Kubernetes objects. Pure: what
a section shows beyond the object's own fields comes in ``facts``, which
minipod.api.printing gathers."""

from minipod.printers import docker
from minipod.objects import policies
from minipod.printers.kubectl import endpoint_list, external_ip, selector_text


def events_lines(events: list) -> list:
    """The Events block of describe from [(type, reason, when, from, message)],
    ``when`` (first, last, count) or None (a problem that stands now: "-")."""
    if not events:
        return ["Events:       <none>"]
    rows = [("Type", "Reason", "Age", "From", "Message"), ("----", "------", "----", "----", "-------")] + \
        [(kind, reason, "-" if when is None else docker.event_age(*when), source, message)
         for kind, reason, when, source, message in events]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return ["Events:"] + ["  " + "  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _annotations(meta: dict) -> dict:
    """What describe shows of the annotations: all but kubectl apply's own
    record (printAnnotationsMultiline skips it)."""
    return {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}


def _mapping(title, values) -> list:
    """Labels or annotations, one per line, under a 14-column title."""
    if not values:
        return [f"{title}<none>"]
    pad = " " * len(title)
    items = [f"{k}={v}" for k, v in sorted(values.items())]
    return [title + items[0]] + [pad + i for i in items[1:]]


def describe_object(kind, obj, facts=None) -> str:
    """kubectl describe's layout for the kinds minipod knows; ``facts``: the
    node's name ("node"), the Events rows ("events", see events_lines),
    Endpoints by Service name ("endpoints") and an Ingress's address
    ("address")."""
    facts = facts or {}
    meta = obj["metadata"]
    if kind.crd:
        from minipod.printers import describe_generic
        return describe_generic.describe(obj, facts.get("events", [])).rstrip("\n")
    if kind.kind == "Service":
        return _describe_service(obj, facts)
    if kind.kind == "Ingress":
        return _describe_ingress(obj, facts)
    if kind.kind == "NetworkPolicy":
        return _describe_network_policy(obj)
    lines = [f"Name:         {meta['name']}"]
    if kind.namespaced:
        lines.append(f"Namespace:    {meta.get('namespace', '')}")
    lines += _mapping("Labels:       ", meta.get("labels")) + _mapping("Annotations:  ", _annotations(meta))
    if kind.kind == "Namespace":
        lines += ["", "Status:  Active", "", "No resource quota.", "", "No LimitRange resource."]
    elif kind.kind == "Pod":
        lines += _describe_pod(obj, facts)
    elif kind.kind == "Deployment":
        lines += _describe_deployment(obj, facts)
    elif kind.kind == "ReplicaSet":
        lines += _describe_replicaset(obj, facts)
    else:
        lines += ["", "Data", "===="]
        for key, value in sorted((obj.get("data") or {}).items()):
            lines += [f"{key}:", "----", value.rstrip("\n"), ""]
        lines += ["", "BinaryData", "===="] + [f"{k}: {len(v) * 3 // 4} bytes" for k, v in
                                               sorted((obj.get("binaryData") or {}).items())]
        lines += ["", "Events:  <none>"]
    return "\n".join(lines)


def _describe_pod(obj: dict, facts: dict) -> list:
    st = obj.get("status") or {}
    lines = [f"Node:         {facts.get('node', '')}/{st.get('hostIP') or ''}",
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
    lines += ["Conditions:", f"  {'Type':<18}Status"] + [f"  {c['type']:<18}{c['status']}" for c in conds]
    vols = obj["spec"].get("volumes") or []
    lines.append("Volumes:" + ("" if vols else "  <none>"))
    for v in vols:
        kind = next(k for k in ("emptyDir", "hostPath", "configMap") if k in v)
        lines.append(f"  {v['name']}:  {kind} {v[kind].get('path') or v[kind].get('name') or ''}".rstrip())
    lines.append(f"QoS Class:      {st.get('qosClass') or ''}")
    lines.append(f"Restart Policy: {obj['spec'].get('restartPolicy', 'Always')}")
    lines += events_lines(facts.get("events") or [])
    return lines


def _rs_line(rs) -> str:
    """A ReplicaSet as describe deployment names it: "web-6b9f (3/3 replicas created)"."""
    return f"{rs['metadata']['name']} ({(rs.get('status') or {}).get('replicas', 0)}/" \
           f"{rs['spec'].get('replicas', 1)} replicas created)"


def _template_lines(tpl: dict) -> list:
    labels = (tpl.get("metadata") or {}).get("labels") or {}
    lines = ["Pod Template:", "  Labels:  " + (",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"),
             "  Containers:"]
    for c in tpl["spec"]["containers"]:
        lines += [f"   {c['name']}:", f"    Image:      {c['image']}"]
        if c.get("command"):
            lines.append(f"    Command:    {' '.join(c['command'])}")
        if c.get("args"):
            lines.append(f"    Args:       {' '.join(c['args'])}")
    return lines


def _describe_deployment(obj: dict, facts: dict) -> list:
    """``facts``: "new_rs" and "old_rs" (its ReplicaSets, with status), "events"."""
    st = obj.get("status") or {}
    spec = obj["spec"]
    sel = ",".join(f"{k}={v}" for k, v in sorted((spec["selector"].get("matchLabels") or {}).items()))
    want = spec.get("replicas", 1)
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    lines = [f"Selector:               {sel}",
             f"Replicas:               {want} desired | {st.get('updatedReplicas', 0)} updated | "
             f"{st.get('replicas', 0)} total | {st.get('availableReplicas', 0)} available | "
             f"{st.get('unavailableReplicas', 0)} unavailable",
             "StrategyType:           RollingUpdate",
             "MinReadySeconds:        0",
             f"RollingUpdateStrategy:  {rolling.get('maxUnavailable', '25%')} max unavailable, "
             f"{rolling.get('maxSurge', '25%')} max surge"]
    lines += _template_lines(spec["template"])
    conds = st.get("conditions") or []
    if conds:
        lines += ["Conditions:", "  Type           Status  Reason", "  ----           ------  ------"]
        lines += [f"  {c['type']:<14} {c['status']:<7} {c.get('reason', '')}" for c in conds]
    olds = facts.get("old_rs") or []
    lines.append("OldReplicaSets:  " + (", ".join(_rs_line(r) for r in olds) if olds else "<none>"))
    new = facts.get("new_rs")
    lines.append("NewReplicaSet:   " + (_rs_line(new) if new else "<none>"))
    lines += events_lines(facts.get("events") or [])
    return lines


def _describe_replicaset(obj: dict, facts: dict) -> list:
    st = obj.get("status") or {}
    spec = obj["spec"]
    sel = ",".join(f"{k}={v}" for k, v in sorted((spec["selector"].get("matchLabels") or {}).items()))
    ref = next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
    lines = [f"Selector:     {sel}",
             f"Controlled By:  {ref['kind']}/{ref['name']}" if ref else "Controlled By:  <none>",
             f"Replicas:     {st.get('replicas', 0)} current / {spec.get('replicas', 1)} desired",
             f"Pods Status:  {st.get('readyReplicas', 0)} Running / 0 Waiting / 0 Succeeded / 0 Failed"]
    lines += _template_lines(spec["template"])
    lines += events_lines(facts.get("events") or [])
    return lines


def _describe_service(obj: dict, facts: dict) -> str:
    meta, spec = obj["metadata"], obj["spec"]
    ep = (facts.get("endpoints") or {}).get(meta["name"])

    def field(name, value):
        return f"{name + ':':<19}{value}"

    def mapping(name, values):
        items = [f"{k}={v}" for k, v in sorted((values or {}).items())] or ["<none>"]
        return [field(name, items[0])] + [" " * 19 + i for i in items[1:]]
    lines = [field("Name", meta["name"]), field("Namespace", meta["namespace"])]
    lines += mapping("Labels", meta.get("labels")) + mapping("Annotations", _annotations(meta))
    lines += [field("Selector", selector_text(spec)), field("Type", spec.get("type", "ClusterIP")),
              field("IP Family Policy", "SingleStack"), field("IP Families", "IPv4"),
              field("IP", spec.get("clusterIP")), field("IPs", ",".join(spec.get("clusterIPs") or []))]
    if spec.get("type") == "LoadBalancer":
        lines.append(field("LoadBalancer Ingress", external_ip(obj)))
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


def _describe_ingress(obj: dict, facts: dict) -> str:
    """kubectl describe ingress: the rules table with each backend's endpoints."""
    meta, spec = obj["metadata"], obj["spec"]
    endpoints = facts.get("endpoints") or {}

    def backend_text(b):
        ref = b["service"]
        port = ref["port"].get("number") or ref["port"].get("name")
        ep = endpoints.get(ref["name"])
        return f"{ref['name']}:{port} ({endpoint_list(ep, None, 10**6)})"
    lines = [f"Name:             {meta['name']}",
             "Labels:           " + (",".join(f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items()))
                                     or "<none>"),
             f"Namespace:        {meta['namespace']}", f"Address:          {facts.get('address', '')}",
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
    notes = _annotations(meta)
    lines.append("Annotations:      " + ("\n                  ".join(f"{k}: {v}" for k, v in sorted(notes.items()))
                                      or "<none>"))
    lines += events_lines(facts.get("events") or [])
    return "\n".join(lines)


def _created_on(obj: dict) -> str:
    """metav1.Time as Go prints it (kubectl's "Created on:"), in UTC."""
    ts = obj["metadata"].get("creationTimestamp") or ""
    return f"{ts[:10]} {ts[11:19]} +0000 UTC" if len(ts) >= 19 else "<unknown>"


def _policy_rules(rules: list, direction: str) -> list:
    """kubectl's printNetworkPolicySpecIngressFrom / EgressTo."""
    peers_key, peer_title, unrestricted = (("from", "From", "traffic not restricted by source") if direction == "ingress"
                                           else ("to", "To", "traffic not restricted by destination"))
    indent = "    "
    if not rules:
        return [f"{indent}<none> (Selected pods are isolated for {direction} connectivity)"]
    lines = []
    for i, rule in enumerate(rules):
        ports = rule.get("ports") or []
        if not ports:
            lines.append(f"{indent}To Port: <any> (traffic allowed to all ports)")
        for port in ports:  # kubectl ≥ 1.21's wording for a range (1.20 knows no endPort)
            proto = port.get("protocol", "TCP")
            lines.append(f"{indent}To Port Range: {port['port']}-{port['endPort']}/{proto}" if port.get("endPort")
                         else f"{indent}To Port: {port.get('port', '<nil>')}/{proto}")
        peers = rule.get(peers_key) or []
        if not peers:
            lines.append(f"{indent}{peer_title}: <any> ({unrestricted})")
        for peer in peers:
            lines.append(f"{indent}{peer_title}:")
            if "namespaceSelector" in peer:
                lines.append(f"{indent}  NamespaceSelector: {policies.selector_text(peer['namespaceSelector'])}")
            if "podSelector" in peer:
                lines.append(f"{indent}  PodSelector: {policies.selector_text(peer['podSelector'])}")
            if "ipBlock" in peer:
                lines += [f"{indent}  IPBlock:", f"{indent}    CIDR: {peer['ipBlock']['cidr']}",
                          f"{indent}    Except: {', '.join(peer['ipBlock'].get('except') or [])}"]
        if i != len(rules) - 1:
            lines.append(f"{indent}----------")
    return lines


def _describe_network_policy(obj: dict) -> str:
    """kubectl describe networkpolicy (describeNetworkPolicy)."""
    meta, spec = obj["metadata"], obj.get("spec") or {}
    lines = [f"Name:         {meta['name']}", f"Namespace:    {meta.get('namespace', '')}",
             f"Created on:   {_created_on(obj)}"]
    lines += _mapping("Labels:       ", meta.get("labels")) + _mapping("Annotations:  ", _annotations(meta))
    selector = spec.get("podSelector") or {}
    shown = policies.selector_text(selector)
    lines += ["Spec:", "  PodSelector:     " + ("<none> (Allowing the specific traffic to all pods in this namespace)"
                                              if shown == "<none>" else shown)]
    types = spec.get("policyTypes") or []
    for direction, title in (("ingress", "Ingress"), ("egress", "Egress")):
        if title in types:
            lines.append(f"  Allowing {direction} traffic:")
            lines += _policy_rules(spec.get(direction) or [], direction)
        else:
            lines.append(f"  Not affecting {direction} traffic")
    lines.append(f"  Policy Types: {', '.join(types)}")
    return "\n".join(lines)
