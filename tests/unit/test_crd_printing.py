"""How kubectl prints custom resources, reproduced by minipod's printers:
get's columns from the CRD's printer columns (printers/crd_columns.py) and
the generic describer's layout through Go's tabwriter
(printers/describe_generic.py). The integration test
test_kubectl.py::test_gateway_api_kinds_as_kubectl_shows_them compares both
with the real kubectl's."""

import pytest

from minipod.objects import kinds
from minipod.printers import crd_columns, describe_generic, kubectl

GATEWAY = {
    "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
    "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"gatewayClassName": "minipod", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
    "status": {"addresses": [{"type": "IPAddress", "value": "198.18.0.1"}, {"type": "IPAddress", "value": "fd00::1"}],
               "conditions": [{"type": "Accepted", "status": "True"}, {"type": "Programmed", "status": "False"}]},
}


def test_get_columns_are_the_crds_first_values_and_json_lists():
    headers, rows = kubectl.object_rows(kinds.GATEWAY, [GATEWAY])
    assert headers == ["NAME", "CLASS", "ADDRESS", "PROGRAMMED", "AGE"]
    assert rows[0][:4] == ["web", "minipod", "198.18.0.1", "False"]
    route = {"metadata": {"name": "r"}, "spec": {"hostnames": ["a.example", "b.example"]}}
    assert kubectl.object_rows(kinds.HTTP_ROUTE, [route])[1][0][:2] == ["r", '["a.example","b.example"]']


def test_a_column_with_no_value_is_an_empty_cell_and_priority_one_shows_wide():
    cls = {"metadata": {"name": "minipod"}, "spec": {"controllerName": "x.dev/y"}}
    headers, rows = kubectl.object_rows(kinds.GATEWAY_CLASS, [cls])
    assert headers == ["NAME", "CONTROLLER", "ACCEPTED", "AGE"] and rows[0][2] is None
    headers, rows = kubectl.object_rows(kinds.GATEWAY_CLASS, [cls], wide=True)
    assert headers[-1] == "DESCRIPTION" and rows[0][-1] is None


@pytest.mark.parametrize("path, values", [
    (".status.conditions[?(@.type==\"Programmed\")].status", ["False"]),
    (".status.addresses[*].value", ["198.18.0.1", "fd00::1"]),
    (".spec.listeners[*].port", [80]),
    (".spec.nothing", []),
])
def test_jsonpath_subset(path, values):
    assert crd_columns.jsonpath(GATEWAY, path) == values


@pytest.mark.parametrize("field, label", [
    ("apiVersion", "API Version"), ("uid", "UID"), ("gatewayClassName", "Gateway Class Name"),
    ("lastTransitionTime", "Last Transition Time"), ("attachedRoutes", "Attached Routes"),
    ("sectionName", "Section Name"), ("x-y", "X - Y"), ("my_field", "my_field"), ("HTTPRoute", "HTTP Route"),
])
def test_smart_label_as_kubectl(field, label):
    assert describe_generic.smart_label(field) == label


def test_tabwriter_aligns_each_block_of_tabbed_lines_on_its_own():
    text = describe_generic.tabwriter(["Name:\tweb\n", "Namespace:\tdefault\n", "Spec:\n", "  Port:\t80\n",
                                       "  Protocol:\tHTTP\n"])
    assert text == "Name:       web\nNamespace:  default\nSpec:\n  Port:      80\n  Protocol:  HTTP\n"


def test_describe_nests_fields_sorted_and_ends_with_events():
    text = describe_generic.describe(GATEWAY, [])
    lines = text.splitlines()
    assert lines[:4] == ["Name:         web", "Namespace:    default", "Labels:       <none>", "Annotations:  <none>"]
    assert "  Addresses:" in lines and "    Type:   IPAddress" in lines
    assert lines[-1].startswith("Events:") and lines[-1].endswith("<none>")
    events = [("Warning", "Invalid", None, "minipod-gateway", "nginx -t refused it")]
    tail = describe_generic.describe(GATEWAY, events).splitlines()[-3:]
    assert tail[0].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert tail[2].split() == ["Warning", "Invalid", "-", "minipod-gateway", "nginx", "-t", "refused", "it"]
