"""The gateway controller's pure parts (minipod.roles.gateway): hostname
intersection, listener verdicts, attachment reasons, backendRefs and
ReferenceGrants, match precedence, weights, and the nginx configuration's
shape. What nginx does with it is tests/integration/test_gateway.py's."""

import pytest

from minipod.roles.gateway import attach, backends, hostnames, precedence, render, routes, status

GROUP = "gateway.networking.k8s.io"


@pytest.mark.parametrize("listener, route, expected", [
    (None, [], None),
    (None, ["a.example"], ["a.example"]),
    ("a.example", [], ["a.example"]),
    ("*.example", ["a.example", "b.other"], ["a.example"]),
    ("a.example", ["*.example"], ["a.example"]),
    ("*.example", ["*.b.example"], ["*.b.example"]),
    ("*.b.example", ["*.example"], ["*.b.example"]),
    ("*.example", ["example"], []),
    ("a.example", ["b.example"], []),
])
def test_hostname_intersection(listener, route, expected):
    assert hostnames.intersect(listener, route) == expected


def _gateway(*listeners, ns="default"):
    return {"metadata": {"name": "gw", "namespace": ns, "uid": "u"},
            "spec": {"gatewayClassName": "minipod", "listeners": list(listeners)}}


def _listener(name, port=80, protocol="HTTP", hostname=None, **extra):
    out = {"name": name, "port": port, "protocol": protocol, **extra}
    if hostname:
        out["hostname"] = hostname
    return out


