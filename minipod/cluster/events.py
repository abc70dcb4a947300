"""Warning Events of this node in the cluster's kube-apiserver, written by
the node's own processes (the network agent, the ingress controller) when a
pass fails, as the kubelet and kube-proxy report what goes wrong on their
node: `kubectl get events` on the control plane shows them, on the Node.

One Event per failure run: a pass that fails again raises its count and
lastTimestamp (as the kubelet's event correlator folds repeats), a pass
that succeeds ends the run, and the next failure starts a new Event. The
kubelet's credentials allow it (the Node authorizer's rules for events).
Writing an Event is best effort: a server away a moment must not stop the
pass that reports it."""

import datetime
import time

from minipod.cluster.client import Client, Unreachable

NAMESPACE = "default"  # where the kubelet puts the Events of its Node


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_event(node: str, component: str, reason: str, message: str) -> dict:
    """A core/v1 Event of ``node``, named as client-go's recorder names them
    (the object's name, a dot, the time in hexadecimal nanoseconds)."""
    now = _now()
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{node}.{time.time_ns():x}", "namespace": NAMESPACE},
            "involvedObject": {"apiVersion": "v1", "kind": "Node", "name": node, "uid": node},
            "reason": reason, "message": message, "type": "Warning", "count": 1,
            "firstTimestamp": now, "lastTimestamp": now,
            "source": {"component": component, "host": node},
            "reportingComponent": component, "reportingInstance": node}


class NodeEvents:
    """The failure runs of one component of one node."""

    def __init__(self, api: Client, node: str, component: str, reason: str):
        self.api, self.node, self.component, self.reason = api, node, component, reason
        self.current = None  # the Event of the failure run under way

    def failed(self, message: str) -> None:
        try:
            if self.current is not None:
                again = {**self.current, "message": message, "count": self.current.get("count", 1) + 1,
                         "lastTimestamp": _now()}
                status, body = self.api.request(
                    "PUT", f"/api/v1/namespaces/{NAMESPACE}/events/{again['metadata']['name']}", again)
                if status == 200:
                    self.current = body
                    return
            status, body = self.api.request("POST", f"/api/v1/namespaces/{NAMESPACE}/events",
                                            new_event(self.node, self.component, self.reason, message))
            self.current = body if status == 201 else None
        except Unreachable:
            self.current = None

    def recovered(self) -> None:
        self.current = None
