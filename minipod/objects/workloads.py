"""Schemas and semantic checks of the workload kinds: v1 Pod and apps/v1
Deployment (the Pod spec subset minipod realises, plus the fields the API
server fills in, so that `kubectl get -o yaml` output applies unchanged)."""

import hashlib
import json

from minipod.objects.schema import (METADATA, Field, dns_label, fail, iana_svc_name, in_range, labels, one_of,
                                    port_number_or_name)

# minipod's own names for what it makes from a Pod: "<pod>" in namespace
# default (where `minipod pod create` pods live too), "<ns>_<pod>" elsewhere
# ('_' is never in a Kubernetes name), and "<pod>_<container>".
MAX_LOCAL_NAME = 63
TEMPLATE_HASH_LABEL = "pod-template-hash"


def local_pod_name(namespace: str, name: str) -> str:
    return name if namespace == "default" else f"{namespace}_{name}"


def local_container_name(pod_name: str, container: str) -> str:
    """One rule in every namespace: <namespace>_<pod>_<container> (the kubelet's
    docker names carry the namespace too). ``pod_name`` is the local pod name;
    Kubernetes names never hold "_", so one without it is in default."""
    qualified = pod_name if "_" in pod_name else f"default_{pod_name}"
    return f"{qualified}_{container}"


def _empty(value):
    return None if not value else "minipod cannot honour this (only an empty value is accepted)"


def _int_or_percent(value):
    """A rolling update's IntOrString: a count, or a percent ("25%")."""
    if isinstance(value, bool) or not (isinstance(value, int) and value >= 0 or isinstance(value, str) and
                                       value.endswith("%") and value[:-1].isdigit() and int(value[:-1]) <= 100):
        return f"Invalid value: {value!r}: must be a count (0 or more) or a percent (\"25%\")"
    return None


def _false(value):
    return None if value is False else "minipod cannot honour true here"


ENV_VAR = {"name": Field("str", True), "value": Field("str"),
           "valueFrom": Field("any", False, lambda v: "minipod does not support valueFrom; use value")}
PORT = {"containerPort": Field("int", True, in_range(1, 65535)), "name": Field("str", False, iana_svc_name),
        "protocol": Field("str", False, one_of("TCP", "UDP", "SCTP")),
        "hostPort": Field("int", False, in_range(1, 65535)), "hostIP": Field("str")}
VOLUME_MOUNT = {"name": Field("str", True), "mountPath": Field("str", True), "readOnly": Field("bool"),
                "subPath": Field("str"), "mountPropagation": Field("str", False, one_of("None"))}
