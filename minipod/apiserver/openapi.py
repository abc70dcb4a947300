"""OpenAPI documents generated from minipod's own schema engine (the
Field tables of minipod.objects), so that what `kubectl explain` shows and
what the server refuses are one table: /openapi/v3 (the index, then one
document per group-version, what kubectl ≥ 1.27 reads for explain and to
learn that the server validates fields itself) and /openapi/v2 (JSON).

Nested objects become named components with the Kubernetes type names
(PodSpec, Container, ContainerPort, …) where minipod's table is the same
part of the type, else a name made from the parent's."""

import hashlib
import json

from minipod.apiserver import resources
from minipod.apiserver.status import APIError
from minipod.objects import kinds
from minipod.objects.schema import METADATA

META_NAME = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
PACKAGES = {"": "io.k8s.api.core.v1", "apps": "io.k8s.api.apps.v1", "networking.k8s.io": "io.k8s.api.networking.v1",
            "discovery.k8s.io": "io.k8s.api.discovery.v1", "authorization.k8s.io": "io.k8s.api.authorization.v1",
            "metrics.k8s.io": "io.k8s.metrics.pkg.apis.metrics.v1beta1"}
# (parent type, field) -> the Kubernetes type's name
TYPE_NAMES = {
    ("Pod", "spec"): "PodSpec", ("PodSpec", "containers"): "Container", ("Container", "ports"): "ContainerPort",
    ("Container", "env"): "EnvVar", ("Container", "volumeMounts"): "VolumeMount",
    ("Container", "readinessProbe"): "Probe", ("Probe", "exec"): "ExecAction",
    ("Probe", "tcpSocket"): "TCPSocketAction", ("Probe", "httpGet"): "HTTPGetAction", ("PodSpec", "volumes"): "Volume",
    ("Volume", "emptyDir"): "EmptyDirVolumeSource", ("Volume", "hostPath"): "HostPathVolumeSource",
    ("Volume", "configMap"): "ConfigMapVolumeSource", ("ConfigMapVolumeSource", "items"): "KeyToPath",
    ("Deployment", "spec"): "DeploymentSpec", ("DeploymentSpec", "selector"): "LabelSelector",
    ("DeploymentSpec", "template"): "PodTemplateSpec", ("DeploymentSpec", "strategy"): "DeploymentStrategy",
    ("DeploymentStrategy", "rollingUpdate"): "RollingUpdateDeployment",
    ("ReplicaSet", "spec"): "ReplicaSetSpec", ("ReplicaSetSpec", "selector"): "LabelSelector",
    ("ReplicaSetSpec", "template"): "PodTemplateSpec",
    ("PodTemplateSpec", "metadata"): "TemplateObjectMeta",
    ("Service", "spec"): "ServiceSpec", ("ServiceSpec", "ports"): "ServicePort",
    ("Endpoints", "subsets"): "EndpointSubset", ("EndpointSubset", "addresses"): "EndpointAddress",
    ("EndpointSubset", "notReadyAddresses"): "EndpointAddress", ("EndpointSubset", "ports"): "EndpointPort",
    ("Ingress", "spec"): "IngressSpec", ("IngressSpec", "rules"): "IngressRule", ("IngressSpec", "tls"): "IngressTLS",
    ("IngressSpec", "defaultBackend"): "IngressBackend", ("IngressRule", "http"): "HTTPIngressRuleValue",
    ("HTTPIngressRuleValue", "paths"): "HTTPIngressPath", ("HTTPIngressPath", "backend"): "IngressBackend",
    ("IngressBackend", "service"): "IngressServiceBackend", ("IngressServiceBackend", "port"): "ServiceBackendPort",
    ("Namespace", "spec"): "NamespaceSpec",
    ("NetworkPolicy", "spec"): "NetworkPolicySpec", ("NetworkPolicySpec", "podSelector"): "LabelSelector",
    ("NetworkPolicySpec", "ingress"): "NetworkPolicyIngressRule",
    ("NetworkPolicySpec", "egress"): "NetworkPolicyEgressRule",
    ("NetworkPolicyIngressRule", "from"): "NetworkPolicyPeer", ("NetworkPolicyEgressRule", "to"): "NetworkPolicyPeer",
    ("NetworkPolicyIngressRule", "ports"): "NetworkPolicyPort",
    ("NetworkPolicyEgressRule", "ports"): "NetworkPolicyPort",
    ("NetworkPolicyPeer", "ipBlock"): "IPBlock", ("LabelSelector", "matchExpressions"): "LabelSelectorRequirement",
}
DESCRIPTIONS = {
    "Pod": "Pod is a collection of containers that can run on a host. minipod runs it as a pause process "
           "holding the pod's namespaces, its network from CNI, and one container per spec.containers entry.",
    "Container": "A single application container that you want to run within a pod.",
    "PodSpec": "PodSpec is a description of a pod (the part of it that minipod realises).",
    "Deployment": "Deployment enables declarative updates for Pods and ReplicaSets.",
    "ReplicaSet": "ReplicaSet ensures that a specified number of pod replicas are running at any given time.",
    "Service": "Service is a named abstraction of software service (for example, mysql) consisting of local port "
               "(for example 3306) that the proxy listens on, and the selector that determines which pods will "
               "answer requests sent through the proxy.",
    "Ingress": "Ingress is a collection of rules that allow inbound connections to reach the endpoints defined "
               "by a backend.",
    "ConfigMap": "ConfigMap holds configuration data for pods to consume.",
    "Secret": "Secret holds secret data of a certain type.",
    "Namespace": "Namespace provides a scope for Names.",
    "Endpoints": "Endpoints is a collection of endpoints that implement the actual service.",
    "NetworkPolicy": "NetworkPolicy describes what network traffic is allowed for a set of Pods. minipod enforces "
                     "it in the kernel: iptables chains and ipsets, or an nftables table (docs/networkpolicy.md).",
}
SCALAR = {"str": {"type": "string"}, "int": {"type": "integer", "format": "int32"}, "bool": {"type": "boolean"},
          "map": {"type": "object", "additionalProperties": {"type": "string", "default": ""}},
          "any": {"x-kubernetes-preserve-unknown-fields": True}}
