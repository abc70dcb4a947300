"""The API's certificates, as kubeadm makes a cluster's: a CA made on first
use, a server certificate for the API's names and addresses, and an admin
client certificate (CN admin, O system:masters) in a kubeconfig that only
root can read.

    <config root>/pki/{ca,apiserver,admin}.{crt,key}
    <config root>/admin.kubeconfig
"""

import base64
import datetime
import ipaddress
import os
import socket

from minipod import paths

CLUSTER = "minipod"
USER = "minipod-admin"


def pki_dir():
    return paths.config_root() / "pki"


def kubeconfig_path():
    return paths.config_root() / "admin.kubeconfig"


def _write(path, data: bytes) -> None:
    """Write a file readable by root only (keys and certificates alike)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _certificate(subject, key, issuer_name, issuer_key, days, ca=False, server_names=(), client=False):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_encipherment=True, key_cert_sign=False, crl_sign=False,
            content_commitment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server_names:
        alt = []
        for n in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alt.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _name(cn, org=None):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    attrs = ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []) + \
        [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    return x509.Name(attrs)


def server_names(address: str) -> list:
    """What the server certificate names: loopback, localhost, the node's
    name, the kubernetes Service's names, and the address it listens on."""
    names = ["127.0.0.1", "localhost", socket.gethostname(), "kubernetes", "kubernetes.default",
             "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
    if address not in names and address not in ("0.0.0.0", "::"):
        names.append(address)
    return names


def _pem(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return cert.public_bytes(serialization.Encoding.PEM)


def ensure(address: str) -> dict:
    """Make what is missing (the CA once; the server certificate again when
    the names it must carry change); return the paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    d = pki_dir()
    files = {n: d / n for n in ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key")}
    if not (files["ca.crt"].exists() and files["ca.key"].exists()):
        key = _key()
        cert = _certificate(_name("minipod-ca"), key, _name("minipod-ca"), key, 3650, ca=True)
        _write(files["ca.key"], _pem_key(key))
        _write(files["ca.crt"], _pem(cert))
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
        key = _key()
        cert = _certificate(_name("kube-apiserver"), key, ca_cert.subject, ca_key, 365, server_names=names)
        _write(files["apiserver.key"], _pem_key(key))
        _write(files["apiserver.crt"], _pem(cert))
    if not files["admin.crt"].exists():
        key = _key()
        cert = _certificate(_name("kubernetes-admin", "system:masters"), key, ca_cert.subject, ca_key, 365,
                            client=True)
        _write(files["admin.key"], _pem_key(key))
        _write(files["admin.crt"], _pem(cert))
    return files


def kubeconfig(server: str, files: dict) -> dict:
    """The admin kubeconfig, its certificates inline (as kind and kubeadm write it)."""
    def b64(path):
        return base64.b64encode(path.read_bytes()).decode()
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": CLUSTER, "cluster": {"server": server,
                                                   "certificate-authority-data": b64(files["ca.crt"])}}],
        "users": [{"name": USER, "user": {"client-certificate-data": b64(files["admin.crt"]),
                                          "client-key-data": b64(files["admin.key"])}}],
        "contexts": [{"name": CLUSTER, "context": {"cluster": CLUSTER, "user": USER}}],
        "current-context": CLUSTER,
    }


def write_kubeconfig(server: str, files: dict) -> dict:
    import yaml
    config = kubeconfig(server, files)
    _write(kubeconfig_path(), yaml.safe_dump(config, sort_keys=False).encode())
    return config


def merge(user_config: dict, ours: dict) -> dict:
    """``user_config`` with our cluster, user and context put in (replacing
    only entries of the same names) and made current: kubectl config's rule."""
    out = dict(user_config or {})
    out.setdefault("apiVersion", "v1")
    out.setdefault("kind", "Config")
    for section in ("clusters", "users", "contexts"):
        mine = {e["name"]: e for e in ours[section]}
        kept = [e for e in (out.get(section) or []) if e.get("name") not in mine]
        out[section] = kept + list(mine.values())
    out["current-context"] = ours["current-context"]
    return out