def _route(ns="default", hostnames_=(), **ref):
    return {"metadata": {"name": "r", "namespace": ns, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"parentRefs": [{"name": "gw", **ref}], "hostnames": list(hostnames_),
                     "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}}


def test_listener_verdicts_protocol_conflicts_and_kinds():
    lsts = attach.listeners(_gateway(
        _listener("a"), _listener("b"), _listener("tcp", 9000, "TCP"),
        _listener("c", 8080), _listener("d", 8080, "HTTPS", "d.example", tls={"certificateRefs": [{"name": "s"}]}),
        _listener("k", 81, allowedRoutes={"kinds": [{"kind": "GRPCRoute"}]})),
        lambda spec: (("/c", "/k"), None))
    by = {lst.name: lst for lst in lsts}
    assert by["a"].conditions["Conflicted"][1] == "HostnameConflict"
    assert by["tcp"].conditions["Accepted"][1] == "UnsupportedProtocol"
    assert by["c"].conditions["Conflicted"][1] == "ProtocolConflict"
    assert by["k"].conditions["ResolvedRefs"][1] == "InvalidRouteKinds" and by["k"].supported_kinds == []


def test_https_listener_without_its_certificate_does_not_serve():
    [lst] = attach.listeners(_gateway(_listener("s", 443, "HTTPS", tls={"certificateRefs": [{"name": "x"}]})),
                             lambda spec: (None, ("InvalidCertificateRef", "no Secret x")))
    assert not lst.serves and lst.conditions["ResolvedRefs"] == ("False", "InvalidCertificateRef", "no Secret x")


@pytest.mark.parametrize("listeners, route, reason", [
    ([_listener("a")], _route(sectionName="b"), "NoMatchingParent"),
    ([_listener("a")], _route(port=8080), "NoMatchingParent"),
    ([_listener("a")], _route(ns="other", namespace="default"), "NotAllowedByListeners"),
    ([_listener("a", allowedRoutes={"namespaces": {"from": "All"}})], _route(ns="other", namespace="default"),
     "Accepted"),
    ([_listener("a", allowedRoutes={"namespaces": {"from": "Selector", "selector": {"matchLabels": {"t": "y"}}}})],
     _route(ns="other", namespace="default"), "Accepted"),
    ([_listener("a", hostname="a.example")], _route(hostnames_=["b.example"]), "NoMatchingListenerHostname"),
    ([_listener("a", hostname="*.example")], _route(hostnames_=["b.example"], sectionName="a"), "Accepted"),
])
def test_attachment_reasons(listeners, route, reason):
    gw = _gateway(*listeners)
    lsts = attach.listeners(gw, lambda spec: (None, None))
    ref = route["spec"]["parentRefs"][0]
    assert attach.refers_to(ref, route["metadata"]["namespace"], gw)
    assert attach.attach(route, ref, gw, lsts, {"other": {"t": "y"}}).reason == reason


SERVICES = {("default", "web"): {"spec": {"ports": [{"port": 80, "name": "http"}]}},
            ("shop", "cart"): {"spec": {"ports": [{"port": 80}]}}}
ENDPOINTS = {("default", "web"): {"subsets": [{"addresses": [{"ip": "10.0.0.2"}, {"ip": "10.0.0.1"}],
                                               "ports": [{"name": "http", "port": 8080}]}]}}
GRANT = {"metadata": {"namespace": "shop"},
         "spec": {"from": [{"group": GROUP, "kind": "HTTPRoute", "namespace": "default"}],
                  "to": [{"group": "", "kind": "Service"}]}}


@pytest.mark.parametrize("ref, grants, reason", [
    ({"name": "web", "port": 80}, [], None),
    ({"name": "web", "port": 81}, [], "BackendNotFound"),
    ({"name": "nope", "port": 80}, [], "BackendNotFound"),
    ({"name": "web", "port": 80, "kind": "ConfigMap"}, [], "InvalidKind"),
    ({"name": "cart", "port": 80, "namespace": "shop"}, [], "RefNotPermitted"),
    ({"name": "cart", "port": 80, "namespace": "shop"}, [GRANT], None),
])
def test_backend_references(ref, grants, reason):
    b = backends.resolve(ref, "default", SERVICES, ENDPOINTS, grants)
    assert (b.problem or (None,))[0] == reason
    if ref["name"] == "web" and not reason:
        assert b.targets == ["10.0.0.1:8080", "10.0.0.2:8080"]


def _match(**kw):
    base = dict(port=80, listener="l", hostname=None, path_type="PathPrefix", path="/", route=("t", "ns", "r"))
    return precedence.Match(**{**base, **kw})


def test_precedence_as_the_specification_orders_it():
    order = [
        _match(hostname="a.example"),  # the most specific hostname first, whatever its path
        _match(hostname="*.example", path_type="Exact", path="/"),
        _match(path_type="Exact", path="/a"),
        _match(path_type="RegularExpression", path="/b.*"),
        _match(path="/long/prefix"),
        _match(path="/long", method="POST"),
        _match(path="/long", headers=[("Exact", "a", "1"), ("Exact", "b", "2")]),
        _match(path="/long", headers=[("Exact", "a", "1")], query=[("Exact", "q", "1")]),
        _match(path="/long", headers=[("Exact", "a", "1")]),
        _match(path="/long", route=("2025", "ns", "older")),
        _match(path="/long", route=("2026", "a", "r")),
        _match(path="/long", route=("2026", "b", "r"), rule_index=0),
        _match(path="/long", route=("2026", "b", "r"), rule_index=1),
    ]
    assert precedence.ordered(list(reversed(order))) == order


def test_weights_share_a_backend_among_its_endpoints_and_keep_failures_shares():
    a = backends.Backend("a", "ns", 80, 90, ["10.0.0.1:80", "10.0.0.2:80"])
    b = backends.Backend("b", "ns", 80, 10, ["10.0.0.3:80"])
    gone = backends.Backend("c", "ns", 80, 5, [], ("BackendNotFound", "x"))
    empty = backends.Backend("d", "ns", 80, 5, [])
    weights = dict(render._weights([a, b, gone, empty]))
    assert weights == {"10.0.0.1:80": 90, "10.0.0.2:80": 90, "10.0.0.3:80": 20,
                       render.FIVE_HUNDRED: 10, render.FIVE_O_THREE: 10}


def test_a_rule_that_cannot_be_served_is_left_out_and_said():
    route = _route()
    route["spec"]["rules"].insert(0, {"matches": [{"path": {"type": "RegularExpression", "value": "/(a"}}],
                                      "backendRefs": [{"name": "web", "port": 80}]})
    gw = _gateway(_listener("l"))
    lsts = attach.listeners(gw, lambda spec: (None, None))
    attachment = attach.attach(route, route["spec"]["parentRefs"][0], gw, lsts, {})
    world = {"services": SERVICES, "endpoints": ENDPOINTS, "grants": []}
    found, resolved, why = routes.matches(route, attachment, {"l": lsts[0]}, world)
    assert [m.rule_index for m in found] == [1] and why.startswith("rule 0: path regex")
    assert resolved[0] == "True"


def test_the_configuration_reads_as_maps_and_internal_locations():
    gw = _gateway(_listener("l"))
    lsts = attach.listeners(gw, lambda spec: (None, None))
    action = render.Action("default_r_0", [backends.Backend("web", "default", 80, 1, ["10.0.0.1:8080"])])
    text = render.render("default/gw", lsts, [_match(method="POST", path="/v2", action=action)])
    assert "map $request_method $gw_c0_method { POST 1; default 0; }" in text
    assert 'map "$gw_listener_80:$gw_c0_path$gw_c0_method" $gw_m0 { "l:11" 1; default 0; }' in text
    assert 'map "$gw_m0" $gw_pick_80 { "~^1" 0; default none; }' in text
    assert "map $gw_pick_80 $gw_upstream_80 { 0 gw_default_r_0; default \"\"; }" in text  # it only proxies
    assert "location = /_gw/0 " not in text
    assert "server 10.0.0.1:8080 weight=1 max_fails=0;" in text
    action.request_headers = {"set": [{"name": "X-A", "value": "1"}]}  # a filter: its own internal location
    text = render.render("default/gw", lsts, [_match(method="POST", path="/v2", action=action)])
    assert "location = /_gw/0 " in text and "proxy_pass http://gw_default_r_0$request_uri;" in text
    assert "proxy_set_header X-A \"1\";" in text


def test_a_condition_keeps_its_transition_time_while_its_status_holds():
    old = [status.condition("Accepted", "True", "Accepted", "", 1, [])]
    old[0]["lastTransitionTime"] = "2020-01-01T00:00:00Z"
    assert status.condition("Accepted", "True", "Accepted", "new words", 2, old)["lastTransitionTime"] == \
        "2020-01-01T00:00:00Z"
    assert status.condition("Accepted", "False", "Invalid", "", 2, old)["lastTransitionTime"] != \
        "2020-01-01T00:00:00Z"


def test_the_trace_picks_the_listener_and_match_nginx_picks():
    from minipod.trace import gateway as traced
    gw = _gateway(_listener("any"), _listener("exact", hostname="a.example"),
                  _listener("wild", hostname="*.example"))
    lsts = attach.listeners(gw, lambda spec: (None, None))
    assert traced._listener_for(lsts, 80, "a.example").name == "exact"  # over the wildcard
    assert traced._listener_for(lsts, 80, "b.example").name == "wild"
    assert traced._listener_for(lsts, 80, "other.org").name == "any"
    assert traced._listener_for(lsts, 81, "a.example") is None
    prefix = _match(listener="any", path="/v2")
    assert traced._holds(prefix, "any", "x", "/v2/deep", []) and not traced._holds(prefix, "any", "x", "/v2x", [])
    assert not traced._holds(prefix, "wild", "x", "/v2", [])  # another listener's
    query = _match(listener="any", query=[("RegularExpression", "v", "[0-9]+")])
    assert traced._holds(query, "any", "x", "/", [("v", "12")]) and not traced._holds(query, "any", "x", "/",
                                                                                       [("v", "x")])
    assert not traced._holds(_match(listener="any", method="POST"), "any", "x", "/", [])  # the trace sends GET
