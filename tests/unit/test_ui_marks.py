"""How the UI's picture shows a trace (ui/picture.trace_marks): its way,
and where a policy refused it the refusing pod in red with the rule's words,
nothing past that point on the way."""

from minipod.ui import picture

MODEL = {"pods": [{"id": "pod-c", "key": "c", "name": "shop/client", "ip": "10.0.0.2"},
                  {"id": "pod-d", "key": "d", "name": "shop/db", "ip": "10.0.0.3"}],
         "services": [{"id": "svc-shop-db", "clusterIP": "10.96.0.9", "lb": "", "endpoints": ["pod-d"]}],
         "ingresses": []}
DENY = "default deny of ingress of shop/db (policies selecting it: shop/default-deny)"


def result(policy, endpoint_ip=None):
    return {"source": {"kind": "pod", "ip": "10.0.0.2"}, "target": {"ip": "10.96.0.9", "kind": "service"},
            "trials": [{"endpointIP": endpoint_ip}], "policy": policy}


def test_an_answered_trace_is_its_way():
    marks = picture.trace_marks(MODEL, result([], "10.0.0.3"))
    assert marks == {"hot": ["bridge", "pod-c", "veth-c", "svc-shop-db", "edge-svc-shop-db-pod-d", "pod-d", "veth-d"],
                     "dropped": [], "label": "", "at": ""}


def test_an_ingress_refusal_is_red_at_the_pod_that_refused_it():
    drop = {"verdict": "dropped", "direction": "ingress", "pod": "shop/db", "by": DENY}
    marks = picture.trace_marks(MODEL, result([drop]))
    assert marks == {"hot": ["bridge", "pod-c", "veth-c", "svc-shop-db", "edge-svc-shop-db-pod-d"],
                     "dropped": ["pod-d", "veth-d"], "label": "✗ dropped by default deny of ingress of shop/db",
                     "at": "pod-d"}


def test_an_egress_refusal_is_red_on_the_veth_it_left_by():
    deny = "default deny of egress of shop/client"
    drop = {"verdict": "dropped", "direction": "egress", "pod": "shop/client", "by": deny}
    marks = picture.trace_marks(MODEL, result([drop]))
    assert marks == {"hot": ["pod-c"], "dropped": ["veth-c"], "label": f"✗ dropped by {deny}", "at": "pod-c"}
