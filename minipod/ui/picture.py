"""The node as the course's slides draw it, as data (``model``) and as an
SVG picture (``svg``, rendered on the server: the page needs no framework).

    ingresses   (hosts and paths)        ──▶ their Services
    gateways    (address; each route's hostnames, matches) ──▶ their backends' Services
    services    (ClusterIP, node ports)  ──▶ their endpoints: pods
    ─────────── the bridge (minipod0, its gateway) ─── the host's uplink
    pods        (eth0 and address, the host side veth, pause and containers)

Every element has an id the trace highlights (trace_ids): pod-<id>,
veth-<id>, bridge, svc-<namespace>-<name>, edge-<service id>-<pod id>,
ing-<namespace>-<name>, ingedge-<ingress id>-<service id>, gw-<namespace>-<name>,
gwedge-<gateway id>-<service id>."""

import hashlib
import html
import json
import re
import socket

W = 1160  # the picture's width
POD_W, POD_H, POD_GAP = 204, 118, 18
SVC_W, SVC_H = 220, 54
PER_ROW = 5


def _id(*parts) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", "-".join(parts))


def model() -> dict:
    """Everything the picture shows, from minipod's records and objects."""
    from minipod.cni import network
    from minipod.core import pod
    from minipod.views import topology
    from minipod.objects import kinds, services as svcmod, store
    conf = network.load(network.default_name())
    members = {p["id"]: att for p, att in topology.members(conf)}
    by_pod = pod.containers_by_pod()
    pods, ip_to_pod = [], {}
    for rec in sorted(pod.list_pods(), key=lambda r: r["name"]):
        if rec["status"] != "running" or rec.get("network") != conf["name"]:
            continue
        k8s = rec.get("k8s") or {}
        label = f"{k8s['namespace']}/{k8s['name']}" if k8s else rec["name"]
        ip = (rec.get("ip") or "").split("/")[0]
        att = members.get(rec["id"])
        pods.append({"id": _id("pod", rec["id"][:12]), "key": rec["id"][:12], "name": label, "ip": ip,
                     "veth": topology.host_veth(att.result) if att else "",
                     "containers": sorted(c["name"].split("_")[-1] if k8s else c["name"]
                                          for c in by_pod.get(rec["id"], []) if c.get("pid"))})
        ip_to_pod[ip] = pods[-1]
    services = []
    for svc in sorted(store.list_objects(kinds.SERVICE), key=lambda s: (s["metadata"]["namespace"],
                                                                         s["metadata"]["name"])):
        meta, spec = svc["metadata"], svc["spec"]
        ep = store.get(kinds.ENDPOINTS, meta["namespace"], meta["name"]) or {}
        ips = sorted({a["ip"] for s in ep.get("subsets", []) for a in s.get("addresses", [])})
        sid = _id("svc", meta["namespace"], meta["name"])
        services.append({"id": sid, "name": f"{meta['namespace']}/{meta['name']}",
                         "clusterIP": spec.get("clusterIP") or "", "lb": svcmod.lb_ip(svc) or "",
                         "ports": [f"{p['port']}/{p.get('protocol', 'TCP').lower()}" for p in spec.get("ports", [])],
                         "nodePorts": [p["nodePort"] for p in spec.get("ports", []) if p.get("nodePort")],
                         "endpoints": [ip_to_pod[i]["id"] for i in ips if i in ip_to_pod]})
    ingresses = []
    for ing in store.list_objects(kinds.INGRESS):
        meta = ing["metadata"]
        rules = [{"host": r.get("host", "*"), "path": p.get("path", "/"),
                  "service": _id("svc", meta["namespace"], p["backend"]["service"]["name"])}
                 for r in ing["spec"].get("rules", []) for p in (r.get("http") or {}).get("paths", [])
                 if "service" in p.get("backend", {})]
        ingresses.append({"id": _id("ing", meta["namespace"], meta["name"]),
                          "name": f"{meta['namespace']}/{meta['name']}", "rules": rules})
    uplink = _uplink()
    return {"host": socket.gethostname(), "uplink": uplink,
            "bridge": {"name": network.bridge_of(conf) or "", "gateway": network.gateway_of(conf) or "",
                       "subnet": ", ".join(str(s) for s in network.subnets_of(conf))},
            "pods": pods, "services": services, "ingresses": ingresses, "gateways": _gateways()}


