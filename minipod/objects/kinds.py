"""The kinds `minipod apply` knows: apiVersion, names kubectl uses for
them, whether they live in a namespace, and their schema."""

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

KINDS = {k.kind: k for k in (NAMESPACE, CONFIGMAP, POD, DEPLOYMENT, REPLICASET, SERVICE, ENDPOINTS, INGRESS, SECRET,
                              NETWORK_POLICY)}
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
