"""How nodes join, as kubeadm's do (the objects are kubeadm's own):

- kube-public/cluster-info, readable without credentials: the API server's
  address and CA. A joining node reads it over an unverified connection,
  then trusts it only if the CA's public key hash is the one it was given
  (`--ca-cert-hash sha256:...`, printed by `minipod cluster token`).
- kube-public/minipod-cluster, readable the same way: the ranges a node
  needs (Service range, pod range, DNS) so that joining takes no more flags.
- A bootstrap token (Secret bootstrap-token-<id> in kube-system): the
  kubelet authenticates with it as system:bootstrap:<id> in group
  system:bootstrappers, asks for a client certificate (a CSR), which the
  controller-manager approves (the bindings below) and signs; from then on
  the kubelet is system:node:<name> in system:nodes.
- kube-proxy runs on each node with the kubelet's credentials, so
  system:nodes is bound to system:node-proxier as well; and every node's
  ingress controller reads the Ingresses with them (minipod:ingress-nginx)."""

import datetime
import secrets
import string

from minipod.cluster import pki

TOKEN_ALPHABET = string.ascii_lowercase + string.digits
PUBLIC = ("cluster-info", "minipod-cluster")
INGRESS_NAMESPACE = "ingress-nginx"


def new_token() -> str:
    """ID.SECRET: 6 and 16 characters of [a-z0-9], a bootstrap token's form."""
    return (''.join(secrets.choice(TOKEN_ALPHABET) for _ in range(6)) + "." +
            ''.join(secrets.choice(TOKEN_ALPHABET) for _ in range(16)))


def valid_token(token: str) -> bool:
    import re
    return bool(re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", token))


def token_secret(token: str, ttl_hours: int = 24) -> dict:
    token_id, token_secret_part = token.split(".")
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=ttl_hours)
    return {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
            "stringData": {"token-id": token_id, "token-secret": token_secret_part,
                           "expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
                           "description": "made by minipod cluster for nodes to join"}}


def _binding(name: str, role: str, group: str = None, user: str = None, namespace: str = None) -> dict:
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    subject = {"kind": "Group", "name": group} if group else {"kind": "User", "name": user}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role" if namespace else "ClusterRole",
                        "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", **subject}]}


def objects(server: str, ca_pem: bytes, network: dict) -> list:
    """(collection path, object) of everything joining needs, in order."""
    import yaml
    public_kubeconfig = {"apiVersion": "v1", "kind": "Config",
                         "clusters": [{"name": "", "cluster": {"server": server,
                                                               "certificate-authority-data": pki.b64(ca_pem)}}],
                         "contexts": [], "users": [], "current-context": ""}
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    return [
        ("/api/v1/namespaces/kube-public/configmaps",
         {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info", "namespace": "kube-public"},
          "data": {"kubeconfig": yaml.safe_dump(public_kubeconfig, sort_keys=False)}}),
        ("/api/v1/namespaces/kube-public/configmaps",
         {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "minipod-cluster", "namespace": "kube-public"},
          "data": {k: str(v) for k, v in network.items()}}),
        (f"{rbac}/namespaces/kube-public/roles",
         {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
          "metadata": {"name": "kubeadm:bootstrap-signer-clusterinfo", "namespace": "kube-public"},
          "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": list(PUBLIC),
                     "verbs": ["get"]}]}),
        (f"{rbac}/namespaces/kube-public/rolebindings",
         _binding("kubeadm:bootstrap-signer-clusterinfo", "kubeadm:bootstrap-signer-clusterinfo",
                  user="system:anonymous", namespace="kube-public")),
        (f"{rbac}/clusterrolebindings",
         _binding("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", group="system:bootstrappers")),
        (f"{rbac}/clusterrolebindings",
         _binding("kubeadm:node-autoapprove-bootstrap",
                  "system:certificates.k8s.io:certificatesigningrequests:nodeclient", group="system:bootstrappers")),
        (f"{rbac}/clusterrolebindings",
         _binding("kubeadm:node-autoapprove-certificate-rotation",
                  "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", group="system:nodes")),
        (f"{rbac}/clusterrolebindings", _binding("minipod:node-proxier", "system:node-proxier", group="system:nodes")),
        # every node's ingress controller (ingress.py) reads the Ingresses with the kubelet's credentials and
        # publishes their addresses: ingress-nginx's ClusterRole, its Ingress part (Services and Endpoints
        # come with system:node-proxier; TLS Secrets are not served on a cluster node, so none are read)
        ("/api/v1/namespaces",
         {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": INGRESS_NAMESPACE}}),
        (f"{rbac}/clusterroles",
         {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
          "metadata": {"name": "minipod:ingress-nginx"},
          "rules": [{"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "ingressclasses"],
                     "verbs": ["get", "list", "watch"]},
                    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"], "verbs": ["update"]}]}),
        (f"{rbac}/clusterrolebindings",
         _binding("minipod:ingress-nginx", "minipod:ingress-nginx", group="system:nodes")),
        # every node's policy controller (netpol.py) reads the policies and the namespaces' labels with the
        # kubelet's credentials, as kube-router's ClusterRole grants them (pods the node authorizer allows)
        (f"{rbac}/clusterroles",
         {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
          "metadata": {"name": "minipod:netpol"},
          "rules": [{"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
                     "verbs": ["get", "list", "watch"]},
                    {"apiGroups": [""], "resources": ["namespaces", "pods"], "verbs": ["get", "list", "watch"]}]}),
        (f"{rbac}/clusterrolebindings", _binding("minipod:netpol", "minipod:netpol", group="system:nodes")),
    ]
