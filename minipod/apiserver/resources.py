"""The API's resources: every kind of the object store, plus Node (the node
itself), Event (what the agent recorded) and EndpointSlice (the
Endpoints, as discovery.k8s.io/v1 shows them), as the discovery documents
list them: group, version, plural, singular, short names, verbs,
subresources. Both the legacy discovery documents (APIVersions,
APIGroupList, APIResourceList) and the aggregated ones that current
kubectl asks for first (apidiscovery.k8s.io/v2 and v2beta1)."""

from dataclasses import dataclass

from minipod.objects import kinds

RW = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
RO = ["get", "list", "watch"]


@dataclass(frozen=True)
class Resource:
    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool
    short: tuple
    verbs: tuple
    subresources: tuple = ()  # (name, kind, verbs)
    stored: object = None  # the objects.kinds.Kind, or None for Node and Event

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()


def _of(kind: kinds.Kind, subresources=(), api_version=None) -> Resource:
    group, _, version = (api_version or kind.api_version).rpartition("/")
    short = tuple(s for s in kind.short if s not in (kind.kind.lower(), kind.plural))
    return Resource(kind.kind, group, version, kind.plural, kind.namespaced, short, tuple(RW), subresources, kind)


def _custom(kind: kinds.Kind) -> list:
    """A custom resource at every version its CRD serves (the storage
    version first: the group's preferred one), with the status
    subresource where the CRD has it."""
    status = () if kind is kinds.REFERENCE_GRANT else (("status", kind.kind, ("get", "patch", "update")),)
    return [_of(kind, status, v) for v in kind.versions()]


POD_SUBRESOURCES = (("log", "Pod", ("get",)), ("exec", "PodExecOptions", ("create", "get")),
                    ("attach", "PodAttachOptions", ("create", "get")),
                    ("portforward", "PodPortForwardOptions", ("create", "get")),
                    ("status", "Pod", ("get", "patch", "update")))
RESOURCES = [
    _of(kinds.NAMESPACE, (("status", "Namespace", ("get", "patch", "update")),)),
    _of(kinds.CONFIGMAP),
    _of(kinds.POD, POD_SUBRESOURCES),
    _of(kinds.SERVICE, (("status", "Service", ("get", "patch", "update")),)),
    _of(kinds.ENDPOINTS),
    _of(kinds.SECRET),
    Resource("Node", "", "v1", "nodes", False, ("no",), tuple(RO), (("status", "Node", ("get",)),)),
    Resource("Event", "", "v1", "events", True, ("ev",), tuple(RO)),
    _of(kinds.DEPLOYMENT, (("scale", "Scale", ("get", "patch", "update")),
                           ("status", "Deployment", ("get", "patch", "update")))),
    _of(kinds.REPLICASET, (("scale", "Scale", ("get", "patch", "update")),
                           ("status", "ReplicaSet", ("get", "patch", "update")))),
    _of(kinds.INGRESS, (("status", "Ingress", ("get", "patch", "update")),)),
    _of(kinds.NETWORK_POLICY),
    Resource("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices", True, (), tuple(RO)),
    Resource("SelfSubjectAccessReview", "authorization.k8s.io", "v1", "selfsubjectaccessreviews", False, (),
             ("create",)),
    Resource("SelfSubjectRulesReview", "authorization.k8s.io", "v1", "selfsubjectrulesreviews", False, (),
             ("create",)),
    Resource("PodMetrics", "metrics.k8s.io", "v1beta1", "pods", True, (), ("get", "list")),
    Resource("NodeMetrics", "metrics.k8s.io", "v1beta1", "nodes", False, (), ("get", "list")),
    *_custom(kinds.GATEWAY_CLASS), *_custom(kinds.GATEWAY), *_custom(kinds.HTTP_ROUTE), *_custom(kinds.REFERENCE_GRANT),
]
GROUPS = {}  # group -> [versions]
for _r in RESOURCES:
    GROUPS.setdefault(_r.group, [])
    if _r.version not in GROUPS[_r.group]:
        GROUPS[_r.group].append(_r.version)
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
CATEGORIES = {"Pod": ["all"], "Service": ["all"], "Deployment": ["all"], "GatewayClass": ["gateway-api"],
              "Gateway": ["gateway-api"], "HTTPRoute": ["gateway-api"], "ReferenceGrant": ["gateway-api"]}


def find(group: str, version: str, plural: str):
    return BY_PATH.get((group, version, plural))


def _resource_entry(r: Resource) -> list:
    out = [{"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": list(r.verbs), **({"shortNames": list(r.short)} if r.short else {}),
            **({"categories": CATEGORIES[r.kind]} if r.kind in CATEGORIES else {})}]
    for name, kind, verbs in r.subresources:
        entry = {"name": f"{r.plural}/{name}", "singularName": "", "namespaced": r.namespaced, "kind": kind,
                 "verbs": list(verbs)}
        if kind == "Scale":
            entry.update(group="autoscaling", version="v1")
        out.append(entry)
    return out


def resource_list(group: str, version: str) -> dict:
    """/api/v1 or /apis/GROUP/VERSION: an APIResourceList."""
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": [e for r in RESOURCES if (r.group, r.version) == (group, version)
                          for e in _resource_entry(r)]}


def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(group: str) -> dict:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in GROUPS[group]]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def group_list() -> dict:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g) for g in GROUPS if g]}


def group(name: str):
    if not name or name not in GROUPS:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def aggregated(legacy: bool, version: str) -> dict:
    """The aggregated discovery document of /api (legacy) or /apis:
    APIGroupDiscoveryList of apidiscovery.k8s.io/VERSION (v2 or v2beta1)."""
    items = []
    for g, versions in GROUPS.items():
        if (g == "") != legacy:
            continue
        vs = []
        for v in versions:
            res = []
            for r in RESOURCES:
                if (r.group, r.version) != (g, v):
                    continue
                entry = {"resource": r.plural, "responseKind": {"group": r.group, "version": r.version,
                                                                 "kind": r.kind},
                         "scope": "Namespaced" if r.namespaced else "Cluster", "singularResource": r.singular,
                         "verbs": list(r.verbs), **({"shortNames": list(r.short)} if r.short else {}),
                         **({"categories": CATEGORIES[r.kind]} if r.kind in CATEGORIES else {}),
                         "subresources": []}
                for name, kind, verbs in r.subresources:
                    gvk = {"group": "autoscaling", "version": "v1", "kind": kind} if kind == "Scale" else \
                        {"group": r.group, "version": r.version, "kind": kind}
                    entry["subresources"].append({"subresource": name, "responseKind": gvk, "verbs": list(verbs)})
                res.append(entry)
            vs.append({"version": v, "resources": res, "freshness": "Current"})
        items.append({"metadata": {"name": g, "creationTimestamp": None}, "versions": vs})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {}, "items": items}
