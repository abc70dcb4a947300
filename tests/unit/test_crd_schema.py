"""The Gateway API's kinds checked as the API server checks custom
resources against the Gateway API's own CRDs (minipod.objects.crd):
unknown fields, defaults, OpenAPI constraints, CEL rules, transition
rules; and the kinds' names as kinds.py writes them agree with the CRDs."""

import json

import pytest

from minipod.api import manifests
from minipod.errors import InvalidArgument
from minipod.objects import crd, kinds

GROUP = "gateway.networking.k8s.io"


def _route(spec, version="v1"):
    return {"apiVersion": f"{GROUP}/{version}", "kind": "HTTPRoute", "metadata": {"name": "r"}, "spec": spec}


def _checked(doc):
    [(_kind, obj)] = manifests.check([("", doc)])
    return obj


def _refused(doc) -> str:
    with pytest.raises(InvalidArgument) as e:
        manifests.check([("", doc)])
    return str(e.value)


@pytest.mark.parametrize("kind", [kinds.GATEWAY_CLASS, kinds.GATEWAY, kinds.HTTP_ROUTE, kinds.REFERENCE_GRANT])
def test_the_kinds_names_are_the_crds(kind):
    definition = crd.definitions()[kind.kind]
    names = definition["names"]
    assert (kind.plural, kind.group) == (names["plural"], definition["group"])
    assert set(names.get("shortNames", [])) <= set(kind.short)
    assert kind.namespaced == (definition["scope"] == "Namespaced")
    assert [f"{GROUP}/{v['name']}" for v in definition["versions"]] == kind.versions()
    assert kind.api_version == f"{GROUP}/{crd.storage_version(kind.kind)['name']}"


def test_defaults_are_filled_in_as_the_api_server_does():
    obj = _checked(_route({"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}))
    assert obj["spec"]["parentRefs"] == [{"name": "gw", "group": GROUP, "kind": "Gateway"}]
    rule = obj["spec"]["rules"][0]
    assert rule["backendRefs"] == [{"name": "web", "port": 80, "group": "", "kind": "Service", "weight": 1}]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]


def test_a_v1beta1_manifest_is_stored_at_v1():
    obj = _checked(_route({"parentRefs": [{"name": "gw"}]}, "v1beta1"))
    assert obj["apiVersion"] == f"{GROUP}/v1"
    assert "v1alpha2" in _refused(_route({}, "v1alpha2"))


@pytest.mark.parametrize("spec, words", [
    ({"parentRefs": [{"name": "gw", "colour": "red"}]}, "spec.parentRefs[0].colour: unknown field"),
    ({"hostnames": ["Hello.World"]}, 'spec.hostnames[0]: Invalid value: "Hello.World": spec.hostnames[0] in body '
                                     "should match"),
    ({"rules": [{"matches": [{"method": "FETCH"}]}]},
     'spec.rules[0].matches[0].method: Unsupported value: "FETCH": supported values: "GET"'),
    ({"rules": [{"backendRefs": [{"name": "web", "port": 70000}]}]},
     "spec.rules[0].backendRefs[0].port: Invalid value: 70000: spec.rules[0].backendRefs[0].port in body should be "
     "less than or equal to 65535"),
    ({"parentRefs": [{"name": "gw"}] * 33}, "spec.parentRefs: Too many: 33: must have at most 32 items"),
    ({"rules": [{"backendRefs": [{"port": 80}]}]}, "spec.rules[0].backendRefs[0].name: Required value"),
    ({"rules": [{"filters": [{"type": "RequestRedirect", "requestRedirect": {"statusCode": 301}}],
                 "backendRefs": [{"name": "web", "port": 80}]}]},
     'spec.rules[0]: Invalid value: "object": RequestRedirect filter must not be used together with backendRefs'),
    ({"rules": [{"filters": [{"type": "RequestHeaderModifier"}]}]},
     "filter.requestHeaderModifier must be specified for RequestHeaderModifier filter.type"),
    ({"rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/a//b"}}]}]},
     "must not contain '//'"),
    ({"rules": [{"backendRefs": [{"name": "web"}]}]}, "Must have port for Service reference"),
])
def test_what_the_crd_refuses_in_the_api_servers_words(spec, words):
    assert words in _refused(_route(spec))


def test_listener_names_are_a_map_list_and_addresses_one_of_their_kinds():
    gateway = {"apiVersion": f"{GROUP}/v1", "kind": "Gateway", "metadata": {"name": "g"},
               "spec": {"gatewayClassName": "minipod", "listeners": [{"name": "a", "port": 80, "protocol": "HTTP"},
                                                                      {"name": "a", "port": 81, "protocol": "HTTP"}]}}
    assert 'spec.listeners[1]: Duplicate value: {"name": "a"}' in _refused(gateway)
    gateway["spec"]["listeners"].pop()
    gateway["spec"]["addresses"] = [{"value": "not an address"}]  # type defaults to IPAddress
    assert "must match exactly one schema in oneOf" in _refused(gateway)
    gateway["spec"]["addresses"] = [{"type": "Hostname", "value": "gw.example"}, {"value": "198.18.0.9"}]
    assert _checked(gateway)["spec"]["addresses"][1] == {"type": "IPAddress", "value": "198.18.0.9"}


def test_a_transition_rule_runs_on_update_only():
    cls = {"apiVersion": f"{GROUP}/v1", "kind": "GatewayClass", "metadata": {"name": "c"},
           "spec": {"controllerName": "minipod.dev/gateway-controller"}}
    old = _checked(cls)
    moved = json.loads(json.dumps(cls))
    moved["spec"]["controllerName"] = "example.net/other"
    assert _checked(moved)  # a create: no old value to compare with
    with pytest.raises(InvalidArgument, match='spec.controllerName: Invalid value: "example.net/other": '
                                              "Value is immutable"):
        crd.check(moved, "GatewayClass", "v1", old)


def test_kubernetes_split_extension():
    assert crd._split("a.b.c", ".") == ["a", "b", "c"]
    assert crd._split("a.b.c", ".", 2) == ["a", "b.c"]
    assert crd._split("a.b", ".", 0) == []
