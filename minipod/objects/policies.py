"""networking.k8s.io/v1 NetworkPolicy as data: its schema, the API
server's checks (pkg/apis/networking/validation: ValidateNetworkPolicySpec,
with endPort as Kubernetes ≥ 1.25 checks it) and defaulting, and what its
label selectors mean. Pure: which pods a policy selects is asked of the
pods and namespaces handed in."""

import ipaddress

from minipod.objects import selectors
from minipod.objects.schema import Field, fail, iana_svc_name, labels, one_of

PROTOCOLS = ("TCP", "UDP", "SCTP")
POLICY_TYPES = ("Ingress", "Egress")
OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}

EXPRESSION = {"key": Field("str", True), "operator": Field("str", True, one_of(*OPERATORS)),
              "values": Field(["str"])}
LABEL_SELECTOR = {"matchLabels": Field("map", False, labels), "matchExpressions": Field([EXPRESSION])}
IP_BLOCK = {"cidr": Field("str"), "except": Field(["str"])}
PEER = {"podSelector": Field(LABEL_SELECTOR), "namespaceSelector": Field(LABEL_SELECTOR), "ipBlock": Field(IP_BLOCK)}
PORT = {"protocol": Field("str"), "port": Field("any"), "endPort": Field("int")}
NETWORK_POLICY_SPEC = {
    "podSelector": Field(LABEL_SELECTOR),
    "policyTypes": Field(["str"]),
    "ingress": Field([{"from": Field([PEER]), "ports": Field([PORT])}]),
    "egress": Field([{"to": Field([PEER]), "ports": Field([PORT])}]),
}
NETWORK_POLICY_FIELDS = {"spec": Field(NETWORK_POLICY_SPEC)}


def _check_selector(sel: dict, path: str) -> None:
    """metav1 ValidateLabelSelector: each expression's key, operator and values."""
    for i, expr in enumerate(sel.get("matchExpressions") or []):
        where = f"{path}.matchExpressions[{i}]"
        if not selectors.valid_key(expr["key"]):
            fail(f"{where}.key", f"Invalid value: {expr['key']!r}: not a valid label key")
        values = expr.get("values") or []
        if expr["operator"] in ("In", "NotIn") and not values:
            fail(f"{where}.values", "Required value: must be specified when `operator` is 'In' or 'NotIn'")
        if expr["operator"] in ("Exists", "DoesNotExist") and values:
            fail(f"{where}.values", "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        for j, value in enumerate(values):
            if not selectors.valid_value(value):
                fail(f"{where}.values[{j}]", f"Invalid value: {value!r}: not a valid label value")


def _check_port(port: dict, path: str) -> None:
    protocol = port.get("protocol", "TCP")
    if protocol not in PROTOCOLS:
        fail(f"{path}.protocol", f'Unsupported value: "{protocol}": supported values: "TCP", "UDP", "SCTP"')
    number = port.get("port")
    if isinstance(number, bool) or not isinstance(number, (int, str, type(None))):
        fail(f"{path}.port", "Invalid value: must be a port number or a port name")
    if isinstance(number, int) and not 1 <= number <= 65535:
        fail(f"{path}.port", f"Invalid value: {number}: must be between 1 and 65535, inclusive")
    if isinstance(number, str) and iana_svc_name(number):
        fail(f"{path}.port", f"Invalid value: {number!r}: {iana_svc_name(number)}")
    end = port.get("endPort")
    if end is not None:
        if number is None:
            fail(f"{path}.port", "Required value: when endPort is specified")
        if isinstance(number, str):
            fail(f"{path}.endPort", "Invalid value: may not be specified when `port` is non-numeric")
        if not 1 <= end <= 65535:
            fail(f"{path}.endPort", f"Invalid value: {end}: must be between 1 and 65535, inclusive")
        if end < number:
            fail(f"{path}.endPort", f"Invalid value: {number}: must be greater than or equal to `port`")


def _cidr(text: str):
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _check_peer(peer: dict, path: str) -> None:
    for key in ("podSelector", "namespaceSelector"):
        if key in peer:
            _check_selector(peer[key], f"{path}.{key}")
    if not peer:
        fail(path, "Required value: must specify a peer")
    if "ipBlock" not in peer:
        return
    if len(peer) > 1:
        fail(path, "Forbidden: may not specify both ipBlock and another peer")
    block, where = peer["ipBlock"], f"{path}.ipBlock"
    if not block.get("cidr"):
        fail(f"{where}.cidr", "Required value")
    net = _cidr(block["cidr"])
    if net is None:
        fail(f"{where}.cidr", f"Invalid value: {block['cidr']!r}: not a valid CIDR")
    for i, text in enumerate(block.get("except") or []):
        cut = _cidr(text)
        if cut is None:
            fail(f"{where}.except[{i}]", f"Invalid value: {text!r}: not a valid CIDR")
        if cut.version != net.version or not cut.subnet_of(net) or cut.prefixlen <= net.prefixlen:
            fail(f"{where}.except[{i}]", f"Invalid value: {text!r}: must be a strict subset of `cidr`")


def check_network_policy(obj: dict) -> None:
    """What the schema cannot say, with the API server's field paths."""
    spec = obj.get("spec") or {}
    _check_selector(spec.get("podSelector") or {}, "spec.podSelector")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, port in enumerate(rule.get("ports") or []):
                _check_port(port, f"spec.{direction}[{i}].ports[{j}]")
            for j, peer in enumerate(rule.get(peers) or []):
                _check_peer(peer, f"spec.{direction}[{i}].{peers}[{j}]")
    types = spec.get("policyTypes") or []
    if len(types) > 2:
        fail("spec.policyTypes", "Invalid value: may not specify more than two policyTypes")
    for i, t in enumerate(types):
        if t not in POLICY_TYPES:
            fail(f"spec.policyTypes[{i}]", f'Unsupported value: "{t}": supported values: "Ingress", "Egress"')


def default(obj: dict) -> None:
    """The API server's defaulting (networking/v1 SetDefaults_NetworkPolicy*):
    an empty podSelector, TCP for a port without protocol, and policyTypes
    from the rules present when none are given: Ingress always, Egress
    when there are egress rules."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("podSelector", {})
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            for port in rule.get("ports") or []:
                port.setdefault("protocol", "TCP")
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])


def requirements(selector: dict) -> list:
    """A LabelSelector as selectors.matches takes it: [(key, op, values)]."""
    reqs = selectors.from_match_labels((selector or {}).get("matchLabels"))
    for expr in (selector or {}).get("matchExpressions") or []:
        reqs.append((expr["key"], OPERATORS[expr["operator"]], tuple(expr.get("values") or ())))
    return reqs


def selects(selector: dict, labels_of_it: dict) -> bool:
    """Whether a LabelSelector selects an object with these labels (an
    empty selector selects everything)."""
    return selectors.matches(requirements(selector), labels_of_it)


def selector_text(selector: dict) -> str:
    """A LabelSelector as kubectl prints it (metav1.FormatLabelSelector):
    "app=web,tier in (a,b)", "<none>" for an empty one."""
    parts = [(k, f"{k}={v}") for k, v in ((selector or {}).get("matchLabels") or {}).items()]
    for expr in (selector or {}).get("matchExpressions") or []:
        key, values = expr["key"], ",".join(sorted(expr.get("values") or []))
        parts.append((key, {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                            "Exists": key, "DoesNotExist": f"!{key}"}[expr["operator"]]))
    return ",".join(text for _key, text in sorted(parts)) or "<none>"  # sorted by key, as labels.Selector is