PROBE = {
    "exec": Field({"command": Field(["str"], True)}),
    "tcpSocket": Field({"port": Field("any", True, port_number_or_name), "host": Field("str")}),
    "httpGet": Field({"port": Field("any", True, port_number_or_name), "path": Field("str"), "host": Field("str"),
                      "scheme": Field("str", False, one_of("HTTP")), "httpHeaders": Field("any", False, _empty)}),
    "initialDelaySeconds": Field("int", False, in_range(0, 3600)),
    "periodSeconds": Field("int", False, in_range(1, 3600)),
    "timeoutSeconds": Field("int", False, in_range(1, 60)),
    "successThreshold": Field("int", False, in_range(1, 100)),
    "failureThreshold": Field("int", False, in_range(1, 100)),
}
CONTAINER = {
    "name": Field("str", True, dns_label), "image": Field("str", True),
    "command": Field(["str"]), "args": Field(["str"]), "env": Field([ENV_VAR]), "ports": Field([PORT]),
    "workingDir": Field("str"), "volumeMounts": Field([VOLUME_MOUNT]), "readinessProbe": Field(PROBE),
    "imagePullPolicy": Field("str", False, one_of("Always", "IfNotPresent", "Never")),
    # What the API server fills in; minipod does the same anyway.
    "resources": Field("any", False, _empty), "terminationMessagePath": Field("str"),
    "terminationMessagePolicy": Field("str", False, one_of("File", "FallbackToLogsOnError")),
    # A terminal (tty) and stdin held open for `kubectl attach` / `run -it` (minipod/conmon/tty.py).
    "stdin": Field("bool"), "stdinOnce": Field("bool"), "tty": Field("bool"),
}
KEY_TO_PATH = {"key": Field("str", True), "path": Field("str", True), "mode": Field("int")}
VOLUME = {
    "name": Field("str", True, dns_label),
    "emptyDir": Field({"medium": Field("str", False, one_of("", "Memory")), "sizeLimit": Field("any")}),
    "hostPath": Field({"path": Field("str", True), "type": Field("str", False, one_of(
        "", "Directory", "DirectoryOrCreate", "File", "FileOrCreate"))}),
    "configMap": Field({"name": Field("str", True), "items": Field([KEY_TO_PATH]),
                        "defaultMode": Field("int", False, in_range(0, 0o777)), "optional": Field("bool")}),
}
POD_SPEC = {
    "containers": Field([CONTAINER], True),
    "restartPolicy": Field("str", False, one_of("Always", "OnFailure", "Never")),
    "hostNetwork": Field("bool"), "volumes": Field([VOLUME]),
    "terminationGracePeriodSeconds": Field("int", False, in_range(0, 3600)),
    "dnsPolicy": Field("str", False, one_of("ClusterFirst", "Default", "ClusterFirstWithHostNet")),
    "schedulerName": Field("str", False, one_of("default-scheduler")), "securityContext": Field("any", False, _empty),
    "enableServiceLinks": Field("bool"), "nodeName": Field("str"), "serviceAccount": Field("str"),
    "serviceAccountName": Field("str"), "preemptionPolicy": Field("str"), "priority": Field("int"),
    "tolerations": Field("any"), "shareProcessNamespace": Field("bool"),
}
TEMPLATE_METADATA = {"labels": Field("map", False, labels), "annotations": Field("map"),
                     "name": Field("str"), "creationTimestamp": Field("any")}
DEPLOYMENT_SPEC = {
    "replicas": Field("int", False, in_range(0, 1000)),
    "selector": Field({"matchLabels": Field("map", False, labels),
                       "matchExpressions": Field("any", False, _empty)}, True),
    "template": Field({"metadata": Field(TEMPLATE_METADATA), "spec": Field(POD_SPEC, True)}, True),
    "strategy": Field({"type": Field("str", False, one_of("RollingUpdate")), "rollingUpdate": Field(
        {"maxSurge": Field("any", False, _int_or_percent), "maxUnavailable": Field("any", False, _int_or_percent)})}),
    "revisionHistoryLimit": Field("int", False, in_range(0, 1000)), "progressDeadlineSeconds": Field("int"),
    "minReadySeconds": Field("int", False, in_range(0, 0)), "paused": Field("bool"),
}
REPLICASET_SPEC = {k: DEPLOYMENT_SPEC[k] for k in ("replicas", "selector", "template", "minReadySeconds")}
POD_FIELDS = {"spec": Field(POD_SPEC, True)}
DEPLOYMENT_FIELDS = {"spec": Field(DEPLOYMENT_SPEC, True)}
REPLICASET_FIELDS = {"spec": Field(REPLICASET_SPEC, True)}
METADATA_KEYS = METADATA  # re-exported for kinds.py