MERGE = {"containers": "name", "env": "name", "volumes": "name", "volumeMounts": "mountPath", "ports": None}


class _Builder:
    def __init__(self, package: str):
        self.package = package
        self.schemas = {}
        self.names = {}  # id(field table) -> component name

    def ref(self, name: str) -> dict:
        return {"allOf": [{"$ref": f"#/components/schemas/{name}"}], "default": {}}

    def component(self, table: dict, type_name: str) -> str:
        if id(table) in self.names:
            return self.names[id(table)]
        name = f"{self.package}.{type_name}"
        while name in self.schemas:
            name += "X"
        self.names[id(table)] = name
        self.schemas[name] = {}  # reserved (recursion)
        props, required = {}, []
        for field, spec in table.items():
            props[field] = self.field(spec.kind, type_name, field)
            if spec.required:
                required.append(field)
        out = {"type": "object", "properties": props, "description": DESCRIPTIONS.get(type_name, "")}
        if required:
            out["required"] = required
        self.schemas[name] = out
        return name

    def field(self, kind, parent: str, field: str) -> dict:
        if isinstance(kind, dict):
            if kind is METADATA or field == "metadata" and parent != "PodTemplateSpec":
                return self.ref(META_NAME)
            return self.ref(self.component(kind, TYPE_NAMES.get((parent, field), parent + field[:1].upper() + field[1:])))
        if isinstance(kind, list):
            item = kind[0]
            out = {"type": "array", "items": self.field(item, parent, field)}
            if isinstance(item, dict):
                key = ("containerPort" if parent == "Container" else "port") if field == "ports" else MERGE.get(field)
                if key:
                    out.update({"x-kubernetes-patch-merge-key": key, "x-kubernetes-patch-strategy": "merge",
                                "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key]})
                else:
                    out["x-kubernetes-list-type"] = "atomic"
            return out
        return dict(SCALAR.get(kind, SCALAR["any"]))


def _meta_schema() -> dict:
    props = {f: dict(SCALAR.get(spec.kind, SCALAR["any"])) if not isinstance(spec.kind, list) else
             {"type": "array", "items": {"type": "string", "default": ""}} for f, spec in METADATA.items()}
    return {"type": "object", "properties": props,
            "description": "ObjectMeta is metadata that all persisted resources must have."}


def _gvk(r) -> list:
    return [{"group": r.group, "kind": r.kind, "version": r.version}]


def _operations(r) -> dict:
    """The paths of one resource, with their operations marked by GVK and
    the query parameters kubectl looks for (fieldValidation)."""
    base = f"/api/{r.version}" if not r.group else f"/apis/{r.group}/{r.version}"
    coll = f"{base}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{base}/{r.plural}"
    one = f"{coll}/{{name}}"
    params = [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True},
               "description": "Strict: unknown or duplicate fields are refused."},
              {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
              {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}}]
    ref = {"$ref": f"#/components/schemas/{_type_name(r)}"}
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}

    def op(verb, action, with_params=False):
        out = {"operationId": f"{verb}{r.kind}", "x-kubernetes-action": action,
               "x-kubernetes-group-version-kind": _gvk(r)[0], "responses": ok}
        if with_params:
            out["parameters"] = params
        return out
    paths = {coll: {"get": op("list", "list")}, one: {"get": op("read", "get")}} if "get" in r.verbs else {}
    if "create" in r.verbs:
        paths.setdefault(coll, {})["post"] = op("create", "post", True)
    if "update" in r.verbs:
        paths[one].update(put=op("replace", "put", True), patch=op("patch", "patch", True),
                          delete=op("delete", "delete"))
    return paths


