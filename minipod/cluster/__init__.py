"""A real Kubernetes cluster whose nodes run their pods on minipod.

`minipod cluster init` brings up the control plane on this machine (Debian's
etcd, and kube-apiserver, kube-controller-manager and kube-scheduler built
from Debian's kubernetes source by scripts/build-kubernetes) and makes the
machine a node of it; `minipod cluster join` makes another machine a node;
`minipod cluster down` takes down what this machine runs of it. A node is
the real kubelet and the real kube-proxy, the kubelet's container runtime
being minipod's CRI server: every pod of the cluster on this node is a
minipod pod (pause, the node's CNI network), as `minipod pod ls` shows.

As kind's cluster creation does, each of these is a list of small named
actions run in order and reported one by one (controlplane.py, node.py);
nodes join as kubeadm's do, with a bootstrap token and the CA's public key
hash (bootstrap.py), their kubelets getting their own client certificates
through the API (TLS bootstrapping).

Where things are: certificates and kubeconfigs under <config root>/cluster,
etcd's data, the kubelet's root and the components' logs under
<lib root>/cluster, their pid files under <run root>/cluster. Ports are the
components' usual ones, all moved by MINIPOD_CLUSTER_PORT_OFFSET (the test
suite's, so that it never meets a user's cluster)."""

import json
import os
import shutil
from pathlib import Path

from minipod import paths
from minipod.errors import MinipodError

VERSION = "v1.20.2"  # what scripts/build-kubernetes builds from Debian 12's kubernetes source
BUILD_DIR = "/var/cache/minipod/k8s-build/bin-1.20.2"
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")

PORTS = {"etcd-client": 2379, "etcd-peer": 2380, "apiserver": 6443, "controller-manager": 10257,
         "scheduler": 10259, "kubelet": 10250, "kube-proxy-metrics": 10249, "kube-proxy-healthz": 10256,
         "ingress-http": 80, "ingress-https": 443}

DEFAULTS = {"service_cidr": "10.96.0.0/12", "cluster_cidr": "10.244.0.0/16", "dns_domain": "cluster.local"}


def port(name: str) -> int:
    return PORTS[name] + int(os.environ.get("MINIPOD_CLUSTER_PORT_OFFSET") or 0)


def config_dir() -> Path:
    """Certificates and kubeconfigs."""
    return paths.config_root() / "cluster"


def pki_dir() -> Path:
    return config_dir() / "pki"


def data_dir() -> Path:
    """etcd's data, the kubelet's root, the components' logs."""
    return paths.lib_root() / "cluster"


def kubelet_dir() -> Path:
    """The kubelet's root on a node (its certificates, pods, plugins)."""
    return data_dir() / "kubelet"


def kubelet_client_cert() -> str:
    """The node's credentials (certificate and key in one file), which its
    own processes (network agent, ingress controller) use as the kubelet does."""
    return str(kubelet_dir() / "pki" / "kubelet-client-current.pem")


def manifests_dir() -> Path:
    """The kubelet's static pods (kubeadm's /etc/kubernetes/manifests)."""
    return config_dir() / "manifests"


def run_dir() -> Path:
    return paths.run_root() / "cluster"


def admin_kubeconfig() -> Path:
    return config_dir() / "admin.kubeconfig"


def binary(name: str) -> str:
    """The path of a Kubernetes component: MINIPOD_K8S_BIN (a directory),
    else what scripts/build-kubernetes built, else PATH."""
    for directory in (os.environ.get("MINIPOD_K8S_BIN"), BUILD_DIR):
        if directory and os.access(os.path.join(directory, name), os.X_OK):
            return os.path.join(directory, name)
    found = shutil.which(name)
    if found:
        return found
    raise MinipodError(f"{name} not found: build it with `scripts/build-kubernetes {name}` "
                       f"(or set MINIPOD_K8S_BIN to the directory that holds it)")


def etcd_binary() -> str:
    found = shutil.which("etcd") or ("/usr/bin/etcd" if os.access("/usr/bin/etcd", os.X_OK) else None)
    if not found:
        raise MinipodError("etcd not found: install Debian's etcd-server (apt-get install etcd-server; "
                           "scripts/setup-cluster does it)")
    return found


def settings_path() -> Path:
    return data_dir() / "cluster.json"


def settings() -> dict:
    """What this machine runs of a cluster ({} when nothing): its role(s),
    server, node name and address, the cluster's ranges."""
    try:
        return json.loads(settings_path().read_text())
    except FileNotFoundError:
        return {}


def save_settings(values: dict) -> None:
    from minipod import state
    data_dir().mkdir(parents=True, exist_ok=True)
    state.write_json(settings_path(), values, mode=0o600)


def remove_files() -> None:
    """This machine's cluster configuration, data and run files, all of them
    (what `cluster down` ends with, and a failed first join)."""
    for directory in (config_dir(), data_dir(), run_dir()):
        shutil.rmtree(directory, ignore_errors=True)
