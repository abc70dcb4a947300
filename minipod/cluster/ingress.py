"""A cluster node's ingress controller, in ingress-nginx's role as it runs
on bare metal (a DaemonSet on the host network): `python -m
minipod.cluster.ingress`, started by `minipod cluster join` on every node.

nginx is a real pod of the node: the static pod (the kubelet's manifests
directory) ingress-nginx/ingress-nginx-controller-<node> from the `nginx`
image, on the node's network, listening on port 80 of every address of the
node (MINIPOD_CLUSTER_PORT_OFFSET moves it, as the other ports). Every 2
seconds this process reads the Ingresses, Services and Endpoints from
kube-apiserver with the kubelet's credentials (bootstrap.py grants the
Ingress part), renders nginx's configuration as minipod's own controller
does (minipod.roles.ingress.render: one server per host, the upstreams are the
endpoints' pod IPs on whichever node they run, which the pod network
across nodes carries) and, when it changed, has nginx check it (`nginx -t`
inside the pod) before it reloads it (SIGHUP); a refused configuration
leaves the last good one serving. So a request to any node's address
reaches a pod on any node, the way ingress-nginx's does.

Each Ingress's status lists the addresses of the nodes whose nginx is
ready (`kubectl get ingress` shows them), as ingress-nginx publishes them;
every node computes the same list, so they agree. TLS Secrets are not
served on a cluster node (their hosts answer on port 80 only). On SIGTERM
the static pod's manifest goes, and with it, through the kubelet, nginx.
"""

import sys

import yaml

from minipod.cluster import (bootstrap, config_dir, data_dir, kubelet_client_cert, manifests_dir, port, processes,
                             settings)
from minipod.cluster.client import Client
from minipod.cluster.events import NodeEvents

INTERVAL = 2.0
NAMESPACE = bootstrap.INGRESS_NAMESPACE
POD = "ingress-nginx-controller"
LABELS = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
GROUP = "/apis/networking.k8s.io/v1"


def directory():
    """nginx's configuration on this node, mounted into the pod."""
    return data_dir() / "ingress"


def manifest_path():
    return manifests_dir() / f"{POD}.yaml"


def ports() -> tuple:
    return port("ingress-http"), port("ingress-https")


def static_pod() -> dict:
    from minipod.roles.ingress import controller
    http, https = ports()
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": POD, "namespace": NAMESPACE, "labels": dict(LABELS)},
            "spec": {"hostNetwork": True, "terminationGracePeriodSeconds": 2,
                     "volumes": [{"name": "conf", "hostPath": {"path": str(directory()), "type": "Directory"}}],
                     "containers": [{
                         "name": "controller", "image": controller.IMAGE, "imagePullPolicy": "Never",
                         "command": ["nginx", "-c", f"{controller.MOUNT}/nginx.conf", "-g", "daemon off;"],
                         "ports": [{"containerPort": http, "name": "http"}, {"containerPort": https, "name": "https"}],
                         # Listening means started: only then can a SIGHUP reload it.
                         "readinessProbe": {"tcpSocket": {"port": http}, "periodSeconds": 1},
                         "volumeMounts": [{"name": "conf", "mountPath": controller.MOUNT, "readOnly": True}]}]}}


def _ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


class Controller:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.api = Client(cfg["server"], ca_file=str(config_dir() / "ca.crt"), cert_file=kubelet_client_cert())

    def log(self, text: str) -> None:
        print(text, flush=True)

    def setup(self) -> None:
        from minipod.roles.ingress import controller, render
        directory().mkdir(parents=True, exist_ok=True)
        # nginx starts with the configuration of no Ingress (404 for every request) until the first pass
        controller.sync(render.render([], {}, {}, {}, ports()), None, self.log, "no ingresses", directory())
        manifest_path().write_text(yaml.safe_dump(static_pod(), sort_keys=False))

    def _items(self, path: str) -> list:
        return self.api.get(path)["items"]

    def _nginx(self, pods: list):
        """The container record of this node's nginx once the kubelet has
        found it ready, else None."""
        from minipod.core import container
        mine = [p for p in pods if p.get("spec", {}).get("nodeName") == self.cfg["node_name"] and _ready(p)]
        ids = {s.get("containerID", "").split("://")[-1] for p in mine
               for s in p.get("status", {}).get("containerStatuses", []) if s.get("name") == "controller"}
        return next((r for r in container.list_containers() if r["id"] in ids and r["status"] == "running"), None)

    def sync(self) -> None:
        from minipod.roles.ingress import controller, health, render
        ingresses = [o for o in self._items(f"{GROUP}/ingresses") if health.ours(o)]
        services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in self._items("/api/v1/services")}
        endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e
                     for e in self._items("/api/v1/endpoints")}
        pods = self._items(f"/api/v1/namespaces/{NAMESPACE}/pods"
                           "?labelSelector=app.kubernetes.io/component%3Dcontroller")
        text = render.render(ingresses, services, endpoints, {}, ports())
        controller.sync(text, self._nginx(pods), self.log, f"{len(ingresses)} ingresses", directory())
        self._publish_status(ingresses, sorted({p["status"]["hostIP"] for p in pods
                                                if _ready(p) and p.get("status", {}).get("hostIP")}))

    def _publish_status(self, ingresses: list, addresses: list) -> None:
        """status.loadBalancer: the addresses of the nodes whose nginx is
        ready. A write that lost a race (another node's) is dropped: the
        next pass looks again."""
        wanted = {"loadBalancer": {"ingress": [{"ip": a} for a in addresses]} if addresses else {}}
        for obj in ingresses:
            if (obj.get("status") or {"loadBalancer": {}}) == wanted:
                continue
            meta = obj["metadata"]
            self.api.request("PUT", f"{GROUP}/namespaces/{meta['namespace']}/ingresses/{meta['name']}/status",
                             {**obj, "status": wanted})

    def teardown(self) -> None:
        manifest_path().unlink(missing_ok=True)


def main() -> int:
    ctl = Controller(settings())
    return processes.run_passes(ctl, "ingress", INTERVAL, events=NodeEvents(
        ctl.api, ctl.cfg["node_name"], "minipod-ingress", "FailedToSyncIngressController"))


if __name__ == "__main__":
    sys.exit(main())
