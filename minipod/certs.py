"""X.509 certificates as a Kubernetes cluster's are made (kubeadm's
shapes): an ECDSA P-256 key each, a CA, server certificates naming their
addresses, client certificates whose CN and O are the user and group the
API server authenticates. Used by minipod's own API server
(apiserver/pki.py) and by the clusters `minipod cluster` brings up
(cluster/pki.py). The ``cryptography`` library does the work."""

import datetime
import ipaddress
import os


def write_private(path, data: bytes) -> None:
    """Write a file readable by root only (keys and certificates alike)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def new_key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())


def pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def certificate(subject, key, issuer_name, issuer_key, days, ca=False, server_names=(), client=False):
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


def name(cn, org=None):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    attrs = ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []) + \
        [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    return x509.Name(attrs)


def pem(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return cert.public_bytes(serialization.Encoding.PEM)


def pem_public(key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load(stem):
    """(certificate, key) of a CA kept as <stem>.crt and <stem>.key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    return (x509.load_pem_x509_certificate(stem.with_name(stem.name + ".crt").read_bytes()),
            serialization.load_pem_private_key(stem.with_name(stem.name + ".key").read_bytes(), None))


def kubeconfig(cluster: str, server: str, ca: bytes, user: str, cert: bytes = None, key: bytes = None,
               token: str = None, cert_file: str = None) -> dict:
    """A kubeconfig of one cluster, user and context (named ``cluster``), its
    certificates inline as kind and kubeadm write them; the user has a
    client certificate and key, or a bearer ``token``, or a file holding
    both certificate and key that another process renews (``cert_file``:
    the kubelet's kubelet-client-current.pem)."""
    import base64

    def b64(data):
        return base64.b64encode(data).decode()
    if token:
        creds = {"token": token}
    elif cert_file:
        creds = {"client-certificate": cert_file, "client-key": cert_file}
    else:
        creds = {"client-certificate-data": b64(cert), "client-key-data": b64(key)}
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": b64(ca)}}],
        "users": [{"name": user, "user": creds}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
    }