def _gateways() -> list:
    """Each Gateway of minipod's: its address, and every match its nginx
    serves (listener, host, path) with the Services of its backends."""
    from minipod.objects import kinds, store
    if not store.any_objects(kinds.GATEWAY):
        return []
    from minipod.roles.gateway import controller
    classes = {c["metadata"]["name"] for c in store.list_objects(kinds.GATEWAY_CLASS)
               if c["spec"]["controllerName"] == controller.CONTROLLER_NAME}
    world, out = None, []
    for gw in store.list_objects(kinds.GATEWAY):
        if gw["spec"]["gatewayClassName"] not in classes:
            continue
        world = world or controller.read_world()
        _lsts, matches, _attached, _parents = controller.plan(gw, world)
        meta = gw["metadata"]
        rules = []
        for m in matches:
            text = f"{m.hostname or '*'}{m.path}" + (f" {m.method}" if m.method else "") + \
                "".join(f" {n}: {v}" for _k, n, v in m.headers) + "".join(f" ?{n}={v}" for _k, n, v in m.query)
            rules.append({"route": m.route[2], "rule": text,
                          "services": sorted({_id("svc", b.namespace, b.name) for b in m.action.backends})})
        address = ((gw.get("status") or {}).get("addresses") or [{}])[0].get("value", "")
        out.append({"id": _id("gw", meta["namespace"], meta["name"]), "name": f"{meta['namespace']}/{meta['name']}",
                    "address": address, "rules": rules})
    return out


def _uplink() -> str:
    import subprocess
    out = subprocess.run(["ip", "-4", "-o", "route", "show", "default"], capture_output=True, text=True).stdout.split()
    return out[out.index("dev") + 1] if "dev" in out else ""


def digest(m: dict) -> str:
    return hashlib.sha256(json.dumps(m, sort_keys=True).encode()).hexdigest()


