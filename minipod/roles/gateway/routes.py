"""A route's rules as the renderer takes them: one precedence.Match per
match, listener and hostname, each with its rule's render.Action (filters,
resolved backends, timeout); the rule's ResolvedRefs verdict; and what
minipod cannot serve (a rule it refuses is left out, the others served:
the route's Accepted condition says UnsupportedValue). Pure."""

import re

from minipod.roles.gateway import backends, precedence, render

# filter type -> (its field in the filter, render.Action's attribute)
FILTERS = {"RequestHeaderModifier": ("requestHeaderModifier", "request_headers"),
           "ResponseHeaderModifier": ("responseHeaderModifier", "response_headers"),
           "RequestRedirect": ("requestRedirect", "redirect"), "URLRewrite": ("urlRewrite", "rewrite")}


# Escapes Python's re takes and nginx's PCRE refuses (nginx -t would refuse
# the whole configuration for them, not only this rule).
PCRE_REFUSES = re.compile(r"(?<!\\)(?:\\\\)*\\[uUlLN]")


def _regex_problem(value: str) -> str:
    if PCRE_REFUSES.search(value):
        return "\\u, \\U, \\l, \\L and \\N are not regular expression escapes nginx knows"
    try:
        re.compile(value)
    except re.error as e:
        return f"it does not compile: {e}"
    return ""


def unsupported(rule: dict) -> str:
    """Why minipod cannot serve a rule, or ''."""
    for m in rule.get("matches") or []:
        path = m.get("path") or {}
        if path.get("type") == "RegularExpression" and _regex_problem(path["value"]):
            return f"path regex {path['value']!r}: {_regex_problem(path['value'])}"
        for h in (m.get("headers") or []) + (m.get("queryParams") or []):
            if h.get("type") == "RegularExpression" and _regex_problem(h["value"]):
                return f"regex {h['value']!r} of {h['name']}: {_regex_problem(h['value'])}"
    for f in rule.get("filters") or []:
        mirror = f.get("requestMirror") or {}
        if "percent" in mirror or "fraction" in mirror:
            return "mirroring a fraction of the requests is not served (only all of them)"
    if any(b.get("filters") for b in rule.get("backendRefs") or []):
        return "filters on a backendRef are not served (put them on the rule)"
    return ""


def _action(route: dict, i: int, rule: dict, world: dict) -> render.Action:
    ns = route["metadata"]["namespace"]
    a = render.Action(f"{ns}_{route['metadata']['name']}_{i}".replace("-", "_").replace(".", "_"))
    a.backends = [backends.resolve(ref, ns, world["services"], world["endpoints"], world["grants"])
                  for ref in rule.get("backendRefs") or []]
    for f in rule.get("filters") or []:
        if f["type"] in FILTERS:
            field, attribute = FILTERS[f["type"]]
            setattr(a, attribute, f[field])
        elif f["type"] == "RequestMirror":
            a.mirrors.append(backends.resolve(f["requestMirror"]["backendRef"], ns, world["services"],
                                              world["endpoints"], world["grants"]))
    timeouts = rule.get("timeouts") or {}
    a.timeout = timeouts.get("backendRequest") or timeouts.get("request")
    return a


def matches(route: dict, attachment, lsts: dict, world: dict) -> tuple:
    """(precedence.Match of every rule on every listener the route attached
    to, the ResolvedRefs verdict, why it is not served or '')."""
    meta = route["metadata"]
    out, problem, refused = [], None, ""
    for i, rule in enumerate(route["spec"].get("rules") or []):
        why = unsupported(rule)
        if why:
            refused = refused or f"rule {i}: {why}"
            continue  # this rule is not served; the others are
        action = _action(route, i, rule, world)
        problem = problem or backends.first_problem(action.backends + action.mirrors)
        for listener, names in attachment.hosts.items():
            for j, m in enumerate(rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]):
                path = m.get("path") or {"type": "PathPrefix", "value": "/"}
                value = path["value"] if path["type"] != "PathPrefix" else (path["value"].rstrip("/") or "/")
                for host in names if names is not None else [None]:
                    out.append(precedence.Match(
                        lsts[listener].port, listener, host, path["type"], value, m.get("method"),
                        [(h.get("type", "Exact"), h["name"], h["value"]) for h in m.get("headers") or []],
                        [(q.get("type", "Exact"), q["name"], q["value"]) for q in m.get("queryParams") or []],
                        (meta.get("creationTimestamp") or "", meta["namespace"], meta["name"]), i, j, action))
    resolved = ("False", *problem) if problem else ("True", "ResolvedRefs", "every backendRef resolves")
    return out, resolved, refused
