"""Render nginx's configuration from Ingresses, Services and Endpoints, as
ingress-nginx does: one `server` per host, one `location` per path, the
upstreams are the endpoints' pod IPs. Pure: objects in, text out.

Kubernetes' precedence holds by construction: exact host names before
wildcards (nginx's own server_name order), Exact before Prefix (`location
=`), the longest Prefix first (`location ^~`: nginx picks the longest
prefix), Prefix matching whole path elements (/foo matches /foo and
/foo/bar, not /foobar). With `use-regex` or `rewrite-target` every path of
that host is a case-insensitive regex, longest first, as in ingress-nginx.
"""

from minipod.objects import ingresses as ing

PROXY = ("proxy_set_header Host $host;", "proxy_set_header X-Real-IP $remote_addr;",
         "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
         "proxy_set_header X-Forwarded-Proto $scheme;", "proxy_http_version 1.1;",
         'proxy_set_header Connection "";', "proxy_connect_timeout 5s;")


def upstream_name(ns: str, svc: str, port) -> str:
    return f"{ns}-{svc}-{port}"


def backend_targets(ns: str, backend: dict, services: dict, endpoints: dict):
    """["ip:port", ...] behind an Ingress backend (empty: answer 503)."""
    ref = backend["service"]
    svc = services.get((ns, ref["name"]))
    if svc is None:
        return []
    want = ref["port"]
    port = next((p for p in svc["spec"].get("ports", [])
                 if ("number" in want and p["port"] == want["number"]) or p.get("name") == want.get("name")), None)
    if port is None:
        return []
    out = []
    for subset in (endpoints.get((ns, ref["name"])) or {}).get("subsets", []):
        for p in subset.get("ports", []):
            if p.get("name", "") == port.get("name", ""):
                out += [f"{a['ip']}:{p['port']}" for a in subset.get("addresses", [])]
    return sorted(set(out))


def _location_body(target, rewrite=None, regex_path=None) -> list:
    if not target:
        return ["return 503;"]
    body = []
    if rewrite is not None:
        body.append(f'rewrite "(?i){regex_path}" {rewrite} break;')
    return body + list(PROXY) + [f"proxy_pass http://{target};"]


def _prefix_locations(path: str):
    """The nginx locations of a Kubernetes Prefix path."""
    path = path.rstrip("/") or "/"
    if path == "/":
        return ["/"]
    return [f"= {path}", f"^~ {path}/"]


def _host_locations(entries: list) -> list:
    """[(location spec, body lines)] for one host's paths (entries: dicts
    with path, type, target, rewrite, regex)."""
    if any(e["regex"] for e in entries):
        out = []
        for e in sorted(entries, key=lambda e: -len(e["path"])):
            spec = f'~* "^{e["path"]}"'
            if spec not in {s for s, _b in out}:
                out.append((spec, _location_body(e["target"], e["rewrite"], "^" + e["path"])))
        return out
    chosen = {}
    for e in sorted(entries, key=lambda e: e["type"] != "Exact"):  # Exact first: it wins a tie
        specs = [f"= {e['path']}"] if e["type"] == "Exact" else \
            (_prefix_locations(e["path"]) if e["type"] == "Prefix" else [f"^~ {e['path']}"])
        for spec in specs:
            chosen.setdefault(spec, _location_body(e["target"]))
    return sorted(chosen.items(), key=lambda item: (-len(item[0].split(" ")[-1]), item[0]))