def _fit(s: str, n: int) -> str:
    """``s`` in ``n`` characters at most, its middle left out (pod names end in what tells them apart)."""
    return s if len(s) <= n else s[:n // 2 - 1] + "…" + s[-(n - n // 2):]


def _text(x, y, s, cls="", anchor="start") -> str:
    return f'<text x="{x}" y="{y}" class="{cls}" text-anchor="{anchor}">{html.escape(str(s))}</text>'


def svg(m: dict) -> str:
    """The picture of ``m`` (a model())."""
    e = html.escape
    pods, services, ingresses, gateways = m["pods"], m["services"], m["ingresses"], m.get("gateways", [])
    top = max([len(i["rules"]) for i in ingresses] + [len(g["rules"]) for g in gateways] + [0])
    ing_y, svc_y, bridge_y, pod_y = 40, 110 + 14 * top if ingresses or gateways else 40, 0, 0
    bridge_y = svc_y + (SVC_H + 70 if services else 20)
    pod_y = bridge_y + 70
    rows = max(1, (len(pods) + PER_ROW - 1) // PER_ROW)
    height = pod_y + rows * (POD_H + 50) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" '
           f'id="node-picture">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead"/></marker></defs>',
           f'<rect x="4" y="4" width="{W - 8}" height="{height - 8}" rx="10" class="host"/>',
           _text(16, 24, f"host {m['host']}" + (f"   uplink {m['uplink']} (masquerade for pods)" if m["uplink"]
                                                 else ""), "title")]
    pod_xy = {}
    for i, p in enumerate(pods):
        x = 20 + (i % PER_ROW) * (POD_W + POD_GAP)
        y = pod_y + (i // PER_ROW) * (POD_H + 50)
        pod_xy[p["id"]] = (x, y)
    svc_xy = {s["id"]: (20 + i * (SVC_W + 12), svc_y) for i, s in enumerate(services)}
    # the bridge, the veths, the pods
    out.append(f'<g id="bridge" class="bridge"><rect x="16" y="{bridge_y}" width="{W - 32}" height="16" rx="4"/>'
               + _text(24, bridge_y + 12, f"bridge {m['bridge']['name']}  {m['bridge']['gateway']}  "
                                          f"({m['bridge']['subnet']})", "onbridge") + "</g>")
    for p in pods:
        x, y = pod_xy[p["id"]]
        cx = x + POD_W // 2
        out.append(f'<g id="veth-{e(p["key"])}" class="veth"><line x1="{cx}" y1="{bridge_y + 16}" x2="{cx}" '
                   f'y2="{y}"/>' + _text(cx + 4, bridge_y + 36, p["veth"] or "veth", "small") + "</g>")
        lines = [f"eth0 {p['ip']}", "pause (PID 1)"] + [f"▸ {c}" for c in p["containers"]]
        body = "".join(_text(x + 10, y + 38 + 16 * j, t, "small") for j, t in enumerate(lines[:5]))
        out.append(f'<g id="{p["id"]}" class="pod" data-name="{e(p["name"])}" data-ip="{e(p["ip"])}">'
                   f'<rect x="{x}" y="{y}" width="{POD_W}" height="{POD_H}" rx="8"/>'
                   + _text(x + 10, y + 18, _fit(f"pod {p['name']}", 27), "name") + body + "</g>")
    # services and their arrows to the endpoint pods
    for s in services:
        x, y = svc_xy[s["id"]]
        for pid in s["endpoints"]:
            px, py = pod_xy[pid]
            out.append(f'<line id="edge-{s["id"]}-{pid}" class="edge" x1="{x + SVC_W // 2}" y1="{y + SVC_H}" '
                       f'x2="{px + POD_W // 2 + 30}" y2="{py}" marker-end="url(#arrow)"/>')
        vips = " ".join(filter(None, [s["clusterIP"], s["lb"] and f"LB {s['lb']}"]))
        ports = " ".join(s["ports"]) + (f"  node {','.join(map(str, s['nodePorts']))}" if s["nodePorts"] else "")
        out.append(f'<g id="{s["id"]}" class="service" data-name="{e(s["name"])}">'
                   f'<rect x="{x}" y="{y}" width="{SVC_W}" height="{SVC_H}" rx="22"/>'
                   + _text(x + SVC_W // 2, y + 18, _fit(f"svc {s['name']}", 30), "name", "middle")
                   + _text(x + SVC_W // 2, y + 33, vips, "small", "middle")
                   + _text(x + SVC_W // 2, y + 47, ports, "small", "middle") + "</g>")
    # ingresses: their hosts and paths, arrows to their services
    for i, ing in enumerate(ingresses):
        x, y = 20 + i * 380, ing_y
        for j, r in enumerate(ing["rules"]):
            if r["service"] in svc_xy:
                sx, sy = svc_xy[r["service"]]
                out.append(f'<line id="ingedge-{ing["id"]}-{r["service"]}" class="edge" x1="{x + 120}" '
                           f'y1="{y + 20 + 14 * len(ing["rules"])}" x2="{sx + SVC_W // 2}" y2="{sy}" '
                           'marker-end="url(#arrow)"/>')
        text = "".join(_text(x + 10, y + 34 + 14 * j, f"{r['host']}{r['path']}", "small")
                       for j, r in enumerate(ing["rules"]))
        out.append(f'<g id="{ing["id"]}" class="ingress"><rect x="{x}" y="{y}" width="360" '
                   f'height="{28 + 14 * len(ing["rules"])}" rx="6"/>'
                   + _text(x + 10, y + 18, f"ingress {ing['name']}", "name") + text + "</g>")
    # gateways: their address, each match and its route, arrows to the backends' services
    for i, gw in enumerate(gateways):
        x, y = 20 + (len(ingresses) + i) * 380, ing_y
        drawn = set()
        for r in gw["rules"]:
            for sid in r["services"]:
                if sid in svc_xy and sid not in drawn:
                    drawn.add(sid)
                    sx, sy = svc_xy[sid]
                    out.append(f'<line id="gwedge-{gw["id"]}-{sid}" class="edge" x1="{x + 120}" '
                               f'y1="{y + 20 + 14 * len(gw["rules"])}" x2="{sx + SVC_W // 2}" y2="{sy}" '
                               'marker-end="url(#arrow)"/>')
        text = "".join(_text(x + 10, y + 34 + 14 * j, _fit(f"{r['rule']}  ({r['route']})", 56), "small")
                       for j, r in enumerate(gw["rules"]))
        out.append(f'<g id="{gw["id"]}" class="ingress gateway"><rect x="{x}" y="{y}" width="360" '
                   f'height="{28 + 14 * len(gw["rules"])}" rx="6"/>'
                   + _text(x + 10, y + 18, f"gateway {gw['name']}  {gw['address']}", "name") + text + "</g>")
    out.append("</svg>")
    return "".join(out)


def trace_ids(m: dict, result: dict) -> list:
    """The ids of the picture a trace's first flow went through (a
    report.as_json result): its source pod and veth, the bridge, the
    service and its arrow to the endpoint, the endpoint's veth and pod."""
    by_ip = {p["ip"]: p for p in m["pods"]}
    trial = result["trials"][0]
    ids = ["bridge"]
    src = result["source"].get("ip")
    if src in by_ip:
        ids += [by_ip[src]["id"], f"veth-{by_ip[src]['key']}"]
    target = result["target"]
    endpoint = by_ip.get(trial.get("endpointIP") or "")
    svc = next((s for s in m["services"] if target["ip"] in (s["clusterIP"], s["lb"])), None)
    if svc is None and trial.get("endpointIP"):
        svc = next((s for s in m["services"] if endpoint and endpoint["id"] in s["endpoints"]
                    and target["kind"] in ("nodeport", "ingress")), None)
    if svc is not None:
        ids.append(svc["id"])
        if endpoint:
            ids.append(f"edge-{svc['id']}-{endpoint['id']}")
    if target["kind"] == "gateway" and endpoint:
        for gw in m.get("gateways", []):
            backend = next((s for s in m["services"] if endpoint["id"] in s["endpoints"]
                            and any(s["id"] in r["services"] for r in gw["rules"])), None)
            if backend is not None:
                ids += [gw["id"], f"gwedge-{gw['id']}-{backend['id']}", backend["id"],
                        f"edge-{backend['id']}-{endpoint['id']}"]
    if target["kind"] == "ingress" and svc is not None:
        ids += [ing["id"] for ing in m["ingresses"] if any(r["service"] == svc["id"] for r in ing["rules"])]
        ids += [f"ingedge-{ing['id']}-{svc['id']}" for ing in m["ingresses"]]
    if endpoint:
        ids += [endpoint["id"], f"veth-{endpoint['key']}"]
    return ids


def trace_marks(m: dict, result: dict) -> dict:
    """How the picture shows a trace (a report.as_json result): "hot", the
    ids its first flow went through; where a policy refused it, "dropped":
    the refusing pod's veth (and the pod, for its ingress), drawn in red,
    with "label", the rule's own words, written under the pod "at"; nothing
    past that point is hot."""
    hot = trace_ids(m, result)
    drop = next((e for e in result.get("policy", []) if e["verdict"] == "dropped"), None)
    pod = drop and next((p for p in m["pods"] if p["name"] == drop.get("pod")), None)
    if not pod:
        return {"hot": hot, "dropped": [], "label": "", "at": ""}
    label = "✗ dropped by " + drop["by"].split(" (")[0]
    if drop.get("direction") == "egress":  # refused as it left the pod: on its veth
        return {"hot": [pod["id"]], "dropped": [f"veth-{pod['key']}"], "label": label, "at": pod["id"]}
    dropped = [pod["id"], f"veth-{pod['key']}"]
    hot = [i for i in hot if i not in dropped]
    # a refused connection leaves no conntrack entry to name its endpoint: the arrow to the refusing pod
    hot += [f"edge-{s['id']}-{pod['id']}" for s in m["services"] if s["id"] in hot and pod["id"] in s["endpoints"]]
    return {"hot": list(dict.fromkeys(hot)), "dropped": dropped, "label": label, "at": pod["id"]}
