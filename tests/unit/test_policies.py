"""NetworkPolicy as data (minipod.objects.policies): the API server's
checks and defaulting, and what its label selectors select."""

import re

import pytest
from hypothesis import given, strategies as st

from minipod.api import manifests
from minipod.errors import InvalidArgument
from minipod.objects import policies


def _policy(spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p"}, "spec": spec}


def _checked(spec):
    [(_kind, obj)] = manifests.check([("", _policy(spec))])
    return obj


@pytest.mark.parametrize("spec, words", [
    ({"ingress": [{"from": [{}]}]}, "spec.ingress[0].from[0]: Required value: must specify a peer"),
    ({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "namespaceSelector": {}}]}]},
     "spec.egress[0].to[0]: Forbidden: may not specify both ipBlock and another peer"),
    ({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}}]}]},
     "must be a strict subset of `cidr`"),
    ({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]}, "not a valid CIDR"),
    ({"ingress": [{"ports": [{"port": 80, "endPort": 79}]}]}, "must be greater than or equal to `port`"),
    ({"ingress": [{"ports": [{"endPort": 90}]}]}, "spec.ingress[0].ports[0].port: Required value"),
    ({"ingress": [{"ports": [{"protocol": "ICMP"}]}]}, 'Unsupported value: "ICMP"'),
    ({"ingress": [{"ports": [{"port": "no_such!"}]}]}, "spec.ingress[0].ports[0].port: Invalid value"),
    ({"policyTypes": ["Ingress", "Egress", "Ingress"]}, "may not specify more than two policyTypes"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}},
     "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"),
])
def test_the_api_servers_refusals(spec, words):
    with pytest.raises(InvalidArgument, match=re.escape(words)):
        _checked(spec)


def test_defaulting_fills_what_the_api_server_fills():
    from minipod.objects import defaults
    egress = defaults.apply("NetworkPolicy", _checked({"egress": [{"ports": [{"port": 53}]}]}))
    assert egress["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                              "egress": [{"ports": [{"port": 53, "protocol": "TCP"}]}]}
    kept = defaults.apply("NetworkPolicy", _checked({"podSelector": {}, "policyTypes": ["Egress"]}))
    assert kept["spec"]["policyTypes"] == ["Egress"]  # given: kept as is


def test_selectors_and_their_text():
    sel = {"matchLabels": {"role": "db"},
           "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                                {"key": "legacy", "operator": "DoesNotExist"}]}
    assert policies.selector_text(sel) == "env in (dev,prod),!legacy,role=db"
    assert policies.selects(sel, {"role": "db", "env": "dev"})
    assert not policies.selects(sel, {"role": "db", "env": "dev", "legacy": "1"})
    assert not policies.selects(sel, {"role": "db"})
    assert policies.selector_text({}) == "<none>" and policies.selects({}, {})


labels = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y"]), max_size=3)


@given(labels, labels)
def test_match_labels_select_exactly_the_supersets(wanted, have):
    assert policies.selects({"matchLabels": wanted}, have) == (wanted.items() <= have.items())
