"""The order in which a listener port's matches are tried, as the
specification orders them (HTTPRoute spec.hostnames and
HTTPRouteRule.matches): the most specific hostname first; then an Exact
path, then the longest Prefix; a method; the most headers; the most query
parameters; then the oldest route, the first by namespace/name, and in a
route the first rule and match. RegularExpression paths, whose place the
specification leaves to implementations, come after Exact and before the
Prefixes, longest first. Pure."""

from dataclasses import dataclass, field

from minipod.roles.gateway import hostnames

PATH_RANK = {"Exact": 0, "RegularExpression": 1, "PathPrefix": 2}


@dataclass
class Match:
    """One match of one rule of one route, on one listener and hostname."""
    port: int
    listener: str
    hostname: object  # str, or None for any host
    path_type: str
    path: str
    method: object = None
    headers: list = field(default_factory=list)  # [(type, name, value)]
    query: list = field(default_factory=list)  # [(type, name, value)]
    route: tuple = ()  # (creationTimestamp, namespace, name)
    rule_index: int = 0
    match_index: int = 0
    action: object = None  # the rule's render.Action


def key(m: Match) -> tuple:
    return (hostnames.specificity(m.hostname), PATH_RANK[m.path_type], -len(m.path), m.method is None,
            -len(m.headers), -len(m.query), m.route, m.rule_index, m.match_index)


def ordered(matches: list) -> list:
    return sorted(matches, key=key)
