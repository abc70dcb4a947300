"""nginx.conf of one Gateway. Pure: listeners and ordered matches in, text out.

nginx's locations cannot match on a method, a header or a query
parameter, so the routing is maps a learner can read, in four steps:

    map $host $gw_listener_80 { hostnames; foo.example foo; default any; }    which listener
    map $request_method $gw_c3_method { POST 1; default 0; }                    one map per condition
    map "$gw_listener_80:$gw_c3_path$gw_c3_method" $gw_m3 { "any:11" 1; default 0; }   all of a match's
    map "$gw_m0$gw_m1$gw_m3" $gw_pick_80 { "~^1" 0; "~^.1" 1; "~^..1" 3; default none; }  the first in precedence

and `location /` proxies to the upstream of the match picked
(`map $gw_pick_80 $gw_upstream_80 { 0 gw_default_hello_0; ... }`: every
endpoint of its rule's backends, weighted by the backend's weight shared
among its endpoints), or, for a rule with filters, sends the request to
the match's internal location (`rewrite ^ /_gw/3 last`), which holds them. A backend that does
not resolve keeps its share as a 500, one with no endpoint as a 503
(servers on unix sockets of this nginx).
"""

import math
import re
from dataclasses import dataclass, field

FIVE_HUNDRED, FIVE_O_THREE = "unix:/run/gw-500.sock", "unix:/run/gw-503.sock"
PROXY = ("proxy_set_header Host $host;", "proxy_set_header X-Real-IP $remote_addr;",
         "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
         "proxy_set_header X-Forwarded-Proto $scheme;", "proxy_http_version 1.1;",
         'proxy_set_header Connection "";', "proxy_connect_timeout 5s;")


@dataclass
class Action:
    """What a rule does with a request it matched."""
    id: str
    backends: list = field(default_factory=list)  # backends.Backend
    request_headers: object = None  # a filter's requestHeaderModifier
    response_headers: object = None
    redirect: object = None  # requestRedirect
    rewrite: object = None  # urlRewrite
    mirrors: list = field(default_factory=list)  # backends.Backend
    timeout: object = None  # "10s"


def quoted(text: str) -> str:
    """A string nginx reads as it is: quotes and backslashes escaped, and $
    (nginx's variables) spelled through $gw_dollar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "${gw_dollar}") + '"'


def key_quoted(text: str) -> str:
    """A map's source value (never read for variables)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def header_variable(name: str) -> str:
    return "$http_" + name.lower().replace("-", "_")


def _path_key(m) -> object:
    """The map source value of a match's path, None when any path matches."""
    if m.path_type == "Exact":
        return key_quoted(m.path)
    if m.path_type == "RegularExpression":
        return key_quoted(f"~^(?:{m.path})$")
    if m.path == "/":
        return None
    return key_quoted(f"~^{re.escape(m.path)}(/|$)")


def _conditions(i: int, m) -> list:
    """[(variable, the map that sets it)] of each condition of match ``i``."""
    out = []
    if m.hostname is not None:
        out.append(("host", f"map $host $gw_c{i}_host {{ hostnames; {m.hostname} 1; default 0; }}"))
    path = _path_key(m)
    if path is not None:
        out.append(("path", f"map $gw_path $gw_c{i}_path {{ {path} 1; default 0; }}"))
    if m.method:
        out.append(("method", f"map $request_method $gw_c{i}_method {{ {m.method} 1; default 0; }}"))
    for j, (kind, name, value) in enumerate(m.headers):
        source = key_quoted(f"~^(?:{value})$") if kind == "RegularExpression" else key_quoted(value)
        out.append((f"header{j}", f"map {header_variable(name)} $gw_c{i}_header{j} {{ {source} 1; default 0; }}"))
    for j, (kind, name, value) in enumerate(m.query):
        body = value if kind == "RegularExpression" else re.escape(value)
        source = key_quoted(f"~(^|&){re.escape(name)}=(?:{body})(&|$)")
        out.append((f"query{j}", f"map $args $gw_c{i}_query{j} {{ {source} 1; default 0; }}"))
    return out


def _weights(backends: list) -> list:
    """[(server, weight)] of a rule's upstream: each backend's weight shared
    evenly among its endpoints (integers: scaled by the endpoint counts'
    least common multiple)."""
    counts = [len(b.targets) for b in backends if b.weight and not b.problem and b.targets]
    scale = math.lcm(*counts) if counts else 1
    servers = {}
    for b in backends:
        if not b.weight:
            continue
        if b.problem or not b.targets:
            server = FIVE_HUNDRED if b.problem else FIVE_O_THREE
            servers[server] = servers.get(server, 0) + b.weight * scale
            continue
        for t in b.targets:
            servers[t] = servers.get(t, 0) + b.weight * scale // len(b.targets)
    return sorted(servers.items())


def _upstream(name: str, servers: list) -> list:
    # Idle connections kept to the pods, as the ingress controller keeps them (bench/ingress.py)
    return [f"    upstream {name} {{"] + [f"        server {s} weight={w} max_fails=0;" for s, w in servers] + \
        ["        keepalive 320;", "        keepalive_timeout 60s;", "        keepalive_requests 10000;", "    }"]


