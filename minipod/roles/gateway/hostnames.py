"""Hostnames as the Gateway API matches them: ``*.example.com`` matches
any name with one label or more before ``.example.com`` (not
example.com itself); a route's hostnames are intersected with its
listener's (HTTPRoute spec.hostnames)."""


def matches(pattern: str, host: str) -> bool:
    """Whether ``host`` (a name, or a wildcard) is within ``pattern``."""
    if pattern.startswith("*."):
        suffix = pattern[1:]
        return host.endswith(suffix) and len(host) > len(suffix)
    return pattern == host


def intersect(listener, route_hostnames: list):
    """The hostnames a route serves on a listener: None for any host
    (neither names one), [] when none of the route's is within the
    listener's (the route is not accepted there), else the more specific
    of each intersecting pair."""
    if not route_hostnames:
        return None if not listener else [listener]
    if not listener:
        return list(route_hostnames)
    out = []
    for h in route_hostnames:
        if matches(listener, h):
            out.append(h)  # the route's is as or more specific
        elif matches(h, listener):
            out.append(listener)
    return sorted(set(out), key=out.index)


def specificity(hostname) -> tuple:
    """The sort key of the hostname precedence, most specific first: an
    exact name, then wildcards by their characters, longest first, then a
    route for any host (None). Each match is tried once per hostname, so
    the key is of the one name a request's Host met."""
    if hostname is None:
        return (2, 0)
    return (1 if hostname.startswith("*") else 0, -len(hostname))
