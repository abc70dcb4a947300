"""Request bodies in Kubernetes' protobuf encoding, which kubectl's typed
clients send (`kubectl create deployment|namespace|configmap|secret`,
`expose`, `run`): the magic "k8s\\0", a runtime.Unknown holding the
apiVersion, the kind and the object's own message. The messages are
those of Debian's Kubernetes source (generated.proto), compiled at set-up
time by protoc (scripts/setup-protos); this turns one into the JSON the
API's JSON clients send, so both go through the same validation.

Go's protobuf marshalling writes every non-pointer field, even empty: empty
strings, zero numbers, false and empty objects are taken as unset (as
JSON's omitempty leaves them out), but for the few pointer fields where a
zero means something (replicas) and the volume sources whose presence is
their meaning (emptyDir: {})."""

import base64
import datetime
import importlib

from minipod.apiserver.status import APIError

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
PACKAGES = {"v1": "k8s.io.api.core.v1", "apps/v1": "k8s.io.api.apps.v1",
            "networking.k8s.io/v1": "k8s.io.api.networking.v1",
            "authorization.k8s.io/v1": "k8s.io.api.authorization.v1"}
KEEP_ZERO = {"replicas", "terminationGracePeriodSeconds", "revisionHistoryLimit", "progressDeadlineSeconds",
             "activeDeadlineSeconds"}
KEEP_EMPTY = {"emptyDir"}
META = "k8s.io.apimachinery.pkg.apis.meta.v1"


def _module(package: str):
    try:
        return importlib.import_module(package + ".generated_pb2")
    except ImportError:
        raise APIError(415, "protobuf bodies need the Kubernetes messages compiled at set-up time "
                            "(scripts/setup-protos); send application/json") from None


def _time(msg) -> str:
    if not msg.seconds:
        return None
    return datetime.datetime.fromtimestamp(msg.seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _value(field, value):
    from google.protobuf.descriptor import FieldDescriptor
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _message(value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode()
    return value


def _empty(value) -> bool:
    return value in ("", 0, False, None, {}, []) and value is not True


def _message(msg):
    """One message as the JSON Go's encoding/json would write for it."""
    name = msg.DESCRIPTOR.full_name
    if name == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        return msg.strVal if msg.type == 1 else msg.intVal
    if name == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return msg.string
    if name in (f"{META}.Time", f"{META}.MicroTime"):
        return _time(msg)
    if name == f"{META}.Duration":
        return f"{msg.duration / 1e9:g}s"
    if name == "k8s.io.apimachinery.pkg.runtime.RawExtension":
        import json
        return json.loads(msg.raw) if msg.raw else None
    out = {}
    for field, value in msg.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            vfield = field.message_type.fields_by_name["value"]
            out[field.name] = {k: _value(vfield, v) for k, v in value.items()}
        elif field.is_repeated:
            out[field.name] = [_value(field, v) for v in value]
        else:
            out[field.name] = _value(field, value)
        v = out[field.name]
        if _empty(v) and not (field.name in KEEP_ZERO and v == 0) and not (field.name in KEEP_EMPTY and v == {}):
            del out[field.name]
    return out


def decode(body: bytes) -> dict:
    """A protobuf request body as a JSON object (apiVersion and kind first)."""
    if not body.startswith(MAGIC):
        raise APIError(400, "a protobuf body must start with the k8s magic number")
    runtime = _module("k8s.io.apimachinery.pkg.runtime")
    from google.protobuf.message import DecodeError
    unknown = runtime.Unknown()
    try:
        unknown.ParseFromString(body[len(MAGIC):])
    except DecodeError as e:
        raise APIError(400, f"the protobuf body cannot be decoded: {e}") from None
    api_version, kind = unknown.typeMeta.apiVersion, unknown.typeMeta.kind
    package = PACKAGES.get(api_version)
    cls = getattr(_module(package), kind, None) if package else None
    if cls is None:
        raise APIError(415, f"no protobuf message for {kind} in {api_version!r}; send application/json")
    obj = cls()
    try:
        obj.ParseFromString(unknown.raw)
    except DecodeError as e:
        raise APIError(400, f"the protobuf body cannot be decoded: {e}") from None
    return {"apiVersion": api_version, "kind": kind, **_message(obj)}
