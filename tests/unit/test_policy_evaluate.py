"""The rule builder's reading of policies (resolve.plan, walked by
evaluate.allowed) against the independent model of the semantics
(tests/integration/netpol_model.py, which the real-packet harness uses
too), on random policy sets over the upstream suite's nine pods."""

from hypothesis import given, settings

from minipod.roles.policy import evaluate, resolve
from tests.integration import netpol_model

NAMES = ("a", "b", "c")
PORTS = {(f"serve-{p}-{proto.lower()}", proto): p for p in (80, 81) for proto in ("TCP", "UDP")}
# Pods c name their ports the other way round (no server listens here): a
# named port then means 80 on some pods and 81 on others.
SWAPPED = {(name, proto): 161 - number for (name, proto), number in PORTS.items()}
MODEL_PODS = [{"ns": ns, "name": n, "ip": f"10.231.0.{2 + 3 * i + j}", "labels": {"pod": n},
               "ports": SWAPPED if n == "c" else PORTS}
              for i, ns in enumerate(netpol_model.NAMESPACES) for j, n in enumerate(NAMES)]
PODS = [resolve.Pod(p["ns"], p["name"], p["ip"], (("pod", p["name"]),), tuple(sorted(p["ports"].items())))
        for p in MODEL_PODS]
NAMESPACES = {ns: {"ns": ns} for ns in netpol_model.NAMESPACES}
BLOCK = {"ipBlock": {"cidr": "10.231.0.0/16", "except": ["10.231.0.2/32"]}}  # the pod network less x/a


@settings(max_examples=300)
@given(netpol_model.policy_sets())
def test_the_plan_allows_exactly_what_the_model_does(policies):
    policies = netpol_model.with_block(policies, BLOCK)
    plan = resolve.plan(policies, PODS, NAMESPACES)
    for src, msrc in zip(PODS, MODEL_PODS):
        for dst, mdst in zip(PODS, MODEL_PODS):
            for port, proto in ((80, "TCP"), (81, "TCP"), (80, "UDP"), (81, "UDP")):
                ok, why = evaluate.allowed(plan, src, dst, port, proto)
                assert ok == netpol_model.allowed(policies, msrc, mdst, port, proto, NAMESPACES), \
                    (src.key, dst.key, port, proto, why)
