"""The cluster's certificates and kubeconfigs, as kubeadm lays them out
(<config root>/cluster/pki): one CA; the API server's serving certificate
(its address, the first Service address, kubernetes.default.svc...); the
client certificates the API server and the components authenticate with,
their CN and O being the user and group RBAC knows (kubernetes-admin in
system:masters, system:kube-controller-manager, system:kube-scheduler,
kube-apiserver-kubelet-client); the service accounts' signing key pair.
The nodes' kubelets get their client certificates from the API itself
(TLS bootstrapping), so nothing here is made per node."""

import base64
import hashlib
import ipaddress
import socket

from minipod import certs
from minipod.cluster import admin_kubeconfig, config_dir, pki_dir

CLUSTER = "kubernetes"
# (file name, CN, O) of each client certificate
CLIENTS = (("admin", "kubernetes-admin", "system:masters"),
           ("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"),
           ("controller-manager", "system:kube-controller-manager", None),
           ("scheduler", "system:kube-scheduler", None))


def first_service_ip(service_cidr: str) -> str:
    """The `kubernetes` Service's ClusterIP: the range's first address."""
    return str(next(ipaddress.ip_network(service_cidr).hosts()))


def server_names(address: str, service_cidr: str, dns_domain: str) -> list:
    return ["127.0.0.1", "localhost", address, first_service_ip(service_cidr), socket.gethostname(), "kubernetes",
            "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{dns_domain}"]


def ensure(address: str, service_cidr: str, dns_domain: str) -> None:
    """Make every certificate and key the control plane needs that is not there yet."""
    d = pki_dir()
    if not (d / "ca.crt").exists():
        key = certs.new_key()
        cert = certs.certificate(certs.name("kubernetes"), key, certs.name("kubernetes"), key, 3650, ca=True)
        certs.write_private(d / "ca.key", certs.pem_key(key))
        certs.write_private(d / "ca.crt", certs.pem(cert))
    ca_cert, ca_key = certs.load(d / "ca")
    if not (d / "apiserver.crt").exists():
        key = certs.new_key()
        cert = certs.certificate(certs.name("kube-apiserver"), key, ca_cert.subject, ca_key, 365,
                                 server_names=server_names(address, service_cidr, dns_domain))
        certs.write_private(d / "apiserver.key", certs.pem_key(key))
        certs.write_private(d / "apiserver.crt", certs.pem(cert))
    for file, cn, org in CLIENTS:
        if not (d / f"{file}.crt").exists():
            key = certs.new_key()
            cert = certs.certificate(certs.name(cn, org), key, ca_cert.subject, ca_key, 365, client=True)
            certs.write_private(d / f"{file}.key", certs.pem_key(key))
            certs.write_private(d / f"{file}.crt", certs.pem(cert))
    if not (d / "sa.key").exists():
        key = certs.new_key()
        certs.write_private(d / "sa.key", certs.pem_key(key))
        certs.write_private(d / "sa.pub", certs.pem_public(key))


def client_kubeconfig(server: str, file: str) -> dict:
    """A kubeconfig for one of CLIENTS, its certificate inline."""
    d = pki_dir()
    return certs.kubeconfig(CLUSTER, server, (d / "ca.crt").read_bytes(), user=file,
                            cert=(d / f"{file}.crt").read_bytes(), key=(d / f"{file}.key").read_bytes())


USER_CONTEXT = "minipod-cluster"  # the context `cluster init` adds to the user's kubeconfig (kind's kind-kind)


def user_kubeconfig(server: str) -> dict:
    """The admin's credentials under the names the user's kubeconfig gets."""
    d = pki_dir()
    return certs.kubeconfig(USER_CONTEXT, server, (d / "ca.crt").read_bytes(), user=f"{USER_CONTEXT}-admin",
                            cert=(d / "admin.crt").read_bytes(), key=(d / "admin.key").read_bytes())


def user_entries() -> dict:
    """What user_kubeconfig adds, by name only (to take it out again)."""
    return {"clusters": [{"name": USER_CONTEXT}], "users": [{"name": f"{USER_CONTEXT}-admin"}],
            "contexts": [{"name": USER_CONTEXT}], "current-context": USER_CONTEXT}


def write_kubeconfigs(server: str) -> None:
    """admin.kubeconfig (kubectl's), controller-manager and scheduler ones."""
    import yaml
    for file in ("admin", "controller-manager", "scheduler"):
        path = admin_kubeconfig() if file == "admin" else config_dir() / f"{file}.kubeconfig"
        certs.write_private(path, yaml.safe_dump(client_kubeconfig(server, file), sort_keys=False).encode())


def ca_cert_hash(ca_pem: bytes) -> str:
    """kubeadm's pin of a CA: sha256 of its public key (DER SubjectPublicKeyInfo)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    spki = x509.load_pem_x509_certificate(ca_pem).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