def plain(a: Action) -> bool:
    """A rule that only proxies (no filter, mirror or timeout, a backend to
    send to): served from `location /` itself, with no internal redirect."""
    return not (a.request_headers or a.response_headers or a.redirect or a.rewrite or a.mirrors or a.timeout) \
        and bool(_weights(a.backends))


def _redirect(r: dict, listener_port: int) -> str:
    """return CODE URL; of a RequestRedirect (the port as the specification
    derives it, left out where it is the scheme's own)."""
    scheme = r.get("scheme")
    port = r.get("port") or ({"http": 80, "https": 443}[scheme] if scheme else listener_port)
    scheme_text = scheme or "$scheme"
    default_port = {"http": 80, "https": 443}.get(scheme)
    if scheme is None:
        port_text = "" if port in (80, 443) and listener_port == port else f":{port}"
    else:
        port_text = "" if port == default_port else f":{port}"
    host = quoted(r["hostname"])[1:-1] if r.get("hostname") else "$host"
    path = r.get("path")
    if path is None:
        path_text = "$gw_path"
    elif path["type"] == "ReplaceFullPath":
        path_text = quoted(path["replaceFullPath"])[1:-1]
    else:
        path_text = "$gw_rewritten"
    return f'return {r.get("statusCode", 302)} "{scheme_text}://{host}{port_text}{path_text}$is_args$args";'


def _prefix_map(i: int, prefix: str, replacement: str) -> str:
    """The maps that replace a matched PathPrefix in $gw_path
    ($gw_rewritten_I; "/" where the replacement leaves nothing)."""
    stem = prefix.rstrip("/")
    new = replacement.rstrip("/")
    return (f"map $gw_path $gw_replaced_{i} {{ {key_quoted('~^' + re.escape(stem) + '(?<gw_rest>/.*)?$')} "
            f"{quoted(new)[:-1]}$gw_rest\"; default $gw_path; }}\n"
            f'    map $gw_replaced_{i} $gw_rewritten_{i} {{ "" /; default $gw_replaced_{i}; }}')


def _request_headers(i: int, a: Action, http: list) -> list:
    """The proxy_set_header lines of a rule: the usual ones, then its
    RequestHeaderModifier's (set replaces, add appends to what the client
    sent, remove sends none) and URLRewrite's hostname."""
    fixed = [h for h in PROXY if not h.startswith("proxy_set_header ")]
    headers = {h.split()[1].lower(): h for h in PROXY if h.startswith("proxy_set_header ")}
    if a.rewrite and a.rewrite.get("hostname"):
        headers["host"] = f"proxy_set_header Host {quoted(a.rewrite['hostname'])};"
    modifier = a.request_headers or {}
    for h in modifier.get("set") or []:
        headers[h["name"].lower()] = f"proxy_set_header {h['name']} {quoted(h['value'])};"
    for j, h in enumerate(modifier.get("add") or []):
        client = header_variable(h["name"])
        http.append(f'    map {client} $gw_add_{i}_{j} {{ "" {quoted(h["value"])}; '
                    f'default "{client},{quoted(h["value"])[1:-1]}"; }}')
        headers[h["name"].lower()] = f"proxy_set_header {h['name']} $gw_add_{i}_{j};"
    for name in modifier.get("remove") or []:
        headers[name.lower()] = f'proxy_set_header {name} "";'
    return fixed + list(headers.values())


def _location(i: int, m, listener_port: int, http: list, upstreams: dict) -> list:
    """The internal location of match ``i``; what it needs at the http level
    is added to ``http`` (maps) and ``upstreams`` (name -> servers: a rule's
    matches share its upstream)."""
    a = m.action
    body = []
    if a.redirect is not None:
        path = a.redirect.get("path") or {}
        if path.get("type") == "ReplacePrefixMatch":
            http.append("    " + _prefix_map(i, m.path, path["replacePrefixMatch"]))
        line = _redirect(a.redirect, listener_port).replace("$gw_rewritten", f"$gw_rewritten_{i}")
        return [f"location = /_gw/{i} {{", "    internal;", f"    {line}", "}"]
    body += _request_headers(i, a, http)
    response = a.response_headers or {}
    for h in response.get("set") or []:
        body += [f"proxy_hide_header {h['name']};", f"add_header {h['name']} {quoted(h['value'])} always;"]
    for h in response.get("add") or []:
        body.append(f"add_header {h['name']} {quoted(h['value'])} always;")
    for name in response.get("remove") or []:
        body.append(f"proxy_hide_header {name};")
    if a.timeout:
        body += [f"proxy_read_timeout {a.timeout};", f"proxy_send_timeout {a.timeout};"]
    for j, mirror in enumerate(a.mirrors):
        body.append(f"mirror /_gw/{i}/mirror{j};")
    uri = "$request_uri"
    path = (a.rewrite or {}).get("path")
    if path and path["type"] == "ReplaceFullPath":
        uri = quoted(path["replaceFullPath"])[1:-1] + "$is_args$args"
    elif path:
        http.append("    " + _prefix_map(i, m.path, path["replacePrefixMatch"]))
        uri = f"$gw_rewritten_{i}$is_args$args"
    servers = _weights(a.backends)
    if not servers:
        body = ["return 500;"]  # no backend to send to: the specification's 500
    else:
        upstreams[f"gw_{a.id}"] = servers
        body.append(f"proxy_pass http://gw_{a.id}{uri};")
    out = [f"location = /_gw/{i} {{", "    internal;"] + [f"    {b}" for b in body] + ["}"]
    for j, mirror in enumerate(a.mirrors):
        name = f"gw_{a.id}_mirror{j}"
        upstreams[name] = _weights([mirror])
        out += [f"location = /_gw/{i}/mirror{j} {{", "    internal;", *[f"    {h}" for h in PROXY],
                f"    proxy_pass http://{name}$request_uri;", "}"]
    return out


