"""networking.k8s.io/v1 Ingress and v1 Secret (type kubernetes.io/tls, for
Ingress TLS): schemas and checks with the API server's field paths."""

import base64
import binascii
import re

from minipod.objects.schema import Field, dns_label, fail, in_range, one_of

REWRITE = "nginx.ingress.kubernetes.io/rewrite-target"
USE_REGEX = "nginx.ingress.kubernetes.io/use-regex"
_HOST_RE = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def _host(value):
    return None if _HOST_RE.fullmatch(value) and len(value) <= 253 else \
        "must be a DNS name, optionally with a leading '*.' (no IP addresses, no ports)"


BACKEND = {"service": Field({"name": Field("str", True, dns_label),
                             "port": Field({"number": Field("int", False, in_range(1, 65535)),
                                            "name": Field("str", False, dns_label)}, True)}, True)}
PATH = {"path": Field("str"), "pathType": Field("str", True, one_of("Prefix", "Exact", "ImplementationSpecific")),
        "backend": Field(BACKEND, True)}
INGRESS_SPEC = {
    "ingressClassName": Field("str"),
    "defaultBackend": Field(BACKEND),
    "tls": Field([{"hosts": Field(["str"]), "secretName": Field("str", True, dns_label)}]),
    "rules": Field([{"host": Field("str", False, _host), "http": Field({"paths": Field([PATH], True)})}]),
}
INGRESS_FIELDS = {"spec": Field(INGRESS_SPEC, True)}
SECRET_FIELDS = {"type": Field("str", False, one_of("Opaque", "kubernetes.io/tls")), "data": Field("map"),
                 "stringData": Field("map"), "immutable": Field("bool")}


def check_ingress(obj: dict) -> None:
    spec = obj["spec"]
    if not spec.get("rules") and not spec.get("defaultBackend"):
        fail("spec", "either `defaultBackend` or `rules` must be specified")
    regex = (obj["metadata"].get("annotations") or {}).get(USE_REGEX) == "true" or \
        REWRITE in (obj["metadata"].get("annotations") or {})
    for i, rule in enumerate(spec.get("rules") or []):
        for j, p in enumerate((rule.get("http") or {}).get("paths") or []):
            where = f"spec.rules[{i}].http.paths[{j}]"
            path = p.get("path", "/" if p["pathType"] != "Exact" else None)
            if path is None or not path.startswith("/"):
                fail(f"{where}.path", "must be an absolute path")
            if not regex and p["pathType"] != "ImplementationSpecific" and re.search(r"[\s{};]", path):
                fail(f"{where}.path", "must not contain whitespace, braces or ';'")
            if regex:
                try:
                    re.compile(path)
                except re.error as e:
                    fail(f"{where}.path", f"not a valid regular expression: {e}")
                if re.search(r'["\s{};]', path):
                    fail(f"{where}.path", "must not contain quotes, whitespace, braces or ';'")
            port = p["backend"]["service"]["port"]
            if ("number" in port) == ("name" in port):
                fail(f"{where}.backend.service.port", "exactly one of number and name is required")
    target = (obj["metadata"].get("annotations") or {}).get(REWRITE)
    if target is not None and (not target.startswith("/") or re.search(r'["\s{};]', target)):
        fail(f"metadata.annotations[{REWRITE}]", "must be a path such as /$1 (no quotes, spaces, braces or ';')")


def check_secret(obj: dict) -> None:
    data = obj.get("data") or {}
    for key, value in data.items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            fail(f"data[{key}]", "must be base64")
    if obj.get("type") == "kubernetes.io/tls":
        have = set(data) | set(obj.get("stringData") or {})
        for key in ("tls.crt", "tls.key"):
            if key not in have:
                fail(f"data[{key}]", "Required value (a kubernetes.io/tls secret holds tls.crt and tls.key)")


def secret_value(secret: dict, key: str) -> bytes:
    if key in (secret.get("stringData") or {}):
        return secret["stringData"][key].encode()
    return base64.b64decode((secret.get("data") or {}).get(key, ""))
