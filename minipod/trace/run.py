"""One trace: the flows made under the kernel's tracing, and what each
became: {"source", "target", "trials": [...]}, each trial with its source
port, the answer, the conntrack entry, the routes, the packets the trace
saw (request and reply), the endpoint that answered; through the ingress
or a Gateway, also the second leg, from its nginx to the pod."""

import contextlib

from minipod.trace import flows, nftrace, probe, targets


def _nginx_leg(t):
    """(selectors of nginx's flows to the backend pods, nginx's pod IP, the
    backends' addresses), or ([], None, set()): the ingress controller's
    nginx, or the Gateway's."""
    from minipod.core import pod
    from minipod.objects import kinds, store
    if t.kind == "gateway":
        from minipod.roles.gateway import controller as gateway
        meta = t.gateway.gateway["metadata"]
        name, ns = gateway.resource_name(t.gateway.gateway), meta["namespace"]
    else:
        from minipod.roles.ingress import controller
        name, ns = controller.POD, controller.NAMESPACE
    nginx = next((r for r in pod.store().all() if (r.get("k8s") or {}).get("name") == name
                  and (r.get("k8s") or {}).get("namespace", ns) == ns), None)
    if nginx is None or not nginx.get("ip"):
        return [], None, set()
    nginx_ip = nginx["ip"].split("/")[0]
    endpoints = {a["ip"] for e in store.list_objects(kinds.ENDPOINTS) for s in e.get("subsets", [])
                 for a in s.get("addresses", [])}
    if not endpoints:
        return [], nginx_ip, set()
    eps = ", ".join(sorted(endpoints))
    return ([f"ip saddr {nginx_ip} ip daddr {{ {eps} }}", f"ip saddr {{ {eps} }} ip daddr {nginx_ip}"], nginx_ip,
            endpoints)


def trace(source: str, dest: str, namespace: str = "default", udp: bool = False, count: int = 1,
          through: str = "auto") -> dict:
    from minipod import state
    from minipod.trace import lock_path
    with state.locked(lock_path()):
        return _trace(source, dest, namespace, udp, count, through)


def _trace(source: str, dest: str, namespace: str, udp: bool, count: int, through: str) -> dict:
    where = targets.place(source, namespace)
    t = targets.target(dest, namespace, udp, through)
    targets.check_safe(t)
    if t.kind in ("ingress", "gateway") and udp:
        from minipod.errors import InvalidArgument
        raise InvalidArgument(f"the {t.kind} serves HTTP: no --udp through it")
    ports = probe.free_ports(count)
    selectors = nftrace.flow_selectors(ports, t.proto)
    leg, nginx_ip, backends = _nginx_leg(t) if t.kind in ("ingress", "gateway") else ([], None, set())
    trials = []
    with (probe.outside() if where.kind == "outside" else contextlib.nullcontext()) as outside:
        netns = where.netns
        ip = t.ip
        if outside:
            netns, where.ip, host_ip = outside
            if t.kind in ("nodeport", "host", "ingress"):
                ip = host_ip  # the node, as the outside client reaches it
        elif where.kind == "host":
            where.ip = None
        with nftrace.Tracer(selectors + leg, ports, t.proto) as tracer:
            answers = [probe.send(netns, t.proto, p, ip, t.port, t.http or None) for p in ports]
        for sport, answer in zip(ports, answers):
            entry = flows.entry(t.proto, sport, ip, t.port, src=where.ip)
            own = {str(sport)} | ({entry.snat[1]} if entry and entry.snat else set())
            mine = [p for p in tracer.packets if p.header(f"{t.proto} sport") in own
                    or p.header(f"{t.proto} dport") in own]
            trial = {"sport": sport, "ok": answer["ok"], "error": answer["error"],
                     "answer": answer["answer"][:200].decode(errors="replace"), "conntrack": entry,
                     "packets": mine, "dest_ip": ip}
            reached = entry.dnat[0] if entry and entry.dnat else ip
            trial["endpoint"] = flows.pod_of(reached)
            trial["endpoint_ip"] = reached
            if nginx_ip:
                upstream = [p for p in tracer.packets if p.header("ip saddr") == nginx_ip
                            and p.header("ip daddr") in backends]
                trial["upstream_packets"] = upstream
                ups = [p.header("ip daddr") for p in upstream]
                trial["endpoint_ip"] = ups[0] if ups else None
                trial["endpoint"] = flows.pod_of(ups[0]) if ups else None
            trials.append(trial)
        routes = {"from the source": flows.route(ip, netns=netns),
                  "on the node": flows.route(trials[0]["endpoint_ip"] or ip)}
    return {"source": where, "target": t, "trials": trials, "routes": routes}