def render(ingress_objs: list, services: dict, endpoints: dict, tls: dict, ports=(80, 443)) -> str:
    """nginx.conf for ``ingress_objs``; ``tls`` maps (namespace, secret) to
    (certificate path, key path) inside the nginx container."""
    http, https = ports
    upstreams, hosts, host_tls = {}, {}, {}
    default = None
    for obj in sorted(ingress_objs, key=lambda o: (o["metadata"].get("creationTimestamp") or "",
                                                  o["metadata"]["namespace"], o["metadata"]["name"])):
        ns = obj["metadata"]["namespace"]
        notes = obj["metadata"].get("annotations") or {}
        rewrite = notes.get(ing.REWRITE)
        regex = notes.get(ing.USE_REGEX) == "true" or rewrite is not None

        def target_of(backend):
            eps = backend_targets(ns, backend, services, endpoints)
            if not eps:
                return None
            port = backend["service"]["port"]
            name = upstream_name(ns, backend["service"]["name"], port.get("number") or port.get("name"))
            upstreams[name] = eps
            return name
        if obj["spec"].get("defaultBackend") and default is None:
            default = target_of(obj["spec"]["defaultBackend"]) or "503"
        for t in obj["spec"].get("tls") or []:
            for h in t.get("hosts") or []:
                if (ns, t["secretName"]) in tls:
                    host_tls.setdefault(h, tls[(ns, t["secretName"])])
        for rule in obj["spec"].get("rules") or []:
            entries = hosts.setdefault(rule.get("host") or "_", [])
            for p in (rule.get("http") or {}).get("paths") or []:
                entries.append({"path": p.get("path", "/"), "type": p["pathType"], "regex": regex,
                                "target": target_of(p["backend"]), "rewrite": rewrite})
    lines = ["# written by minipod's ingress controller; do not edit", "user www-data;", "worker_processes 1;",
             "pid /run/nginx.pid;", "error_log stderr notice;", "events { worker_connections 1024; }",
             "http {", "    access_log /dev/stdout;", "    server_tokens off;",
             "    proxy_next_upstream error timeout;", "    server_names_hash_bucket_size 128;"]
    for name, eps in sorted(upstreams.items()):
        # Idle connections kept to the pods, as ingress-nginx keeps them
        # (upstream-keepalive-connections: 320): without them the proxy
        # closes every upstream connection first, and its TIME_WAITs use up
        # the ports to a pod (measured: 30x fewer requests/s; bench/ingress.py).
        lines += [f"    upstream {name} {{"] + [f"        server {e} max_fails=0;" for e in eps] + \
                 ["        keepalive 320;", "        keepalive_timeout 60s;", "        keepalive_requests 10000;",
                  "    }"]
    any_tls = next(iter(sorted(host_tls.values())), None)
    lines += ["    server {", f"        listen {http} default_server;"]
    if any_tls:
        lines += [f"        listen {https} ssl default_server;", f"        ssl_certificate {any_tls[0]};",
                  f"        ssl_certificate_key {any_tls[1]};"]
    lines.append("        server_name _;")
    default_locations = _host_locations(hosts.pop("_", []))
    for spec, body in default_locations:
        lines += [f"        location {spec} {{"] + [f"            {b}" for b in body] + ["        }"]
    if not any(spec == "/" for spec, _ in default_locations):
        body = ["return 404;"] if default is None else \
            (["return 503;"] if default == "503" else list(PROXY) + [f"proxy_pass http://{default};"])
        lines += ["        location / {"] + [f"            {b}" for b in body] + ["        }"]
    lines.append("    }")
    for host in sorted(hosts):
        lines += ["", f"    # host {host}", "    server {", f"        listen {http};"]
        if host in host_tls:
            lines += [f"        listen {https} ssl;", f"        ssl_certificate {host_tls[host][0]};",
                      f"        ssl_certificate_key {host_tls[host][1]};"]
        lines.append(f"        server_name {host};")
        locations = _host_locations(hosts[host])
        for spec, body in locations:
            lines += [f"        location {spec} {{"] + [f"            {b}" for b in body] + ["        }"]
        if not any(spec in ("/", '~* "^/"') for spec, _ in locations):
            body = ["return 404;"] if default is None else \
                (["return 503;"] if default == "503" else list(PROXY) + [f"proxy_pass http://{default};"])
            lines += ["        location / {"] + [f"            {b}" for b in body] + ["        }"]
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"
