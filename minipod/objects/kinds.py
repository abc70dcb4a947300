"""The kinds `minipod apply` knows: apiVersion, names kubectl uses for
them, whether they live in a namespace, and their schema.

The Gateway API's kinds are custom resources: their schema is their CRD's
(objects/crd.py), served at every version the CRD serves (``served``),
stored at its storage version (``api_version``). Their names are written
here, not read from the CRDs, so that the CLI's hot path reads no
schema; tests/unit/test_crd_schema.py checks that the two agree."""

from dataclasses import dataclass

from minipod.objects import ingresses, policies, services, workloads
from minipod.objects.schema import METADATA, Field, dns_label


@dataclass(frozen=True)
class Kind:
    kind: str
    api_version: str
    plural: str
    short: tuple
    namespaced: bool
    spec: dict  # top-level fields besides apiVersion, kind, metadata, status
    served: tuple = ()  # a custom resource's served versions (storage first); () for a built-in kind

    @property
    def crd(self) -> bool:
        return bool(self.served)

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def versions(self) -> list:
        """Every apiVersion the kind is served at, the stored one first."""
        if not self.served:
            return [self.api_version]
        return [f"{self.group}/{v}" for v in self.served]


def _namespace_name(value):
    return dns_label(value)


NAMESPACE = Kind("Namespace", "v1", "namespaces", ("ns", "namespace"), False,
                 {"spec": Field({"finalizers": Field(["str"])})})
CONFIGMAP = Kind("ConfigMap", "v1", "configmaps", ("cm", "configmap"), True,
                 {"data": Field("map"), "binaryData": Field("map"), "immutable": Field("bool")})

POD = Kind("Pod", "v1", "pods", ("po", "pod"), True, workloads.POD_FIELDS)
DEPLOYMENT = Kind("Deployment", "apps/v1", "deployments", ("deploy", "deployment"), True,
                  workloads.DEPLOYMENT_FIELDS)
REPLICASET = Kind("ReplicaSet", "apps/v1", "replicasets", ("rs", "replicaset"), True, workloads.REPLICASET_FIELDS)

SERVICE = Kind("Service", "v1", "services", ("svc", "service"), True, services.SERVICE_FIELDS)
ENDPOINTS = Kind("Endpoints", "v1", "endpoints", ("ep",), True, services.ENDPOINTS_FIELDS)

INGRESS = Kind("Ingress", "networking.k8s.io/v1", "ingresses", ("ing", "ingress"), True, ingresses.INGRESS_FIELDS)
SECRET = Kind("Secret", "v1", "secrets", ("secret",), True, ingresses.SECRET_FIELDS)
NETWORK_POLICY = Kind("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies", ("netpol", "networkpolicy"), True,
                      policies.NETWORK_POLICY_FIELDS)

GATEWAY_GROUP = "gateway.networking.k8s.io"
_CUSTOM = {"spec": Field("any")}  # checked against the CRD's schema (objects/crd.py)
GATEWAY_CLASS = Kind("GatewayClass", f"{GATEWAY_GROUP}/v1", "gatewayclasses", ("gc", "gatewayclass"), False, _CUSTOM,
                     ("v1", "v1beta1"))
GATEWAY = Kind("Gateway", f"{GATEWAY_GROUP}/v1", "gateways", ("gtw", "gateway"), True, _CUSTOM, ("v1", "v1beta1"))
HTTP_ROUTE = Kind("HTTPRoute", f"{GATEWAY_GROUP}/v1", "httproutes", ("httproute",), True, _CUSTOM,
                  ("v1", "v1beta1"))
REFERENCE_GRANT = Kind("ReferenceGrant", f"{GATEWAY_GROUP}/v1beta1", "referencegrants", ("refgrant", "referencegrant"),
                       True, _CUSTOM, ("v1beta1",))

KINDS = {k.kind: k for k in (NAMESPACE, CONFIGMAP, POD, DEPLOYMENT, REPLICASET, SERVICE, ENDPOINTS, INGRESS, SECRET,
                              NETWORK_POLICY, GATEWAY_CLASS, GATEWAY, HTTP_ROUTE, REFERENCE_GRANT)}
# Checks beyond the schema, by kind: check(obj) raises naming the field.
CHECKS = {"Pod": workloads.check_pod, "Deployment": workloads.check_deployment,
          "ReplicaSet": workloads.check_deployment,
          "Service": services.check_service, "Ingress": ingresses.check_ingress, "Secret": ingresses.check_secret,
          "NetworkPolicy": policies.check_network_policy}
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public")


def by_name(name: str) -> Kind:
    """A kind by what kubectl accepts: kind, plural or short name, any case."""
    from minipod.errors import InvalidArgument
    key = name.lower()
    for k in KINDS.values():
        if key in (k.kind.lower(), k.plural) or key in k.short:
            return k
    raise InvalidArgument(f'the server doesn\'t have a resource type "{name}" '
                          f"(minipod knows: {', '.join(sorted(k.plural for k in KINDS.values()))})")


def schema(kind: Kind) -> dict:
    meta = dict(METADATA)
    if kind.kind == "Namespace":
        meta["name"] = Field("str", True, _namespace_name)
    return {"apiVersion": Field("str", True), "kind": Field("str", True),
            "metadata": Field(meta, True), "status": Field("any"), **kind.spec}
