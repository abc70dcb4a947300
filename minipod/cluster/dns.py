"""The cluster's DNS, in kube-dns's role, on the control plane's machine:
`python -m minipod.cluster.dns`, started by `minipod cluster init`.

A real DNS server (dnsmasq, as minipod's own cluster DNS) listens on the
control plane's address, port 53, with records for every Service of the
cluster (<service>.<namespace>.svc.cluster.local: the ClusterIP, or a
headless Service's ready pod addresses; SRV records for named ports), the
same rendering as minipod.roles.clusterdns. The cluster reaches it as Kubernetes
does: the Service kube-system/kube-dns on the range's tenth address
(10.96.0.10 by default, the kubelets' --cluster-dns), whose Endpoints name
this address, so kube-proxy on every node carries a pod's query there.

Every 2 seconds it reads the Services and Endpoints from kube-apiserver
(with the admin's certificate) and restarts dnsmasq when a record changed.
"""

import ipaddress
import signal
import sys
import threading

from minipod.roles import clusterdns
from minipod.cluster import data_dir, pki_dir, settings
from minipod.cluster.client import Client

INTERVAL = 2.0


def directory():
    return data_dir() / "dns"


def dns_ip(service_cidr: str) -> str:
    """The range's tenth address (kubeadm's 10.96.0.10)."""
    return str(ipaddress.ip_network(service_cidr)[10])


def objects(address: str, service_cidr: str) -> list:
    """(collection path, object) of the kube-dns Service and its Endpoints."""
    ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
    meta = {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}}
    return [("/api/v1/namespaces/kube-system/services",
             {"apiVersion": "v1", "kind": "Service", "metadata": meta,
              "spec": {"clusterIP": dns_ip(service_cidr), "ports": [{**p, "targetPort": 53} for p in ports]}}),
            ("/api/v1/namespaces/kube-system/endpoints",
             {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta,
              "subsets": [{"addresses": [{"ip": address}], "ports": ports}]})]


def client(server: str) -> Client:
    d = pki_dir()
    return Client(server, ca_file=str(d / "ca.crt"), cert_file=str(d / "admin.crt"), key_file=str(d / "admin.key"))


def sync(api: Client, address: str) -> bool:
    services = api.get("/api/v1/services")["items"]
    endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e
                 for e in api.get("/api/v1/endpoints")["items"]}
    text = clusterdns.render(services, endpoints, address, clusterdns.resolvers())
    return clusterdns.serve(text, directory())


def main() -> int:
    cfg = settings()
    api = client(cfg["server"])
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    try:
        while not done.is_set():
            try:
                if sync(api, cfg["address"]):
                    print("cluster DNS: dnsmasq (re)started", flush=True)
            except Exception as e:  # noqa: BLE001  (the API may be restarting: try again next round)
                print(f"cluster DNS: {e}", flush=True)
            done.wait(INTERVAL)
    finally:
        clusterdns.stop(directory())
    return 0


if __name__ == "__main__":
    sys.exit(main())