def check_pod_spec(spec: dict, path: str, local_pod: str) -> None:
    """What the schema cannot say: unique names, mounts naming volumes,
    and minipod's names for the pod's containers fitting 63 characters."""
    volumes = [v["name"] for v in spec.get("volumes", [])]
    for i, v in enumerate(spec.get("volumes", [])):
        sources = [k for k in ("emptyDir", "hostPath", "configMap") if k in v]
        if len(sources) != 1:
            fail(f"{path}.volumes[{i}]", "must have exactly one of emptyDir, hostPath, configMap")
        if volumes.count(v["name"]) > 1:
            fail(f"{path}.volumes[{i}].name", f"Duplicate value: {v['name']!r}")
        if "hostPath" in v and not v["hostPath"]["path"].startswith("/"):
            fail(f"{path}.volumes[{i}].hostPath.path", "must be an absolute path")
    names = [c["name"] for c in spec["containers"]]
    for i, c in enumerate(spec["containers"]):
        where = f"{path}.containers[{i}]"
        if names.count(c["name"]) > 1:
            fail(f"{where}.name", f"Duplicate value: {c['name']!r}")
        if len(local_container_name(local_pod, c["name"])) > MAX_LOCAL_NAME:
            fail(f"{where}.name", f"minipod names the container {local_container_name(local_pod, c['name'])}, "
                                  f"which must be at most {MAX_LOCAL_NAME} characters")
        ports = [p.get("name") for p in c.get("ports", []) if p.get("name")]
        for j, p in enumerate(c.get("ports", [])):
            if p.get("name") and ports.count(p["name"]) > 1:
                fail(f"{where}.ports[{j}].name", f"Duplicate value: {p['name']!r}")
        targets = [m["mountPath"] for m in c.get("volumeMounts", [])]
        for j, m in enumerate(c.get("volumeMounts", [])):
            if m["name"] not in volumes:
                fail(f"{where}.volumeMounts[{j}].name", f"Not found: {m['name']!r}")
            if not m["mountPath"].startswith("/") or m["mountPath"].rstrip("/") == "":
                fail(f"{where}.volumeMounts[{j}].mountPath", "must be an absolute path other than /")
            if targets.count(m["mountPath"]) > 1:
                fail(f"{where}.volumeMounts[{j}].mountPath", "must be unique")
            sub = m.get("subPath", "")
            if sub.startswith("/") or ".." in sub.split("/"):
                fail(f"{where}.volumeMounts[{j}].subPath", "must be a relative path without '..'")
        probe = c.get("readinessProbe")
        if probe is not None and len([k for k in ("exec", "tcpSocket", "httpGet") if k in probe]) != 1:
            fail(f"{where}.readinessProbe", "must have exactly one of exec, tcpSocket, httpGet")
        if c.get("workingDir") and not c["workingDir"].startswith("/"):
            fail(f"{where}.workingDir", "must be an absolute path")
        for j, e in enumerate(c.get("env", [])):
            if "=" in e["name"] or not e["name"]:
                fail(f"{where}.env[{j}].name", "must be a C identifier-like name without '='")


def check_pod(obj: dict) -> None:
    meta = obj["metadata"]
    local = local_pod_name(meta.get("namespace") or "default", meta["name"])
    if len(local) > MAX_LOCAL_NAME:
        fail("metadata.name", f"minipod names this pod {local!r}, which must be at most {MAX_LOCAL_NAME} characters")
    check_pod_spec(obj["spec"], "spec", local)


def template_hash(template: dict) -> str:
    """A stable 10-character hash of a pod template (Kubernetes uses FNV of
    the template; any stable hash serves: it only names the generation)."""
    raw = json.dumps(template, sort_keys=True).encode()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' SafeEncodeString alphabet
    number = int.from_bytes(hashlib.sha256(raw).digest()[:8], "big")
    out = ""
    for _ in range(10):
        number, digit = divmod(number, len(alphabet))
        out += alphabet[digit]
    return out


def check_deployment(obj: dict) -> None:
    """A Deployment's (and a ReplicaSet's): a selector its template's labels
    match, and names of its pods that fit."""
    spec, meta = obj["spec"], obj["metadata"]
    match = spec["selector"].get("matchLabels") or {}
    if not match:
        fail("spec.selector", f"Invalid value: empty selector is invalid for {obj.get('kind', 'deployment').lower()}")
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    if str(rolling.get("maxSurge", 1)) in ("0", "0%") and str(rolling.get("maxUnavailable", 1)) in ("0", "0%"):
        fail("spec.strategy.rollingUpdate.maxUnavailable", "Invalid value: 0: may not be 0 when `maxSurge` is 0")
    tpl_labels = (spec["template"].get("metadata") or {}).get("labels") or {}
    if any(tpl_labels.get(k) != v for k, v in match.items()):
        fail("spec.template.metadata.labels", "Invalid value: `selector` does not match template `labels`")
    pod_name = f"{meta['name']}-{'x' * 10}-{'x' * 5}"
    local = local_pod_name(meta.get("namespace") or "default", pod_name)
    if len(local) > MAX_LOCAL_NAME:
        fail("metadata.name", f"too long: minipod names its pods like {local!r}, at most {MAX_LOCAL_NAME} characters")
    check_pod_spec(spec["template"]["spec"], "spec.template.spec", local)