def _type_name(r) -> str:
    """The component's name, as the API server names it: a built-in kind's
    Go package, a custom resource's group reversed (io.k8s.networking.gateway.v1.Gateway)."""
    if r.stored is not None and r.stored.crd:
        return ".".join(reversed(r.group.split("."))) + f".{r.version}.{r.kind}"
    return f"{PACKAGES[r.group]}.{r.kind}"


def _custom_schema(r) -> dict:
    """A custom resource's schema: its CRD's, with metadata the ObjectMeta
    component (as the API server publishes CRD schemas)."""
    from minipod.objects import crd
    schema = json.loads(json.dumps(crd.version(r.kind, r.version)["schema"]))
    schema["properties"]["metadata"] = {"allOf": [{"$ref": f"#/components/schemas/{META_NAME}"}],
                                        "description": "Standard object's metadata."}
    schema["x-kubernetes-group-version-kind"] = _gvk(r)
    return schema


def group_version_doc(group: str, version: str) -> dict:
    builder = _Builder(PACKAGES.get(group, f"io.k8s.api.{group}.{version}"))
    builder.schemas[META_NAME] = _meta_schema()
    paths = {}
    for r in resources.RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        if r.stored is not None and r.stored.crd:
            builder.schemas[_type_name(r)] = _custom_schema(r)
            paths.update(_operations(r))
            continue
        if r.stored is not None:
            table = kinds.schema(r.stored)
        else:
            table = {"apiVersion": kinds.schema(kinds.CONFIGMAP)["apiVersion"],
                     "kind": kinds.schema(kinds.CONFIGMAP)["kind"], "metadata": kinds.schema(kinds.CONFIGMAP)["metadata"]}
        name = builder.component(table, r.kind)
        builder.schemas[name]["x-kubernetes-group-version-kind"] = _gvk(r)
        paths.update(_operations(r))
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths,
            "components": {"schemas": builder.schemas}}


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


_cache = {}
_v2_protobuf = None


def _doc(group, version) -> bytes:
    key = (group, version)
    if key not in _cache:
        _cache[key] = json.dumps(group_version_doc(group, version), separators=(",", ":")).encode()
    return _cache[key]


def index() -> dict:
    out = {}
    for g, versions in resources.GROUPS.items():
        for v in versions:
            digest = hashlib.sha512(_doc(g, v)).hexdigest()[:64].upper()
            out[_gv_path(g, v)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash={digest}"}
    return {"paths": out}


def swagger_v2() -> dict:
    """/openapi/v2 as JSON: every group-version's definitions in one
    document (what OpenAPI v2 clients read)."""
    definitions, paths = {}, {}
    for g, versions in resources.GROUPS.items():
        for v in versions:
            doc = json.loads(_doc(g, v))
            for name, schema in doc["components"]["schemas"].items():
                definitions[name] = json.loads(json.dumps(schema).replace("#/components/schemas/", "#/definitions/"))
            for p, ops in doc["paths"].items():
                paths[p] = {verb: {k: val for k, val in o.items() if k != "responses"} |
                            {"responses": {"200": {"description": "OK"}}} for verb, o in ops.items()}
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths,
            "definitions": definitions}


