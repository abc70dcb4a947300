"""The API's certificates, as kubeadm makes a cluster's: a CA made on first
use, a server certificate for the API's names and addresses, and an admin
client certificate (CN admin, O system:masters) in a kubeconfig that only
root can read.

    <config root>/pki/{ca,apiserver,admin}.{crt,key}
    <config root>/admin.kubeconfig
"""

import socket

from minipod import certs, paths
from minipod.certs import certificate, name, new_key, pem, pem_key, write_private

CLUSTER = "minipod"
USER = "minipod-admin"


def pki_dir():
    return paths.config_root() / "pki"


def kubeconfig_path():
    return paths.config_root() / "admin.kubeconfig"


def server_names(address: str) -> list:
    """What the server certificate names: loopback, localhost, the node's
    name, the kubernetes Service's names, and the address it listens on."""
    names = ["127.0.0.1", "localhost", socket.gethostname(), "kubernetes", "kubernetes.default",
             "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
    if address not in names and address not in ("0.0.0.0", "::"):
        names.append(address)
    return names


def ensure(address: str) -> dict:
    """Make what is missing (the CA once; the server certificate again when
    the names it must carry change); return the paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    d = pki_dir()
    files = {n: d / n for n in ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key")}
    if not (files["ca.crt"].exists() and files["ca.key"].exists()):
        key = new_key()
        cert = certificate(name("minipod-ca"), key, name("minipod-ca"), key, 3650, ca=True)
        write_private(files["ca.key"], pem_key(key))
        write_private(files["ca.crt"], pem(cert))
        for n in ("apiserver.crt", "admin.crt"):
            files[n].unlink(missing_ok=True)  # signed by an older CA
    ca_key = serialization.load_pem_private_key(files["ca.key"].read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(files["ca.crt"].read_bytes())
    names = server_names(address)
    if files["apiserver.crt"].exists():
        have = x509.load_pem_x509_certificate(files["apiserver.crt"].read_bytes())
        alt = have.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        shown = {str(v) for v in alt.get_values_for_type(x509.IPAddress)} | \
            set(alt.get_values_for_type(x509.DNSName))
        if not set(names) <= shown:
            files["apiserver.crt"].unlink()
    if not files["apiserver.crt"].exists():
        key = new_key()
        cert = certificate(name("kube-apiserver"), key, ca_cert.subject, ca_key, 365, server_names=names)
        write_private(files["apiserver.key"], pem_key(key))
        write_private(files["apiserver.crt"], pem(cert))
    if not files["admin.crt"].exists():
        key = new_key()
        cert = certificate(name("kubernetes-admin", "system:masters"), key, ca_cert.subject, ca_key, 365,
                            client=True)
        write_private(files["admin.key"], pem_key(key))
        write_private(files["admin.crt"], pem(cert))
    return files


def kubeconfig(server: str, files: dict) -> dict:
    """The admin kubeconfig, its certificates inline (as kind and kubeadm write it)."""
    return certs.kubeconfig(CLUSTER, server, files["ca.crt"].read_bytes(), USER, files["admin.crt"].read_bytes(),
                            files["admin.key"].read_bytes())


def write_kubeconfig(server: str, files: dict) -> dict:
    import yaml
    config = kubeconfig(server, files)
    write_private(kubeconfig_path(), yaml.safe_dump(config, sort_keys=False).encode())
    return config