def render(name: str, listeners: list, matches: list) -> str:
    """nginx.conf of the Gateway ``name``: ``listeners`` (attach.Listener,
    those that serve) and ``matches`` (precedence.Match, in precedence
    order)."""
    http = ["    geo $gw_dollar { default \"$\"; }"]
    servers, upstreams = [], {}
    for port in sorted({lst.port for lst in listeners}):
        on_port = [lst for lst in listeners if lst.port == port]
        picks = [(i, m) for i, m in enumerate(matches) if m.port == port]
        named = sorted((lst for lst in on_port if lst.hostname), key=lambda lst: lst.hostname)
        anyhost = next((lst.name for lst in on_port if not lst.hostname), "")
        http.append(f"    map $host $gw_listener_{port} {{ hostnames; "
                    + "".join(f"{lst.hostname} {lst.name}; " for lst in named) + f'default "{anyhost}"; }}')
        keys, direct = [], []
        locations = []
        for i, m in picks:
            conds = _conditions(i, m)
            http += [f"    {text}" for _v, text in conds]
            source = f"$gw_listener_{port}:" + "".join(f"$gw_c{i}_{v}" for v, _t in conds)
            http.append(f'    map "{source}" $gw_m{i} {{ "{m.listener}:{"1" * len(conds)}" 1; default 0; }}')
            keys.append(i)
            if plain(m.action):
                upstreams[f"gw_{m.action.id}"] = _weights(m.action.backends)
                direct.append((i, f"gw_{m.action.id}"))
            else:
                locations += _location(i, m, port, http, upstreams)
        pick = f'    map "{"".join(f"$gw_m{i}" for i in keys)}" $gw_pick_{port} {{ ' + \
            "".join(f'"~^{"." * n}1" {i}; ' for n, i in enumerate(keys)) + "default none; }"
        http.append(pick)
        http.append(f"    map $gw_pick_{port} $gw_upstream_{port} {{ " + "".join(f"{i} {u}; " for i, u in direct)
                    + 'default ""; }')
        # a match that only proxies is served here; one with filters (or none: 404) in its internal location
        body = ["set $gw_path $uri;", f'if ($gw_upstream_{port} = "") {{ rewrite ^ /_gw/$gw_pick_{port} last; }}',
                *PROXY, f"proxy_pass http://$gw_upstream_{port};"]
        routing = ["location / {"] + [f"    {b}" for b in body] + ["}",
                                                                   "location = /_gw/none { internal; return 404; }"]
        routing += locations
        tls = [lst for lst in on_port if lst.protocol == "HTTPS"]
        for lst in (tls or on_port[:1]):
            default = not tls or not lst.hostname or lst is tls[0] and all(t.hostname for t in tls)
            listen = f"listen {port}{' ssl' if tls else ''}{' default_server' if default else ''};"
            block = [f"    # listener{'s' if not tls and len(on_port) > 1 else ''} "
                     + (lst.name if tls else ", ".join(x.name for x in on_port)) + f" (port {port})",
                     "    server {", f"        {listen}",
                     f"        server_name {lst.hostname if tls and lst.hostname else '_'};"]
            if tls:
                block += [f"        ssl_certificate {lst.certificate[0]};",
                          f"        ssl_certificate_key {lst.certificate[1]};"]
            block += [f"        {line}" for line in routing] + ["    }"]
            servers += block
    lines = [f"# nginx of Gateway {name}, written by minipod's gateway controller; do not edit",
             "user www-data;", "worker_processes 1;", "pid /run/nginx.pid;", "error_log stderr notice;",
             "events { worker_connections 1024; }", "http {", "    access_log /dev/stdout;", "    server_tokens off;",
             "    proxy_next_upstream error timeout;", "    server_names_hash_bucket_size 128;",
             "    map_hash_bucket_size 128;", "    variables_hash_bucket_size 128;"]
    lines += http + [line for name, s in sorted(upstreams.items()) for line in _upstream(name, s)] + servers
    lines += ["    server { listen " + FIVE_HUNDRED + "; return 500; }",
              "    server { listen " + FIVE_O_THREE + "; return 503; }", "}"]
    return "\n".join(lines) + "\n"