def _v2_schema(pb, schema: dict):
    """One JSON schema as gnostic's OpenAPIv2 Schema message."""
    import yaml
    out = pb.Schema()
    refs = [s["$ref"] for s in schema.get("allOf", []) if "$ref" in s]
    if "$ref" in schema or refs:
        out._ref = (schema.get("$ref") or refs[0]).replace("#/components/schemas/", "#/definitions/")
    if schema.get("description"):
        out.description = schema["description"]
    if schema.get("format"):
        out.format = schema["format"]
    if schema.get("type"):
        out.type.value.append(schema["type"])
    out.required.extend(schema.get("required", []))
    if "items" in schema:
        out.items.schema.append(_v2_schema(pb, schema["items"]))
    if isinstance(schema.get("additionalProperties"), dict):
        out.additional_properties.schema.CopyFrom(_v2_schema(pb, schema["additionalProperties"]))
    for name, prop in (schema.get("properties") or {}).items():
        out.properties.additional_properties.add(name=name, value=_v2_schema(pb, prop))
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") and key != "x-kubernetes-validations":  # CEL is not in OpenAPI v2
            out.vendor_extension.add(name=key, value=pb.Any(yaml=yaml.safe_dump(value)))
    return out


def swagger_v2_protobuf() -> bytes:
    """/openapi/v2 as kubectl 1.20 asks for it: gnostic's OpenAPIv2
    Document in protobuf (application/com.github.proto-openapi.spec.v2@v1.0+protobuf)."""
    from github.com.googleapis.gnostic.openapiv2 import OpenAPIv2_pb2 as pb
    doc = swagger_v2()
    out = pb.Document(swagger="2.0")
    out.info.title, out.info.version = doc["info"]["title"], doc["info"]["version"]
    for name, schema in doc["definitions"].items():
        out.definitions.additional_properties.add(name=name, value=_v2_schema(pb, schema))
    for path, ops in doc["paths"].items():
        out.paths.path.add(name=path, value=_v2_path_item(pb, ops))
    return out.SerializeToString()


def _v2_path_item(pb, ops: dict):
    """One path's operations as gnostic's PathItem: their GVK and query
    parameters, which is what kubectl 1.20 reads of them (a PATCH with a
    dryRun parameter is how it learns that a kind supports --dry-run=server
    and `kubectl diff`)."""
    import yaml
    item = pb.PathItem()
    for verb, o in ops.items():
        op = getattr(item, verb)
        op.operation_id = o["operationId"]
        for key in ("x-kubernetes-action", "x-kubernetes-group-version-kind"):
            if key in o:
                op.vendor_extension.add(name=key, value=pb.Any(yaml=yaml.safe_dump(o[key])))
        for param in o.get("parameters", []):
            query = op.parameters.add().parameter.non_body_parameter.query_parameter_sub_schema
            setattr(query, "in", "query")
            query.name, query.type, query.unique_items = param["name"], "string", True
            query.description = param.get("description", "")
    return item


async def serve(request, parts: list):
    from aiohttp import web
    if parts == ["v3"]:
        return web.json_response(index())
    if parts[:1] == ["v3"]:
        wanted = "/".join(parts[1:])
        for g, versions in resources.GROUPS.items():
            for v in versions:
                if _gv_path(g, v) == wanted:
                    return web.Response(body=_doc(g, v), content_type="application/json")
    if parts == ["v2"]:
        if "protobuf" in request.headers.get("Accept", "").split(",")[0]:
            global _v2_protobuf
            if _v2_protobuf is None:
                try:
                    _v2_protobuf = swagger_v2_protobuf()
                except ImportError:
                    raise APIError(406, "OpenAPI v2 in protobuf needs the messages compiled at set-up time "
                                        "(scripts/setup-protos)", "NotAcceptable") from None
            return web.Response(body=_v2_protobuf, content_type="application/octet-stream")
        return web.json_response(swagger_v2())
    raise APIError(404, "the server could not find the requested resource")
