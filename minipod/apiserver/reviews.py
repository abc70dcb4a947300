"""authorization.k8s.io/v1 SelfSubjectAccessReview and
SelfSubjectRulesReview: what `kubectl auth can-i` asks. minipod's API has
one user, the admin of its kubeconfig (a client certificate of its own
CA, as kubeadm's admin.conf is system:masters): it may do everything, and
the answers say so, as an RBAC-enabled cluster answers its admin."""

from minipod.apiserver.status import APIError

KINDS = ("SelfSubjectAccessReview", "SelfSubjectRulesReview")
REASON = "minipod's API has one user, its admin (system:masters): every request is allowed"


def review(kind: str, body) -> dict:
    """The review ``body`` asked for, with its status filled in (never stored)."""
    if not isinstance(body, dict) or body.get("kind") not in (None, kind):
        raise APIError(400, f"the body must be a {kind}")
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise APIError(422, f'{kind}.authorization.k8s.io "" is invalid: spec: Required value', "Invalid")
    out = {"kind": kind, "apiVersion": "authorization.k8s.io/v1",
           "metadata": {"creationTimestamp": None}, "spec": spec}
    if kind == "SelfSubjectAccessReview":
        if not spec.get("resourceAttributes") and not spec.get("nonResourceAttributes"):
            raise APIError(422, 'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: '
                                "Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be "
                                "specified", "Invalid")
        out["status"] = {"allowed": True, "reason": REASON}
    else:
        out["status"] = {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                         "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}
    return out
