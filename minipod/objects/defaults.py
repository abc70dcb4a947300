"""What the API server fills in when a writer leaves it out (its
defaulting), for every write, by the CLI and the HTTP API alike: so that
`get -o yaml` and `kubectl describe` show what minipod actually does
(a Service's TCP and targetPort, a Deployment's strategy: 25% max surge,
25% max unavailable). Pure: the Deployment controller compares templates
with their defaults, as the API server stores them."""


def pod_spec(spec: dict) -> None:
    """A pod spec's defaults (a Pod's, or a template's), in place."""
    _pod_spec(spec)


def _pod_spec(spec: dict) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for c in spec.get("containers", []):
        image = c.get("image", "")
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        for p in c.get("ports", []):
            p.setdefault("protocol", "TCP")


def _service(obj: dict) -> None:
    spec = obj["spec"]
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for p in spec.get("ports", []):
        p.setdefault("protocol", "TCP")
        p.setdefault("targetPort", p["port"])


def _deployment(obj: dict) -> None:
    spec = obj["spec"]
    spec.setdefault("replicas", 1)
    strategy = spec.get("strategy") or {}  # kubectl create deployment sends `strategy: {}`
    strategy.setdefault("type", "RollingUpdate")
    rolling = strategy.setdefault("rollingUpdate", {})
    rolling.setdefault("maxSurge", "25%")
    rolling.setdefault("maxUnavailable", "25%")
    spec["strategy"] = strategy
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _pod_spec(spec["template"]["spec"])


def apply(kind_name: str, obj: dict) -> dict:
    """``obj`` (checked) with the defaults of its kind filled in, in place."""
    if kind_name == "Pod":
        _pod_spec(obj["spec"])
    elif kind_name == "Deployment":
        _deployment(obj)
    elif kind_name == "ReplicaSet":
        obj["spec"].setdefault("replicas", 1)
        _pod_spec(obj["spec"]["template"]["spec"])
    elif kind_name == "Service":
        _service(obj)
    elif kind_name == "NetworkPolicy":
        from minipod.objects import policies
        policies.default(obj)
    elif kind_name == "Namespace":  # as the API server labels every namespace (Kubernetes ≥ 1.21)
        meta = obj["metadata"]
        meta["labels"] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": meta["name"]}
    return obj
